//! Requesting an agent, the queue, and moving rooms through their lifecycle.

use std::net::IpAddr;

use super::ports::{NewMessage, NewRoom, RoomFilter};
use super::{Core, Principal};
use crate::domain::assignment::AssignmentMode;
use crate::domain::outbound;
use crate::domain::room::render_agent_text;
use crate::domain::value::{Checks, DisplayName, Email, MessageContent};
use crate::domain::{
    Audience, Channel, EndReason, Event, EventKind, FieldError, Message, Millis, Permission, Person, Room,
    RoomStatus, Sender, SenderKind, Transition, new_id,
};
use crate::error::{CoreError, CoreResult};

/// Most rooms one list returns (the newest ones).
const LIST_LIMIT: u64 = 500;
/// Longest subject kept from the first message.
const SUBJECT_CHARS: usize = 200;
/// What clients are told when a room ends for lack of messages.
pub const EXPIRED_TEXT: &str = "This chat has expired after a period of inactivity.";

/// A visitor asking for help.
#[derive(Debug, Clone, Default)]
pub struct CreateRoom {
    pub name: String,
    pub email: Option<String>,
    pub message: Option<String>,
    pub channel: Option<Channel>,
    pub external_id: Option<String>,
    /// Left through the widget's offline form: waits longer in the queue.
    pub offline_message: bool,
    /// The first message's idempotency key (a messenger's message id).
    pub first_client_id: Option<String>,
    /// Set by `create_room`: the tag of the visitor's address.
    pub visitor_address: Option<String>,
}

/// The new room and the token that opens it.
#[derive(Debug, Clone)]
pub struct CreatedRoom {
    pub room: Room,
    pub visitor_token: String,
    pub expires_in: u64,
}

/// Most earlier rooms of a visitor shown next to their chat.
const EARLIER_ROOMS: u64 = 20;

/// What an agent sees of a room's visitor beside the chat.
#[derive(Debug, Clone)]
pub struct VisitorDetails {
    pub name: String,
    pub email: Option<String>,
    pub channel: Channel,
    /// Their first question.
    pub subject: Option<String>,
    /// They left a message while no agent was online (and may be gone:
    /// answer by email).
    pub left_offline: bool,
    /// Their other conversations, newest first.
    pub earlier_rooms: Vec<Room>,
}

/// One `Message` event per stored message, for `audience`.
pub(super) fn message_events(audience: Audience, messages: &[Message]) -> Vec<Event> {
    messages.iter().map(|m| Event::new(audience.clone(), EventKind::Message { message: m.clone() })).collect()
}

/// `message_events`, and, in a channel room, the ones its customer gets on
/// their messenger.
pub(super) fn room_messages(audience: Audience, room: &Room, messages: &[Message]) -> Vec<Event> {
    let mut events = message_events(audience, messages);
    events.extend(outbound::events(room, messages));
    events
}

/// The events of a queued room taken by `agent` (accepted, or handed out
/// by automatic assignment). Those who declined never saw it queued: they
/// get no `room_taken`.
pub(super) fn taken_events(decliners: Vec<String>, agent: Person) -> crate::app::ports::MakeEvents<'static> {
    Box::new(move |room: &Room, messages: &[Message]| {
        let mut events = vec![
            Event::new(
                Audience::acceptors(decliners),
                EventKind::RoomTaken { room_id: room.id.clone(), agent },
            ),
            Event::new(Audience::room(room), EventKind::RoomUpdated { room: room.clone() }),
        ];
        events.extend(room_messages(Audience::room(room), room, messages));
        events
    })
}

/// A system message about to be stored.
pub(super) fn system_message(content: String, now: Millis) -> NewMessage {
    NewMessage { id: new_id(), sender: Sender::system(), content, client_id: None, created_at: now }
}

