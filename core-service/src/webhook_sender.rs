//! The HTTP client of webhook deliveries: no redirects followed, no proxy
//! from the environment, a deadline per request, and every address
//! checked before connecting. Names are resolved here, by us, and only
//! allowed addresses are handed to the connector, so a DNS answer cannot
//! smuggle a private address past the check (and an address literal is
//! checked as it is).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ipnet::IpNet;

use crate::app::ports::{PostOutcome, WebhookPost, WebhookSender};
use crate::domain::webhook::{literal_address, may_send_to, parse_url};

/// How long an endpoint has to answer.
pub const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends deliveries with reqwest.
#[derive(Debug, Default)]
pub struct HttpWebhookSender;

/// Resolves a name and keeps only the addresses deliveries may reach.
struct CheckedResolver {
    allowed: Vec<IpNet>,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allowed = self.allowed.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept: Vec<SocketAddr> =
                found.iter().copied().filter(|a| may_send_to(a.ip(), &allowed)).collect();
            if kept.is_empty() {
                let first = found.first().map_or_else(|| "nothing".to_string(), |a| a.ip().to_string());
                return Err(refusal(&host, &first).into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}

fn refusal(host: &str, addr: &str) -> String {
    format!(
        "refused: {host} is {addr}, not a public address (an admin may allow its network in webhook_allowed_networks)"
    )
}

/// Why a request failed, in words an admin can act on (without the URL,
/// which they know, and without the chain of library types).
fn describe(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    if e.is_timeout() {
        return format!("no answer within {} s", POST_TIMEOUT.as_secs());
    }
    let mut cause: Option<&dyn std::error::Error> = e.source();
    let mut last = None;
    while let Some(c) = cause {
        last = Some(c.to_string());
        cause = c.source();
    }
    let what = if e.is_connect() { "could not connect" } else { "request failed" };
    match last {
        Some(why) if why.starts_with("refused:") => why,
        Some(why) => format!("{what}: {why}"),
        None => what.to_string(),
    }
}

#[async_trait]
impl WebhookSender for HttpWebhookSender {
    async fn post(&self, post: WebhookPost, allowed: &[IpNet]) -> PostOutcome {
        let Ok(url) = parse_url(&post.url) else {
            return PostOutcome::Failed("the endpoint's URL does not parse".into());
        };
        if let Some(addr) = literal_address(&url)
            && !may_send_to(addr, allowed)
        {
            return PostOutcome::Failed(refusal(&addr.to_string(), &addr.to_string()));
        }
        // A client per delivery: the allowed networks are part of its
        // resolver. Deliveries are few next to messages; a client costs
        // far less than the request it makes.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(POST_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("livechat-webhooks/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(CheckedResolver { allowed: allowed.to_vec() }))
            .build();
        let client = match client {
            Ok(c) => c,
            Err(e) => return PostOutcome::Failed(format!("cannot make an HTTP client: {e}")),
        };
        let mut req = client.post(url).header("content-type", "application/json").body(post.body);
        for (name, value) in post.headers {
            req = req.header(name, value);
        }
        match req.send().await {
            Ok(resp) => PostOutcome::Answered(resp.status().as_u16()),
            Err(e) => PostOutcome::Failed(describe(&e)),
        }
    }

    async fn check_target(&self, url: &url::Url, allowed: &[IpNet]) -> Result<(), String> {
        check_target(url, allowed).await
    }
}

/// Whether an address literal or name may be registered as an endpoint:
/// an address literal must be allowed; a name must not resolve (now) to
/// an address that is not. A name that does not resolve yet is accepted:
/// every delivery checks again.
async fn check_target(url: &url::Url, allowed: &[IpNet]) -> Result<(), String> {
    let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']).to_string();
    if let Some(addr) = literal_address(url) {
        return if may_send_to(addr, allowed) { Ok(()) } else { Err(refusal(&host, &addr.to_string())) };
    }
    let lookup = tokio::time::timeout(Duration::from_secs(2), tokio::net::lookup_host((host.as_str(), 0)));
    if let Ok(Ok(found)) = lookup.await {
        let found: Vec<IpAddr> = found.map(|a| a.ip()).collect();
        if let Some(bad) = found.iter().find(|a| !may_send_to(**a, allowed)) {
            return Err(refusal(&host, &bad.to_string()));
        }
    }
    Ok(())
}
