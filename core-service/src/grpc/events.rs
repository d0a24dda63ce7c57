//! livechat.v1.EventService: a snapshot, then live events, until the client
//! leaves, falls behind, its token runs out or is revoked, or the server
//! shuts down.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use livechat_proto::v1::{self as pb, event_service_server::EventService};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, Streaming};

use super::auth_layer::principal;
use super::feed::{self, FeedStream};
use crate::app::clock::wall_clock_ms;
use crate::app::{Core, Subscription};
use crate::wire;

pub struct EventsApi {
    pub core: Arc<Core>,
    pub stop: CancellationToken,
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::Event, Status>> + Send>>;

#[tonic::async_trait]
impl EventService for EventsApi {
    type SubscribeStream = EventStream;
    type FeedStream = FeedStream;

    async fn subscribe(&self, req: Request<pb::SubscribeRequest>) -> Result<Response<EventStream>, Status> {
        let p = principal(&req)?;
        let (snapshot, sub) = self.core.subscribe(&p).await?;
        let expires_in = Duration::from_millis((p.expires_at() * 1000 - wall_clock_ms()).max(0) as u64);
        let snapshot = futures::stream::once(std::future::ready(Ok(wire::snapshot(snapshot))));
        Ok(Response::new(Box::pin(snapshot.chain(live(sub, expires_in, self.stop.clone())))))
    }

    async fn feed(&self, req: Request<Streaming<pb::FeedRequest>>) -> Result<Response<FeedStream>, Status> {
        let address = super::client_address(&req);
        Ok(Response::new(feed::serve(self.core.clone(), req.into_inner(), address, self.stop.clone())))
    }
}

/// The subscription's events as the stream itself, polled by whoever reads
/// the response (no task or queue of its own: the hub's queue is the one
/// buffer that decides when a client is too slow). Ends with the status
/// that says why, or quietly when the hub drops the subscription.
fn live(
    sub: Subscription,
    expires_in: Duration,
    stop: CancellationToken,
) -> impl Stream<Item = Result<pb::Event, Status>> + Send {
    let expiry = Box::pin(tokio::time::sleep(expires_in));
    futures::stream::unfold(Some((sub, expiry, stop)), |state| async move {
        let (mut sub, mut expiry, stop) = state?;
        let end = loop {
            tokio::select! {
                // An end reason wins over the event channel closing with it, so
                // that a revocation ends as `unauthenticated`, not as a plain end.
                biased;
                why = &mut sub.ended => break match why {
                    Ok(why) => feed::ending(why),
                    Err(_) => Status::unavailable("subscription ended"),
                },
                _ = stop.cancelled() => break Status::unavailable("server shutting down"),
                ev = sub.events.recv() => match ev {
                    Some(ev) => {
                        if let Some(ev) = wire::event(&ev) {
                            return Some((Ok(ev), Some((sub, expiry, stop))));
                        }
                    }
                    None => return None,
                },
                _ = &mut expiry => break Status::unauthenticated("token expired"),
            }
        };
        Some((Err(end), None))
    })
}
