//! A connection to the core for the gateways and adapters: one transport
//! (a lazily connected tonic channel balanced over replicas, or the core's
//! own services in the same process), clients of every service, and
//! requests that carry the caller's token.

use std::time::Duration;

use tonic::Status;
use tonic::body::Body;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};
use tower::{BoxError, ServiceBuilder, ServiceExt};

use crate::replicas::Target;
use crate::v1;
use crate::v1::{
    admin_service_client::AdminServiceClient, auth_service_client::AuthServiceClient,
    canned_response_service_client::CannedResponseServiceClient, event_service_client::EventServiceClient,
    message_service_client::MessageServiceClient, room_service_client::RoomServiceClient,
    team_service_client::TeamServiceClient, webhook_service_client::WebhookServiceClient,
};

/// Whatever carries gRPC requests to the core. Boxed so that the gateways
/// run the same code over the network and in the all-in-one process.
pub type Transport =
    tower::util::BoxCloneSyncService<http::Request<Body>, http::Response<Body>, TransportError>;

/// A call that failed before the core answered it (unreachable, timed
/// out). tonic turns it into a `Status` by walking `source()`, so the cause
/// decides the code (`unavailable`, `cancelled`) exactly as with a bare
/// channel. A concrete type rather than `BoxError`: the generated clients'
/// futures are only provably `Send` with one.
#[derive(Debug)]
pub struct TransportError(BoxError);

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// Clients of every core service over one transport. Cheap to clone.
#[derive(Clone)]
pub struct CoreClient {
    transport: Transport,
    /// In the all-in-one: the hot path's calls straight into the core.
    local: Option<Local>,
    /// Every subscription of this process on one stream (`feed`).
    feed: std::sync::Arc<crate::feed::Feed>,
}

/// A live event stream, whichever way it came.
pub type EventStream = std::pin::Pin<Box<dyn futures::Stream<Item = Result<v1::Event, Status>> + Send>>;

/// The calls on a WebSocket's hot path (events, sends, typing, history),
/// made by the all-in-one without gRPC framing: the same requests, token
/// and checks (the core's side authenticates exactly as its tower layer
/// does, then calls the same service methods), but values pass by move,
/// not as protobuf bytes in an HTTP body, and each event reaches its
/// session without an encode, a body frame and a decode per subscriber.
#[async_trait::async_trait]
pub trait LocalCalls: Send + Sync + 'static {
    async fn subscribe(&self, req: tonic::Request<v1::SubscribeRequest>) -> Result<EventStream, Status>;
    async fn send_message(
        &self,
        req: tonic::Request<v1::SendMessageRequest>,
    ) -> Result<v1::SendMessageResponse, Status>;
    async fn list_messages(
        &self,
        req: tonic::Request<v1::ListMessagesRequest>,
    ) -> Result<v1::ListMessagesResponse, Status>;
    async fn set_typing(&self, req: tonic::Request<v1::SetTypingRequest>) -> Result<(), Status>;
}

/// `LocalCalls` with the deadline the transport would have applied.
#[derive(Clone)]
struct Local {
    calls: std::sync::Arc<dyn LocalCalls>,
    timeout: Option<Duration>,
}

impl Local {
    async fn within<T>(&self, call: impl Future<Output = Result<T, Status>>) -> Result<T, Status> {
        match self.timeout {
            // The same code as a channel's timeout.
            Some(t) => {
                tokio::time::timeout(t, call).await.map_err(|_| Status::cancelled("Timeout expired"))?
            }
            None => call.await,
        }
    }
}

impl std::fmt::Debug for CoreClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoreClient").finish_non_exhaustive()
    }
}