impl Core {
    /// A web visitor asks for an agent (anonymous). Messenger rooms are not
    /// created here: whoever could name a channel and a customer's id
    /// would receive that customer's next messages (see `channels`).
    ///
    /// `from` is the visitor's address (as the gateway saw it): it may open
    /// `rooms_per_ip_per_min` rooms a minute and keep `open_rooms_per_ip`
    /// open at once, so that a script cannot bury real visitors in the queue.
    pub async fn create_room(&self, req: CreateRoom, from: Option<IpAddr>) -> CoreResult<CreatedRoom> {
        if req.channel.is_some_and(|c| c != Channel::Web) || req.external_id.is_some() {
            return Err(CoreError::invalid(
                "channel",
                "only web rooms are created here; messenger rooms open when the customer writes",
            ));
        }
        let address = from.map(|ip| self.keys.tag(&ip.to_string()));
        if let Some(ip) = from {
            self.rooms_per_address.check_key(&ip).map_err(|not_until| {
                metrics::counter!("livechat_rooms_refused_total", "why" => "rate").increment(1);
                let now = governor::clock::Clock::now(&governor::clock::DefaultClock::default());
                CoreError::RateLimited {
                    retry_after_secs: not_until.wait_time_from(now).as_secs().max(1) as u32,
                }
            })?;
        }
        if let Some(tag) = &address
            && self.store.open_rooms_from(tag).await? >= u64::from(self.policies.open_rooms_per_ip)
        {
            metrics::counter!("livechat_rooms_refused_total", "why" => "open").increment(1);
            return Err(CoreError::RateLimited { retry_after_secs: 60 });
        }
        self.open_room(CreateRoom { visitor_address: address, ..req }).await
    }

    /// Stores a new queued room (any channel) and issues its visitor token.
    pub(super) async fn open_room(&self, req: CreateRoom) -> CoreResult<CreatedRoom> {
        let settings = self.settings.get().await?;
        let mut checks = Checks::default();
        let name = checks.check(DisplayName::parse("name", &req.name));
        let email = req.email.as_deref().filter(|e| !e.trim().is_empty()).map(Email::parse);
        let email = email.and_then(|e| checks.check(e));
        let channel = req.channel.unwrap_or(Channel::Web);
        let external_id = match (channel, req.external_id.as_deref()) {
            (Channel::Web, _) => None,
            (_, Some(id)) if (1..=128).contains(&id.chars().count()) => Some(id.to_string()),
            _ => {
                checks.push(FieldError::new(
                    "external_id",
                    "is required (1 to 128 characters) for external channels",
                ));
                None
            }
        };
        let message = req.message.as_deref().filter(|m| !m.trim().is_empty());
        let message = match message.map(|m| MessageContent::parse(m, settings.max_message_chars)) {
            Some(Ok(m)) => Some(m),
            Some(Err(crate::domain::DomainError::Invalid(errs))) => {
                errs.into_iter().for_each(|e| checks.push(FieldError::new("message", e.message)));
                None
            }
            Some(Err(e)) => return Err(e.into()),
            None => None,
        };
        checks.finish()?;
        let name = name.expect("checked").into_inner();

        let now = self.now_ms();
        let room_id = new_id();
        let visitor = Person { id: new_id(), name: name.clone() };
        let first = message.map(|m| NewMessage {
            id: new_id(),
            sender: Sender { kind: SenderKind::Visitor, id: visitor.id.clone(), name: name.clone() },
            content: m.into_inner(),
            client_id: req.first_client_id.clone(),
            created_at: now,
        });
        let subject = first.as_ref().map(|m| m.content.chars().take(SUBJECT_CHARS).collect());
        let new = NewRoom {
            id: room_id.clone(),
            channel,
            visitor: visitor.clone(),
            email: email.map(Email::into_inner),
            external_id,
            visitor_address: req.visitor_address.clone(),
            subject,
            created_at: now,
            left_offline: req.offline_message,
        };
        let make = Box::new(|room: &Room, first: &[Message]| {
            let mut events =
                vec![Event::new(Audience::acceptors(vec![]), EventKind::RoomQueued { room: room.clone() })];
            events.extend(room_messages(Audience::room(room), room, first));
            events
        });
        let (room, _, events) = self.store.create_room(new, first, make).await?;
        self.deliver(events).await;
        self.assign_if_automatic(&room.id).await;

        let ttl = self.policies.visitor_secs;
        let visitor_token = self
            .keys
            .visitor_token(&visitor.id, &name, &room_id, super::clock::wall_clock_ms() / 1000, ttl)
            .map_err(CoreError::Unexpected)?;
        Ok(CreatedRoom { room, visitor_token, expires_in: ttl })
    }

