//! livechat.v1.EventService.Feed: a gateway's connections subscribed on
//! one stream. Each is opened with its own token and gets what `Subscribe`
//! would give it (authentication, snapshot, audience, expiry, revocation);
//! the hub puts each event on the feed once, with the connections it is
//! for (`FeedSink`), and it is encoded once here for all of them.
//!
//! Two halves: a task that reads the gateway's requests (opens, closes)
//! and keeps the registrations and their expiries, and the response
//! stream, which turns the hub's items and the task's answers into
//! messages. The stream ends (`unavailable`) when the feed is stalled or
//! the server stops; the task ends with the gateway's requests or the
//! stream, and its registrations go with it.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::FuturesUnordered;
use futures::{Stream, StreamExt};
use livechat_proto::v1::{self as pb, feed_message, feed_request};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::time::{DelayQueue, delay_queue};
use tonic::{Status, Streaming};

use super::auth_layer::principal_of_token;
use super::status::to_status;
use crate::app::clock::wall_clock_ms;
use crate::app::hub::{FeedItem, FeedRegistration, FeedSink};
use crate::app::{Core, Ended};
use crate::error::CoreError;
use crate::wire;

pub type FeedStream = Pin<Box<dyn Stream<Item = Result<pb::FeedMessage, Status>> + Send>>;

/// Starts serving a gateway's feed: `requests` is what the gateway sends,
/// the returned stream what it receives.
pub fn serve(
    core: Arc<Core>,
    requests: Streaming<pb::FeedRequest>,
    address: Option<IpAddr>,
    stop: CancellationToken,
) -> FeedStream {
    let (sink, items) = FeedSink::new();
    let (answers, answered) = mpsc::unbounded_channel();
    let registrations = Registrations {
        core,
        sink: sink.clone(),
        address,
        answers,
        open: HashMap::new(),
        opening: HashSet::new(),
        closed_while_opening: HashSet::new(),
        expiries: DelayQueue::new(),
    };
    tokio::spawn(registrations.run(requests, stop.clone()));
    Box::pin(outgoing(items, answered, sink, stop))
}

/// What the gateway is sent: the task's answers and the hub's items, until
/// the feed stalls or the server stops (an error), or the gateway's
/// requests end (the task is gone: nothing is subscribed any more).
fn outgoing(
    items: mpsc::Receiver<FeedItem>,
    answered: mpsc::UnboundedReceiver<pb::FeedMessage>,
    sink: Arc<FeedSink>,
    stop: CancellationToken,
) -> impl Stream<Item = Result<pb::FeedMessage, Status>> + Send {
    futures::stream::unfold(Some((items, answered, sink, stop)), |state| async move {
        let (mut items, mut answered, sink, stop) = state?;
        let end = loop {
            tokio::select! {
                biased;
                _ = sink.stalled() => break Status::unavailable("the feed fell too far behind; subscribe again and catch up from history"),
                _ = stop.cancelled() => break Status::unavailable("server shutting down"),
                answer = answered.recv() => match answer {
                    Some(answer) => return Some((Ok(answer), Some((items, answered, sink, stop)))),
                    None => return None,
                },
                item = items.recv() => match item.and_then(message) {
                    Some(m) => return Some((Ok(m), Some((items, answered, sink, stop)))),
                    None => continue,
                },
            }
        };
        Some((Err(end), None))
    })
}

/// An item of the hub as the gateway is sent it (None: nothing to send).
fn message(item: FeedItem) -> Option<pb::FeedMessage> {
    let kind = match item {
        FeedItem::Deliver(event, conns) => {
            feed_message::Kind::Delivery(pb::FeedDelivery { event: Some(wire::event(&event)?), conns })
        }
        FeedItem::Ended(conn, why) => ended(conn, &ending(why)),
    };
    Some(pb::FeedMessage { kind: Some(kind) })
}

/// The status a subscription ends with, as `Subscribe` ends it.
pub(super) fn ending(why: Ended) -> Status {
    match why {
        Ended::TooSlow => Status::resource_exhausted(
            "subscriber fell too far behind; reconnect and fill the gap from history",
        ),
        Ended::Revoked => Status::unauthenticated("token revoked"),
        Ended::Resync => {
            Status::unavailable("events may have been missed; resubscribe and catch up from history")
        }
    }
}