impl CoreClient {
    /// Balances over every address of every URL, following DNS; connects
    /// lazily, so a gateway starts (and answers `unavailable`) while the core
    /// is down, and recovers by itself. Must be called inside a Tokio runtime.
    pub fn connect_lazy(urls: &[String], timeout: Option<Duration>) -> Result<Self, String> {
        if urls.is_empty() {
            return Err("LIVECHAT_CORE_URL is empty".into());
        }
        let targets = urls.iter().map(|u| Target::parse(u)).collect::<Result<Vec<_>, String>>()?;
        let configure = move |e: Endpoint| {
            let e = e
                .connect_timeout(Duration::from_secs(1))
                .tcp_nodelay(true)
                .http2_keep_alive_interval(Duration::from_secs(20))
                .keep_alive_while_idle(true);
            match timeout {
                Some(t) => e.timeout(t),
                None => e,
            }
        };
        // Every address of every name is one replica (see `replicas`).
        let (channel, changes) = Channel::balance_channel(64);
        let suspicion = std::sync::Arc::<crate::replicas::Suspicion>::default();
        tokio::spawn(crate::replicas::follow(targets, configure, changes, suspicion.clone()));
        let channel = channel.map_err(|e| TransportError(e.into()));
        let mut client = Self::over(RetryUnreached { inner: channel.clone(), suspicion });
        // Not through `RetryUnreached`: it holds a request's whole body, and
        // the feed's never ends. A feed that cannot reach a core fails its
        // opens, and its sessions try again.
        client.feed = std::sync::Arc::new(crate::feed::Feed::new(Transport::new(channel), timeout));
        Ok(client)
    }

    /// The core's services running in this process (the all-in-one): no
    /// socket, no HTTP/2, the same requests and the same authentication.
    /// `timeout` ends a call the way a channel's timeout does.
    pub fn in_process<S>(services: S, timeout: Option<Duration>) -> Self
    where
        S: tower::Service<http::Request<Body>, Response = http::Response<Body>>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
    {
        let services = services.map_err(|e| TransportError(e.into()));
        match timeout {
            None => Self::over(services),
            Some(t) => Self::over(
                ServiceBuilder::new()
                    .map_err(|e: BoxError| match e.downcast::<TransportError>() {
                        Ok(e) => *e,
                        // tower's Elapsed: the same code as a channel's timeout.
                        Err(_) => TransportError(Box::new(Status::cancelled("Timeout expired"))),
                    })
                    .timeout(t)
                    .service(services),
            ),
        }
    }

    fn over<S>(transport: S) -> Self
    where
        S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = TransportError>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        let transport = Transport::new(transport);
        let feed = std::sync::Arc::new(crate::feed::Feed::new(transport.clone(), None));
        Self { transport, local: None, feed }
    }

    /// The same client, with the hot path's calls made by `calls` (the
    /// all-in-one; see `LocalCalls`) under the in-process deadline.
    pub fn with_local_calls(
        mut self,
        calls: std::sync::Arc<dyn LocalCalls>,
        timeout: Option<Duration>,
    ) -> Self {
        self.local = Some(Local { calls, timeout });
        self
    }

    /// Opens the event stream of the holder of `token`: its first event is
    /// the snapshot. Over the network it is one connection of this
    /// process's feed (`EventService.Feed`); in the all-in-one, a
    /// subscription of its own, in memory.
    pub async fn subscribe(&self, token: &str) -> Result<EventStream, Status> {
        match &self.local {
            Some(l) => l.within(l.calls.subscribe(authed(v1::SubscribeRequest {}, token, None)?)).await,
            None => self.feed.subscribe(token).await,
        }
    }

    /// `MessageService.SendMessage`.
    pub async fn send_message(
        &self,
        req: tonic::Request<v1::SendMessageRequest>,
    ) -> Result<v1::SendMessageResponse, Status> {
        match &self.local {
            Some(l) => l.within(l.calls.send_message(req)).await,
            None => Ok(self.messages().send_message(req).await?.into_inner()),
        }
    }

    /// `MessageService.ListMessages`.
    pub async fn list_messages(
        &self,
        req: tonic::Request<v1::ListMessagesRequest>,
    ) -> Result<v1::ListMessagesResponse, Status> {
        match &self.local {
            Some(l) => l.within(l.calls.list_messages(req)).await,
            None => Ok(self.messages().list_messages(req).await?.into_inner()),
        }
    }

    /// `MessageService.SetTyping`.
    pub async fn set_typing(&self, req: tonic::Request<v1::SetTypingRequest>) -> Result<(), Status> {
        match &self.local {
            Some(l) => l.within(l.calls.set_typing(req)).await,
            None => self.messages().set_typing(req).await.map(drop),
        }
    }

    pub fn transport(&self) -> Transport {
        self.transport.clone()
    }
    pub fn auth(&self) -> AuthServiceClient<Transport> {
        AuthServiceClient::new(self.transport())
    }
    pub fn rooms(&self) -> RoomServiceClient<Transport> {
        RoomServiceClient::new(self.transport())
    }
    pub fn messages(&self) -> MessageServiceClient<Transport> {
        MessageServiceClient::new(self.transport())
    }
    pub fn canned(&self) -> CannedResponseServiceClient<Transport> {
        CannedResponseServiceClient::new(self.transport())
    }
    pub fn admin(&self) -> AdminServiceClient<Transport> {
        AdminServiceClient::new(self.transport())
    }
    pub fn events(&self) -> EventServiceClient<Transport> {
        EventServiceClient::new(self.transport())
    }
    pub fn team(&self) -> TeamServiceClient<Transport> {
        TeamServiceClient::new(self.transport())
    }
    pub fn webhooks(&self) -> WebhookServiceClient<Transport> {
        WebhookServiceClient::new(self.transport())
    }
}