    /// A room the caller may read.
    pub async fn room(&self, p: &Principal, room_id: &str) -> CoreResult<Room> {
        p.check_room_scope(room_id)?;
        let room = self.store.room(room_id).await?.ok_or_else(|| CoreError::not_found("room"))?;
        p.check_read(&room)?;
        Ok(room)
    }

    /// The visitor of a room the agent may read: their email, whether they
    /// left a message while nobody was online, and those of their other
    /// conversations the agent may read too (all of them with
    /// rooms.view_all; otherwise the ones they handled, or that wait in
    /// the queue).
    pub async fn visitor(&self, p: &Principal, room_id: &str) -> CoreResult<VisitorDetails> {
        p.agent()?;
        let room = self.room(p, room_id).await?;
        let v = self.store.visitor_of(room_id).await?.ok_or_else(|| CoreError::not_found("room"))?;
        let mut earlier_rooms = self.store.rooms_of_visitor(&v, room_id, EARLIER_ROOMS).await?;
        earlier_rooms.retain(|r| p.can_read(r));
        Ok(VisitorDetails {
            name: room.visitor.name,
            email: v.email,
            channel: room.channel,
            subject: room.subject,
            left_offline: v.left_offline,
            earlier_rooms,
        })
    }

    /// Past conversations (closed and expired), newest first, a page at a
    /// time, with an optional text search over the visitor's name and
    /// email and every message. Agents with rooms.view_all search all of
    /// them; others the rooms they handled. Returns the page and the
    /// cursor of the next one.
    pub async fn past_rooms(
        &self,
        p: &Principal,
        text: Option<&str>,
        before: Option<&str>,
        limit: Option<u32>,
    ) -> CoreResult<(Vec<Room>, Option<String>)> {
        let a = p.agent()?;
        let limit = match limit {
            None => 50,
            Some(n @ 1..=200) => n,
            Some(_) => return Err(CoreError::invalid("limit", "must be between 1 and 200")),
        };
        if text.is_some_and(|t| t.chars().count() > 200) {
            return Err(CoreError::invalid("q", "must be at most 200 characters"));
        }
        let search = super::ports::RoomSearch {
            text: text.map(str::to_string),
            agent_id: (!a.permissions.contains(Permission::RoomsViewAll)).then(|| a.id.clone()),
            before_id: before.filter(|b| !b.is_empty()).map(str::to_string),
            limit: u64::from(limit) + 1,
        };
        let mut rooms = self.store.search_rooms(&search).await?;
        let next = (rooms.len() > limit as usize).then(|| {
            rooms.truncate(limit as usize);
            rooms.last().map(|r| r.id.clone())
        });
        Ok((rooms, next.flatten()))
    }

    /// Agents only; without rooms.view_all: the queue and their own rooms.
    pub async fn rooms(
        &self,
        p: &Principal,
        status: Option<RoomStatus>,
        mine: bool,
    ) -> CoreResult<Vec<Room>> {
        let a = p.agent()?;
        let view_all = a.permissions.contains(Permission::RoomsViewAll);
        // Without rooms.accept the queue is not theirs to see: own rooms only.
        let own_only = mine || (!view_all && !a.permissions.contains(Permission::RoomsAccept));
        let filter = RoomFilter {
            status,
            agent_id: own_only.then(|| a.id.clone()),
            visible_to: (!view_all && !own_only).then(|| a.id.clone()),
            limit: LIST_LIMIT,
        };
        self.store.rooms(&filter).await
    }

    pub async fn accept(&self, p: &Principal, room_id: &str) -> CoreResult<Room> {
        let a = p.agent_with(Permission::RoomsAccept)?;
        let agent = Person { id: a.id.clone(), name: a.name.clone() };
        let settings = self.settings.get().await?;
        let now = self.now_ms();
        let join = system_message(render_agent_text(&settings.agent_join_message, &agent.name), now);
        let t = Transition::Accept { agent: agent.clone() };
        let make = taken_events(self.store.decliners(room_id).await?, agent);
        let _turn = self.room_order.lock(room_id).await;
        let Some((room, _, events)) = self.store.transition(room_id, &t, vec![join], now, make).await? else {
            return Err(self.why_not(room_id, RoomStatus::Engaged).await);
        };
        self.deliver(events).await;
        Ok(room)
    }

