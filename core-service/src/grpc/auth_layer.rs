//! A tower layer in front of every gRPC service: it verifies the bearer
//! token (signature, expiry, revocation) once per call and hands the result
//! to the handler in the request extensions. Public calls (Login,
//! CreateRoom, health, reflection) simply don't ask for it.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use tonic::codegen::http;
use tower::{Layer, Service};

use super::status::to_status;
use crate::app::{Core, Principal};
use crate::error::CoreError;

/// What the layer found out about the caller.
#[derive(Clone)]
struct Authenticated(Result<Principal, Arc<CoreError>>);

#[derive(Clone)]
pub struct AuthLayer {
    core: Arc<Core>,
}

impl AuthLayer {
    pub fn new(core: Arc<Core>) -> Self {
        Self { core }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Authenticate<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Authenticate { inner, core: self.core.clone() }
    }
}

#[derive(Clone)]
pub struct Authenticate<S> {
    inner: S,
    core: Arc<Core>,
}

/// The token of an `authorization: Bearer …` header.
pub fn bearer(headers: &http::HeaderMap) -> Option<&str> {
    bearer_of(headers.get(http::header::AUTHORIZATION)?.to_str().ok()?)
}

/// The token of an `authorization` value (`Bearer …`).
fn bearer_of(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// What the layer attaches to a call that carries a token, for a caller
/// in this process (`local`) that has the call's metadata, not its headers.
pub(super) async fn authenticate_metadata<T>(core: &Core, req: &mut tonic::Request<T>) {
    let token = req.metadata().get("authorization").and_then(|v| v.to_str().ok()).and_then(bearer_of);
    let Some(token) = token else { return };
    let found = authenticate(core, token, super::client_address(req)).await;
    req.extensions_mut().insert(found);
}

/// Verifies a call's token; the agent's principal carries the client
/// address the gateway saw.
async fn authenticate(core: &Core, token: &str, address: Option<std::net::IpAddr>) -> Authenticated {
    let result = core
        .authenticate(Some(token))
        .await
        .map(|mut p| {
            if let Principal::Agent(a, _) = &mut p {
                a.address = address;
            }
            p
        })
        .map_err(Arc::new);
    Authenticated(result)
}

impl<S, B> Service<http::Request<B>> for Authenticate<S>
where
    S: Service<http::Request<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        // The clone is the one that is ready; keep it for this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let core = self.core.clone();
        Box::pin(async move {
            if let Some(token) = bearer(req.headers()).map(str::to_owned) {
                let address = req
                    .headers()
                    .get(livechat_proto::client::CLIENT_ADDRESS)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok());
                let found = authenticate(&core, &token, address).await;
                req.extensions_mut().insert(found);
            }
            inner.call(req).await
        })
    }
}

/// The principal of a token that came inside a call rather than as its
/// `authorization` (a connection opened on a gateway's feed).
pub(super) async fn principal_of_token(
    core: &Core,
    token: &str,
    address: Option<std::net::IpAddr>,
) -> Result<Principal, tonic::Status> {
    authenticate(core, token, address).await.0.map_err(|e| to_status(&e))
}

/// The caller of a gRPC call that needs a token.
pub fn principal<T>(req: &tonic::Request<T>) -> Result<Principal, tonic::Status> {
    match req.extensions().get::<Authenticated>() {
        Some(Authenticated(Ok(p))) => Ok(p.clone()),
        Some(Authenticated(Err(e))) => Err(to_status(e)),
        None => Err(to_status(&CoreError::Unauthorized("a bearer token is required".into()))),
    }
}