/// Sends a call once more when the first try certainly never reached a
/// core (`error::never_reached_core`: a replica died and the balancer has
/// not noticed yet), whatever the call does: nothing of it was done. The
/// refusal makes every replica be checked at once, and the second try
/// waits (up to `REFUSED_WAIT`) for the dead one to leave the balance set,
/// so it goes to another. The request's body (one small message) is held
/// for that second try.
#[derive(Clone)]
struct RetryUnreached<S> {
    inner: S,
    suspicion: std::sync::Arc<crate::replicas::Suspicion>,
}

/// Longest a refused call waits for the balance set to change.
const REFUSED_WAIT: Duration = Duration::from_millis(300);

type CallFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<http::Response<Body>, TransportError>> + Send>>;

impl<S> tower::Service<http::Request<Body>> for RetryUnreached<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = TransportError>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = TransportError;
    type Future = CallFuture;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        // The service that was polled ready takes this call; a clone waits.
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let suspicion = self.suspicion.clone();
        Box::pin(async move {
            use http_body_util::BodyExt;
            let (parts, body) = req.into_parts();
            let body = body.collect().await.map_err(|e| TransportError(e.into()))?.to_bytes();
            let again = copy_of(&parts, body.clone());
            let first =
                inner.call(http::Request::from_parts(parts, Body::new(http_body_util::Full::new(body))));
            match first.await {
                Err(e) if crate::error::never_reached_core(&e) => {
                    metrics::counter!("livechat_core_call_retries_total").increment(1);
                    suspicion.refused(REFUSED_WAIT).await;
                    inner.ready().await?.call(again).await
                }
                answered => answered,
            }
        })
    }
}

/// The same request again (extensions aside: the transport reads none).
fn copy_of(parts: &http::request::Parts, body: bytes::Bytes) -> http::Request<Body> {
    let mut req = http::Request::new(Body::new(http_body_util::Full::new(body)));
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = parts.uri.clone();
    *req.version_mut() = parts.version;
    *req.headers_mut() = parts.headers.clone();
    req
}

/// A request that carries the caller's token (and request id) to the core,
/// which decides what the token may do.
pub fn authed<T>(msg: T, token: &str, request_id: Option<&str>) -> Result<tonic::Request<T>, Status> {
    let mut req = tonic::Request::new(msg);
    let value: MetadataValue<_> =
        format!("Bearer {token}").parse().map_err(|_| Status::unauthenticated("malformed bearer token"))?;
    req.metadata_mut().insert("authorization", value);
    if let Some(id) = request_id.and_then(|id| id.parse().ok()) {
        req.metadata_mut().insert("x-request-id", id);
    }
    Ok(req)
}

/// The metadata a gateway puts on a login to say which client address it
/// comes from (after `LIVECHAT_TRUSTED_PROXIES`); without it the core uses
/// the peer of the gRPC connection.
pub const CLIENT_ADDRESS: &str = "x-livechat-client-address";

/// A login request that says which client it comes from.
pub fn from_client<T>(msg: T, client: Option<std::net::IpAddr>) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    if let Some(value) = client.and_then(|ip| ip.to_string().parse().ok()) {
        req.metadata_mut().insert(CLIENT_ADDRESS, value);
    }
    req
}
