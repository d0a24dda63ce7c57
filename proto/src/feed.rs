//! A gateway's event subscriptions, all on one `EventService.Feed` stream
//! to the core: each event comes once with the connections it is for, and
//! is routed here to theirs. To a connection it looks exactly like its own
//! `Subscribe` stream: the snapshot first, then its events, then the
//! status it ended with.
//!
//! The stream (a `Link`) is opened by the first connection that needs it,
//! and again by the first one after it ends. When it ends, every
//! connection on it ends with `unavailable`, and their sessions subscribe
//! again (on a new link, maybe to another replica) and catch up from
//! history, as they do when a core replica goes away. A connection that
//! lets its queue fill up ends alone, with `resource_exhausted`, as the
//! core ends a slow subscriber. The map of connections is behind a std
//! mutex held only to look up or change entries, never across an await.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::channel::mpsc as unbounded;
use futures::{Stream, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tonic::{Code, Status};

use crate::client::{EventStream, Transport};
use crate::v1::{self as pb, event_service_client::EventServiceClient};

/// Events a connection may have waiting before it counts as too slow
/// (the core's own limit for a subscriber).
const CONNECTION_QUEUE: usize = 1024;

/// The gateway's side of the feed. Cheap to share; opens nothing until a
/// connection subscribes.
pub struct Feed {
    events: EventServiceClient<Transport>,
    /// The current link; replaced when it has ended. An async mutex, held
    /// while a link opens, so that a crowd of connections (all of them,
    /// after a failover) opens one link, not one each.
    link: tokio::sync::Mutex<Option<Arc<Link>>>,
    next_conn: AtomicU64,
    /// Longest an open waits for its snapshot.
    timeout: Option<Duration>,
}

/// One `Feed` stream and the connections on it.
struct Link {
    requests: unbounded::UnboundedSender<pb::FeedRequest>,
    conns: Mutex<HashMap<u64, Conn>>,
    ended: AtomicBool,
}

/// A connection as the router sees it.
struct Conn {
    /// Until the core answers the open.
    opened: Option<oneshot::Sender<Result<pb::Snapshot, Status>>>,
    events: mpsc::Sender<Arc<pb::Event>>,
    /// Why it ended, read once its queue is drained.
    ended: Option<oneshot::Sender<Status>>,
}

impl Conn {
    /// Tells the connection how it ended (refused, if it was not open yet).
    fn end(mut self, status: Status) {
        match self.opened.take() {
            Some(opened) => drop(opened.send(Err(status))),
            None => {
                if let Some(ended) = self.ended.take() {
                    let _ = ended.send(status);
                }
            }
        }
    }
}

impl Feed {
    pub fn new(transport: Transport, timeout: Option<Duration>) -> Self {
        Self {
            events: EventServiceClient::new(transport),
            link: tokio::sync::Mutex::new(None),
            next_conn: AtomicU64::new(1),
            timeout,
        }
    }

    /// Subscribes a connection with its token: the stream's first event is
    /// the snapshot, as `Subscribe`'s is.
    pub async fn subscribe(&self, token: &str) -> Result<EventStream, Status> {
        let link = self.link().await?;
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let (opened_tx, opened) = oneshot::channel();
        let (events_tx, events) = mpsc::channel(CONNECTION_QUEUE);
        let (ended_tx, ended) = oneshot::channel();
        link.conns
            .lock()
            .expect("feed lock poisoned")
            .insert(conn, Conn { opened: Some(opened_tx), events: events_tx, ended: Some(ended_tx) });
        // From here on, dropping the guard closes the connection on the core.
        let guard = Opened { link: link.clone(), conn };
        let open = pb::FeedRequest {
            kind: Some(pb::feed_request::Kind::Open(pb::FeedOpen { conn, token: token.into() })),
        };
        if link.requests.unbounded_send(open).is_err() {
            return Err(Status::unavailable("the event feed to the core ended"));
        }
        if link.ended.load(Ordering::Acquire) {
            // The router may have drained the map before this connection
            // was in it: it would wait forever.
            return Err(Status::unavailable("the event feed to the core ended"));
        }
        let answer = match self.timeout {
            Some(t) => {
                tokio::time::timeout(t, opened).await.map_err(|_| Status::cancelled("Timeout expired"))?
            }
            None => opened.await,
        };
        let snapshot = answer.map_err(|_| Status::unavailable("the event feed to the core ended"))??;
        let first = pb::Event { kind: Some(pb::event::Kind::Snapshot(snapshot)) };
        let live = Connection { events, ended: Some(ended), _guard: guard };
        Ok(Box::pin(futures::stream::once(std::future::ready(Ok(first))).chain(live)))
    }

    /// The live link, or a new one if there is none.
    async fn link(&self) -> Result<Arc<Link>, Status> {
        let mut current = self.link.lock().await;
        if let Some(link) = current.as_ref().filter(|l| !l.ended.load(Ordering::Acquire)) {
            return Ok(link.clone());
        }
        let (requests, outgoing) = unbounded::unbounded();
        let mut events = self.events.clone();
        let incoming = events.feed(outgoing).await?.into_inner();
        let link =
            Arc::new(Link { requests, conns: Mutex::new(HashMap::new()), ended: AtomicBool::new(false) });
        tokio::spawn(route(link.clone(), incoming));
        metrics::counter!("livechat_event_feeds_opened_total").increment(1);
        *current = Some(link.clone());
        Ok(link)
    }
}

/// Reads the link's stream until it ends, handing each message to its
/// connections; then ends every connection still on it.
async fn route(link: Arc<Link>, mut incoming: tonic::Streaming<pb::FeedMessage>) {
    let why = loop {
        match incoming.next().await {
            Some(Ok(pb::FeedMessage { kind: Some(kind) })) => link.handle(kind),
            Some(Ok(_)) => {}
            Some(Err(status)) => break status,
            None => break Status::unavailable("the event feed to the core ended"),
        }
    };
    tracing::info!(code = ?why.code(), message = why.message(), "event feed to the core ended; its connections subscribe again");
    link.ended.store(true, Ordering::Release);
    let conns: Vec<Conn> = link.conns.lock().expect("feed lock poisoned").drain().map(|(_, c)| c).collect();
    // Whatever broke the stream (a replica gone, a stall, a shutdown), each
    // connection's own subscription did not fail: it subscribes again.
    for conn in conns {
        conn.end(Status::unavailable(format!("the event feed to the core ended: {}", why.message())));
    }
}

impl Link {
    fn handle(&self, kind: pb::feed_message::Kind) {
        use pb::feed_message::Kind;
        match kind {
            Kind::Opened(pb::FeedOpened { conn, snapshot }) => {
                let mut conns = self.conns.lock().expect("feed lock poisoned");
                if let Some(opened) = conns.get_mut(&conn).and_then(|c| c.opened.take()) {
                    let _ =
                        opened.send(snapshot.ok_or_else(|| Status::unavailable("the core sent no snapshot")));
                }
            }
            Kind::Delivery(pb::FeedDelivery { event: Some(event), conns: ids }) => self.deliver(event, &ids),
            Kind::Delivery(_) => {}
            Kind::Ended(pb::FeedEnded { conn, code, message, details }) => {
                let gone = self.conns.lock().expect("feed lock poisoned").remove(&conn);
                if let Some(c) = gone {
                    c.end(Status::with_details(Code::from_i32(code), message, details.into()));
                }
            }
        }
    }

    /// Queues the event for each connection; one whose queue is full ends.
    fn deliver(&self, event: pb::Event, ids: &[u64]) {
        let event = Arc::new(event);
        let mut too_slow = Vec::new();
        {
            let conns = self.conns.lock().expect("feed lock poisoned");
            for id in ids {
                let Some(c) = conns.get(id) else { continue };
                if let Err(mpsc::error::TrySendError::Full(_)) = c.events.try_send(event.clone()) {
                    too_slow.push(*id);
                }
            }
        }
        for id in too_slow {
            metrics::counter!("livechat_ws_slow_subscribers_total").increment(1);
            let gone = self.conns.lock().expect("feed lock poisoned").remove(&id);
            if let Some(c) = gone {
                c.end(Status::resource_exhausted(
                    "subscriber fell too far behind; reconnect and fill the gap from history",
                ));
            }
            self.close(id);
        }
    }

    /// Tells the core a connection is gone.
    fn close(&self, conn: u64) {
        let _ =
            self.requests.unbounded_send(pb::FeedRequest { kind: Some(pb::feed_request::Kind::Close(conn)) });
    }
}

/// Closes a connection on the core when its stream is dropped.
struct Opened {
    link: Arc<Link>,
    conn: u64,
}

impl Drop for Opened {
    fn drop(&mut self) {
        let present = self.link.conns.lock().expect("feed lock poisoned").remove(&self.conn).is_some();
        if present || !self.link.ended.load(Ordering::Acquire) {
            self.link.close(self.conn);
        }
    }
}

/// A connection's events after its snapshot, then how it ended.
struct Connection {
    events: mpsc::Receiver<Arc<pb::Event>>,
    ended: Option<oneshot::Receiver<Status>>,
    _guard: Opened,
}

impl Stream for Connection {
    type Item = Result<pb::Event, Status>;

    fn poll_next(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Poll::Ready(Some(event)) = self.events.poll_recv(cx) {
            return Poll::Ready(Some(Ok(Arc::unwrap_or_clone(event))));
        }
        // Pending, or every sender is gone (the connection ended): the
        // queued events came first, now the reason, once.
        let Some(ended) = self.ended.as_mut() else { return Poll::Ready(None) };
        match std::pin::Pin::new(ended).poll(cx) {
            Poll::Ready(why) => {
                self.ended = None;
                Poll::Ready(why.ok().map(Err))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::event_service_server::{EventService, EventServiceServer};
    use tokio_stream::wrappers::UnboundedReceiverStream;

    type Replies = tokio::sync::mpsc::UnboundedSender<Result<pb::FeedMessage, Status>>;

    /// A core that hands each feed call to the test.
    struct FakeCore(tokio::sync::mpsc::UnboundedSender<(tonic::Streaming<pb::FeedRequest>, Replies)>);

    #[tonic::async_trait]
    impl EventService for FakeCore {
        type SubscribeStream = EventStream;
        type FeedStream = UnboundedReceiverStream<Result<pb::FeedMessage, Status>>;

        async fn subscribe(
            &self,
            _: tonic::Request<pb::SubscribeRequest>,
        ) -> Result<tonic::Response<EventStream>, Status> {
            Err(Status::unimplemented("gateways use the feed"))
        }

        async fn feed(
            &self,
            req: tonic::Request<tonic::Streaming<pb::FeedRequest>>,
        ) -> Result<tonic::Response<Self::FeedStream>, Status> {
            let (replies, stream) = tokio::sync::mpsc::unbounded_channel();
            self.0.send((req.into_inner(), replies)).unwrap();
            Ok(tonic::Response::new(UnboundedReceiverStream::new(stream)))
        }
    }

    /// The core's end of one feed stream.
    struct CoreEnd {
        requests: tonic::Streaming<pb::FeedRequest>,
        replies: Replies,
    }

    type Feeds = tokio::sync::mpsc::UnboundedReceiver<(tonic::Streaming<pb::FeedRequest>, Replies)>;

    impl CoreEnd {
        /// The core's end of the next feed stream a gateway opens.
        async fn next(feeds: &mut Feeds) -> CoreEnd {
            let (requests, replies) = feeds.recv().await.expect("a feed stream");
            CoreEnd { requests, replies }
        }

        async fn request(&mut self) -> pb::feed_request::Kind {
            self.requests.next().await.unwrap().unwrap().kind.unwrap()
        }

        /// Reads an open and answers it with a snapshot for `role`.
        async fn accept_open(&mut self, role: &str) -> u64 {
            let pb::feed_request::Kind::Open(open) = self.request().await else { panic!("expected an open") };
            let snapshot = pb::Snapshot { role: role.into(), ..Default::default() };
            self.reply(pb::feed_message::Kind::Opened(pb::FeedOpened {
                conn: open.conn,
                snapshot: Some(snapshot),
            }));
            open.conn
        }

        fn reply(&self, kind: pb::feed_message::Kind) {
            self.replies.send(Ok(pb::FeedMessage { kind: Some(kind) })).unwrap();
        }

        fn deliver(&self, room_id: &str, conns: Vec<u64>) {
            let event = pb::Event {
                kind: Some(pb::event::Kind::RoomTaken(pb::RoomTaken {
                    room_id: room_id.into(),
                    agent: None,
                })),
            };
            self.reply(pb::feed_message::Kind::Delivery(pb::FeedDelivery { event: Some(event), conns }));
        }
    }

    fn fake_core()
    -> (Arc<Feed>, tokio::sync::mpsc::UnboundedReceiver<(tonic::Streaming<pb::FeedRequest>, Replies)>) {
        let (calls, feeds) = tokio::sync::mpsc::unbounded_channel();
        let routes = tonic::service::Routes::new(EventServiceServer::new(FakeCore(calls)));
        let client = crate::client::CoreClient::in_process(routes, None);
        (Arc::new(Feed::new(client.transport(), None)), feeds)
    }

    /// Subscribes in the background; the core's end answers the open.
    async fn subscribe(
        feed: &Arc<Feed>,
        token: &str,
    ) -> tokio::task::JoinHandle<Result<EventStream, Status>> {
        let (feed, token) = (feed.clone(), token.to_owned());
        tokio::spawn(async move { feed.subscribe(&token).await })
    }

    async fn snapshot_role(events: &mut EventStream) -> String {
        match events.next().await {
            Some(Ok(pb::Event { kind: Some(pb::event::Kind::Snapshot(s)) })) => s.role,
            other => panic!("expected the snapshot, got {other:?}"),
        }
    }

    async fn taken_room(events: &mut EventStream) -> String {
        match events.next().await {
            Some(Ok(pb::Event { kind: Some(pb::event::Kind::RoomTaken(t)) })) => t.room_id,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn connections_share_one_stream_and_each_gets_what_is_addressed_to_it() {
        let (feed, mut feeds) = fake_core();
        let opening = subscribe(&feed, "visitor-token").await;
        let mut core = CoreEnd::next(&mut feeds).await;
        let visitor_conn = core.accept_open("visitor").await;
        let mut visitor = opening.await.unwrap().unwrap();
        let opening = subscribe(&feed, "agent-token").await;
        let agent_conn = core.accept_open("agent").await;
        let mut agent = opening.await.unwrap().unwrap();
        assert!(feeds.try_recv().is_err(), "the second connection opened no stream of its own");
        assert_eq!(snapshot_role(&mut visitor).await, "visitor");
        assert_eq!(snapshot_role(&mut agent).await, "agent");

        core.deliver("r1", vec![visitor_conn, agent_conn]);
        core.deliver("r2", vec![agent_conn]);
        core.deliver("r3", vec![visitor_conn]);
        assert_eq!(taken_room(&mut visitor).await, "r1");
        assert_eq!(taken_room(&mut visitor).await, "r3");
        assert_eq!(taken_room(&mut agent).await, "r1");
        assert_eq!(taken_room(&mut agent).await, "r2");
    }

    #[tokio::test]
    async fn a_connection_ends_as_the_core_says_and_one_dropped_is_closed_there() {
        let (feed, mut feeds) = fake_core();
        let opening = subscribe(&feed, "t1").await;
        let mut core = CoreEnd::next(&mut feeds).await;
        let first = core.accept_open("agent").await;
        let mut revoked = opening.await.unwrap().unwrap();
        let opening = subscribe(&feed, "t2").await;
        let second = core.accept_open("agent").await;
        let left = opening.await.unwrap().unwrap();

        core.deliver("r1", vec![first]);
        core.reply(pb::feed_message::Kind::Ended(pb::FeedEnded {
            conn: first,
            code: Code::Unauthenticated as i32,
            message: "token revoked".into(),
            details: vec![],
        }));
        snapshot_role(&mut revoked).await;
        assert_eq!(taken_room(&mut revoked).await, "r1", "what came before the end is delivered first");
        let status = revoked.next().await.unwrap().unwrap_err();
        assert_eq!((status.code(), status.message()), (Code::Unauthenticated, "token revoked"));
        assert!(revoked.next().await.is_none());

        drop(left);
        assert_eq!(core.request().await, pb::feed_request::Kind::Close(second));
    }

    #[tokio::test]
    async fn a_refused_open_is_the_subscribes_error_with_its_details() {
        let (feed, mut feeds) = fake_core();
        let opening = subscribe(&feed, "bad").await;
        let mut core = CoreEnd::next(&mut feeds).await;
        let pb::feed_request::Kind::Open(open) = core.request().await else { panic!("expected an open") };
        assert_eq!(open.token, "bad");
        core.reply(pb::feed_message::Kind::Ended(pb::FeedEnded {
            conn: open.conn,
            code: Code::Unauthenticated as i32,
            message: "token expired".into(),
            details: vec![1, 2, 3],
        }));
        let status = opening.await.unwrap().err().expect("refused");
        assert_eq!((status.code(), status.details()), (Code::Unauthenticated, &[1u8, 2, 3][..]));
    }

    #[tokio::test]
    async fn when_the_stream_ends_every_connection_ends_unavailable_and_the_next_opens_a_new_one() {
        let (feed, mut feeds) = fake_core();
        let opening = subscribe(&feed, "t1").await;
        let mut core = CoreEnd::next(&mut feeds).await;
        core.accept_open("agent").await;
        let mut events = opening.await.unwrap().unwrap();
        snapshot_role(&mut events).await;

        drop(core);
        assert_eq!(events.next().await.unwrap().unwrap_err().code(), Code::Unavailable);

        let opening = subscribe(&feed, "t1").await;
        let mut core = CoreEnd::next(&mut feeds).await;
        core.accept_open("agent").await;
        snapshot_role(&mut opening.await.unwrap().unwrap()).await;
    }

    #[tokio::test]
    async fn a_connection_that_lets_its_queue_fill_up_ends_alone_as_too_slow() {
        let (feed, mut feeds) = fake_core();
        let opening = subscribe(&feed, "slow").await;
        let mut core = CoreEnd::next(&mut feeds).await;
        let slow_conn = core.accept_open("agent").await;
        let mut slow = opening.await.unwrap().unwrap();
        let opening = subscribe(&feed, "fast").await;
        let fast_conn = core.accept_open("agent").await;
        let mut fast = opening.await.unwrap().unwrap();
        snapshot_role(&mut fast).await;

        for i in 0..=CONNECTION_QUEUE {
            core.deliver(&format!("r{i}"), vec![slow_conn, fast_conn]);
            assert_eq!(taken_room(&mut fast).await, format!("r{i}"));
        }
        assert_eq!(core.request().await, pb::feed_request::Kind::Close(slow_conn));
        snapshot_role(&mut slow).await;
        let mut queued = 0;
        let status = loop {
            match slow.next().await.unwrap() {
                Ok(_) => queued += 1,
                Err(status) => break status,
            }
        };
        assert_eq!((queued, status.code()), (CONNECTION_QUEUE, Code::ResourceExhausted));
        core.deliver("after", vec![fast_conn]);
        assert_eq!(taken_room(&mut fast).await, "after");
    }
}
