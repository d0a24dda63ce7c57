//! Refuses calls at once while the database is known to be down, so that a
//! client hears `unavailable` in microseconds instead of after the pool's
//! acquire timeout, and a stopped database does not pile up waiting calls.
//! Health and reflection stay open: they are how the outage is reported.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::{Either, Ready, ready};
use tonic::body::Body;
use tonic::codegen::http;
use tower::{Layer, Service};

use super::status::to_status;
use crate::app::Core;
use crate::error::CoreError;

#[derive(Clone)]
pub struct GateLayer {
    core: Arc<Core>,
}

impl GateLayer {
    pub fn new(core: Arc<Core>) -> Self {
        Self { core }
    }
}

impl<S> Layer<S> for GateLayer {
    type Service = Gate<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Gate { inner, core: self.core.clone() }
    }
}

#[derive(Clone)]
pub struct Gate<S> {
    inner: S,
    core: Arc<Core>,
}

/// Paths that answer without the database.
fn always_open(path: &str) -> bool {
    path.starts_with("/grpc.health.") || path.starts_with("/grpc.reflection.")
}

impl<S, B> Service<http::Request<B>> for Gate<S>
where
    S: Service<http::Request<B>, Response = http::Response<Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Either<Ready<Result<S::Response, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if !self.core.database_reachable() && !always_open(req.uri().path()) {
            let refused = CoreError::database_unavailable();
            return Either::Left(ready(Ok(to_status(&refused).into_http())));
        }
        Either::Right(self.inner.call(req))
    }
}

#[cfg(test)]
mod tests {
    use super::always_open;

    #[test]
    fn only_health_and_reflection_answer_during_an_outage() {
        assert!(always_open("/grpc.health.v1.Health/Check"));
        assert!(always_open("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"));
        assert!(!always_open("/livechat.v1.MessageService/Send"));
        assert!(!always_open("/livechat.v1.AuthService/Login"));
    }
}