fn ended(conn: u64, status: &Status) -> feed_message::Kind {
    feed_message::Kind::Ended(pb::FeedEnded {
        conn,
        code: status.code() as i32,
        message: status.message().to_owned(),
        details: status.details().to_vec(),
    })
}

/// The feed's subscriptions, kept by its task.
struct Registrations {
    core: Arc<Core>,
    sink: Arc<FeedSink>,
    /// The gateway's, as a `Subscribe` call's peer address.
    address: Option<IpAddr>,
    answers: mpsc::UnboundedSender<pb::FeedMessage>,
    open: HashMap<u64, (FeedRegistration, delay_queue::Key)>,
    opening: HashSet<u64>,
    closed_while_opening: HashSet<u64>,
    /// When each open connection's token runs out.
    expiries: DelayQueue<u64>,
}

/// A connection's subscription, or why it was refused.
type Opened = Result<(pb::Snapshot, FeedRegistration, Duration), Status>;

impl Registrations {
    async fn run(mut self, mut requests: Streaming<pb::FeedRequest>, stop: CancellationToken) {
        metrics::gauge!("livechat_event_feeds").increment(1.0);
        let mut opening = FuturesUnordered::new();
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = self.answers.closed() => break,
                request = requests.next() => match request {
                    Some(Ok(pb::FeedRequest { kind: Some(feed_request::Kind::Open(open)) })) => {
                        if self.opening.insert(open.conn) {
                            opening.push(subscribe(self.core.clone(), self.sink.clone(), self.address, open));
                        }
                    }
                    Some(Ok(pb::FeedRequest { kind: Some(feed_request::Kind::Close(conn)) })) => self.close(conn),
                    Some(Ok(_)) => {}
                    // The gateway is gone, or its stream broke.
                    Some(Err(_)) | None => break,
                },
                Some((conn, opened)) = opening.next(), if !opening.is_empty() => self.opened(conn, opened),
                Some(expired) = self.expiries.next(), if !self.expiries.is_empty() => {
                    let conn = expired.into_inner();
                    if self.open.remove(&conn).is_some() {
                        self.answer(ended(conn, &Status::unauthenticated("token expired")));
                    }
                }
            }
        }
        metrics::gauge!("livechat_event_feeds").decrement(1.0);
    }

    fn opened(&mut self, conn: u64, opened: Opened) {
        self.opening.remove(&conn);
        if self.closed_while_opening.remove(&conn) {
            return;
        }
        match opened {
            Ok((snapshot, registration, expires_in)) => {
                let key = self.expiries.insert(conn, expires_in);
                self.open.insert(conn, (registration, key));
                self.answer(feed_message::Kind::Opened(pb::FeedOpened { conn, snapshot: Some(snapshot) }));
            }
            Err(status) => self.answer(ended(conn, &status)),
        }
    }

    fn close(&mut self, conn: u64) {
        if let Some((_, key)) = self.open.remove(&conn) {
            self.expiries.remove(&key);
        } else if self.opening.contains(&conn) {
            self.closed_while_opening.insert(conn);
        }
    }

    fn answer(&self, kind: feed_message::Kind) {
        let _ = self.answers.send(pb::FeedMessage { kind: Some(kind) });
    }
}

/// Authenticates a connection's token and subscribes it on the feed, as
/// the tower layers and `Subscribe` would.
async fn subscribe(
    core: Arc<Core>,
    sink: Arc<FeedSink>,
    address: Option<IpAddr>,
    open: pb::FeedOpen,
) -> (u64, Opened) {
    let conn = open.conn;
    let opened = async {
        if !core.database_reachable() {
            return Err(to_status(&CoreError::database_unavailable()));
        }
        let p = principal_of_token(&core, &open.token, address).await?;
        let (snapshot, registration) =
            core.subscribe_on_feed(&p, &sink, conn).await.map_err(|e| to_status(&e))?;
        let expires_in = Duration::from_millis((p.expires_at() * 1000 - wall_clock_ms()).max(0) as u64);
        Ok((wire::snapshot_of(snapshot), registration, expires_in))
    };
    (conn, opened.await)
}