    pub async fn decline(&self, p: &Principal, room_id: &str) -> CoreResult<()> {
        let a = p.agent()?;
        let room = self.store.room(room_id).await?.ok_or_else(|| CoreError::not_found("room"))?;
        if room.is_engaged_by(&a.id) && self.settings.get().await?.assignment() == AssignmentMode::Automatic {
            // Handed to them by automatic assignment: it goes to the next
            // agent (or back to the queue), never to them again.
            self.store.decline(room_id, &a.id, self.now_ms()).await?;
            self.give_back(room_id, &p.person()).await?;
            return Ok(());
        }
        if room.status != RoomStatus::Queued {
            return Err(CoreError::Conflict(format!("room is {}, not queued", room.status.as_str())));
        }
        self.store.decline(room_id, &a.id, self.now_ms()).await
    }

    pub async fn close(&self, p: &Principal, room_id: &str, message: Option<&str>) -> CoreResult<Room> {
        let a = p.agent()?;
        let room = self.room(p, room_id).await?;
        room.status.check_transition(RoomStatus::Closed)?;
        if !a.may_manage(&room) {
            return Err(CoreError::forbidden(
                "only the engaged agent or rooms.manage_all may close this room",
            ));
        }
        let settings = self.settings.get().await?;
        let text = match message.filter(|m| !m.trim().is_empty()) {
            Some(m) => MessageContent::parse(m, settings.max_message_chars)
                .map_err(|_| {
                    CoreError::invalid(
                        "message",
                        format!("must be 1 to {} characters", settings.max_message_chars),
                    )
                })?
                .into_inner(),
            None => settings.close_message.clone(),
        };
        let by_agent = (!a.permissions.contains(Permission::RoomsManageAll)).then(|| a.id.clone());
        let now = self.now_ms();
        let t = Transition::Close { by_agent, text: text.clone() };
        let msg = system_message(text.clone(), now);
        let make = Box::new(move |room: &Room, messages: &[Message]| {
            let audience = Audience::room(room);
            let mut events = room_messages(audience.clone(), room, messages);
            events.push(Event::new(audience.clone(), EventKind::RoomUpdated { room: room.clone() }));
            events.push(Event::new(
                audience,
                EventKind::RoomClosed { room_id: room.id.clone(), reason: EndReason::Closed, message: text },
            ));
            events
        });
        let _turn = self.room_order.lock(room_id).await;
        let Some((room, _, events)) = self.store.transition(room_id, &t, vec![msg], now, make).await? else {
            return Err(self.why_not(room_id, RoomStatus::Closed).await);
        };
        self.deliver(events).await;
        Ok(room)
    }

    /// To another agent, or (no agent_id) back to the queue.
    pub async fn transfer(&self, p: &Principal, room_id: &str, to: Option<&str>) -> CoreResult<Room> {
        let a = p.agent()?;
        let room = self.room(p, room_id).await?;
        if room.status != RoomStatus::Engaged {
            return Err(CoreError::Conflict(format!("room is {}, not engaged", room.status.as_str())));
        }
        if !a.may_manage(&room) {
            return Err(CoreError::forbidden(
                "only the engaged agent or rooms.manage_all may transfer this room",
            ));
        }
        let from = room.agent.clone().expect("engaged rooms have an agent");
        let Some(to) = to else {
            return self
                .give_back(&room.id, &from)
                .await?
                .ok_or_else(|| CoreError::Conflict("room changed meanwhile".into()));
        };
        let target = self
            .store
            .agent(to)
            .await?
            .filter(|t| !t.disabled)
            .ok_or_else(|| CoreError::invalid("agent_id", "no such agent"))?;
        if !target.permissions.contains(Permission::RoomsAccept) {
            return Err(CoreError::invalid("agent_id", "this agent may not take rooms"));
        }
        if target.id == from.id {
            return Err(CoreError::Conflict("the agent already has this room".into()));
        }
        let to = Person { id: target.id, name: target.name };
        let settings = self.settings.get().await?;
        let now = self.now_ms();
        let texts = vec![
            system_message(render_agent_text(&settings.agent_leave_message, &from.name), now),
            system_message(render_agent_text(&settings.agent_join_message, &to.name), now),
        ];
        let t = Transition::Transfer { from_agent: from.id.clone(), to };
        let from_id = from.id.clone();
        let make = Box::new(move |room: &Room, messages: &[Message]| {
            let audience = Audience::room(room).with_agent(&from_id);
            let mut events =
                vec![Event::new(audience.clone(), EventKind::RoomUpdated { room: room.clone() })];
            events.extend(room_messages(audience, room, messages));
            events
        });
        let _turn = self.room_order.lock(room_id).await;
        let Some((room, _, events)) = self.store.transition(room_id, &t, texts, now, make).await? else {
            return Err(CoreError::Conflict("room changed meanwhile".into()));
        };
        self.deliver(events).await;
        Ok(room)
    }

