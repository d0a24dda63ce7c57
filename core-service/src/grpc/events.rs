//! livechat.v1.EventService: a snapshot, then live events, until the client
//! leaves, falls behind, its token runs out or is revoked, or the server
//! shuts down.

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use livechat_proto::v1::{self as pb, event_service_server::EventService};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use super::auth_layer::principal;
use super::convert;
use crate::app::{Core, Ended, Subscription, now_ms};

pub struct EventsApi {
    pub core: Arc<Core>,
    pub stop: CancellationToken,
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::Event, Status>> + Send>>;

#[tonic::async_trait]
impl EventService for EventsApi {
    type SubscribeStream = EventStream;

    async fn subscribe(&self, req: Request<pb::SubscribeRequest>) -> Result<Response<EventStream>, Status> {
        let p = principal(&req)?;
        let (snapshot, sub) = self.core.subscribe(&p).await?;
        // Small: the subscription's own queue in the hub is the buffer that
        // decides when a client is too slow.
        let (tx, rx) = mpsc::channel(16);
        tx.send(Ok(convert::snapshot(snapshot))).await.map_err(|_| Status::cancelled("client left"))?;
        let expires_in_ms = (p.expires_at() * 1000 - now_ms()).max(0) as u64;
        tokio::spawn(forward(sub, tx, expires_in_ms, self.stop.clone()));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

async fn forward(
    mut sub: Subscription,
    tx: mpsc::Sender<Result<pb::Event, Status>>,
    expires_in_ms: u64,
    stop: CancellationToken,
) {
    let expiry = tokio::time::sleep(std::time::Duration::from_millis(expires_in_ms));
    tokio::pin!(expiry);
    let end = loop {
        tokio::select! {
            // An end reason wins over the event channel closing with it, so
            // that a revocation ends as `unauthenticated`, not as a plain end.
            biased;
            why = &mut sub.ended => break match why {
                Ok(Ended::TooSlow) => Status::resource_exhausted("subscriber fell too far behind; reconnect and fill the gap from history"),
                Ok(Ended::Revoked) => Status::unauthenticated("token revoked"),
                Ok(Ended::Resync) => Status::unavailable("events may have been missed; resubscribe and catch up from history"),
                Err(_) => Status::unavailable("subscription ended"),
            },
            ev = sub.events.recv() => match ev {
                Some(ev) => {
                    if let Some(ev) = convert::event(&ev) {
                        // A client that stopped reading must not hold up shutdown.
                        tokio::select! {
                            sent = tx.send(Ok(ev)) => if sent.is_err() { return },
                            _ = stop.cancelled() => break Status::unavailable("server shutting down"),
                        }
                    }
                }
                None => return,
            },
            _ = &mut expiry => break Status::unauthenticated("token expired"),
            _ = stop.cancelled() => break Status::unavailable("server shutting down"),
            _ = tx.closed() => return,
        }
    };
    let _ = tx.send(Err(end)).await;
}