    /// Puts a room `from` holds back into the queue with the leave text.
    /// None when they no longer hold it.
    pub(super) async fn give_back(&self, room_id: &str, from: &Person) -> CoreResult<Option<Room>> {
        let settings = self.settings.get().await?;
        let now = self.now_ms();
        let leave = system_message(render_agent_text(&settings.agent_leave_message, &from.name), now);
        let t = Transition::Requeue { from_agent: from.id.clone() };
        // Read before the change: a decline racing with it only means the
        // decliner sees the room offered once more.
        let decliners = self.store.decliners(room_id).await?;
        let from_id = from.id.clone();
        let make = Box::new(move |room: &Room, messages: &[Message]| {
            let audience = Audience::room(room).with_agent(&from_id);
            let mut events = room_messages(audience.clone(), room, messages);
            events.push(Event::new(audience, EventKind::RoomUpdated { room: room.clone() }));
            events.push(Event::new(
                Audience::acceptors(decliners),
                EventKind::RoomQueued { room: room.clone() },
            ));
            events
        });
        let _turn = self.room_order.lock(room_id).await;
        let Some((room, _, events)) = self.store.transition(room_id, &t, vec![leave], now, make).await?
        else {
            return Ok(None);
        };
        self.deliver(events).await;
        // The room's turn ends before it is handed to someone else.
        drop(_turn);
        self.assign_if_automatic(&room.id).await;
        Ok(Some(room))
    }

    /// Expires the room if it is still idle since before `idle_before`.
    pub(super) async fn expire(&self, room_id: &str, idle_before: Millis) -> CoreResult<bool> {
        let now = self.now_ms();
        let t = Transition::Expire { idle_before, text: EXPIRED_TEXT.into() };
        let make = Box::new(|room: &Room, _: &[Message]| {
            let mut audience = Audience::room(room);
            if room.agent.is_none() {
                // It expired in the queue: agents must drop it from their lists.
                audience.acceptors_except = Some(vec![]);
            }
            vec![
                Event::new(audience.clone(), EventKind::RoomUpdated { room: room.clone() }),
                Event::new(
                    audience,
                    EventKind::RoomClosed {
                        room_id: room.id.clone(),
                        reason: EndReason::Expired,
                        message: EXPIRED_TEXT.into(),
                    },
                ),
            ]
        });
        let _turn = self.room_order.lock(room_id).await;
        let Some((_, _, events)) = self.store.transition(room_id, &t, vec![], now, make).await? else {
            return Ok(false);
        };
        self.deliver(events).await;
        Ok(true)
    }

    /// The precise error for a transition whose precondition failed.
    async fn why_not(&self, room_id: &str, to: RoomStatus) -> CoreError {
        match self.store.room(room_id).await {
            Ok(Some(room)) => match room.status.check_transition(to) {
                Err(e) => e.into(),
                Ok(()) => CoreError::Conflict(format!("room is {} by someone else", room.status.as_str())),
            },
            Ok(None) => CoreError::not_found("room"),
            Err(e) => e,
        }
    }
}
