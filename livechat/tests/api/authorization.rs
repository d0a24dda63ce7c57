//! The authorization matrix: every REST route (read from the OpenAPI
//! document the router generates) and every RPC (read from the compiled
//! proto) against every kind of caller. A route or RPC without a row here
//! fails the test, so none can be added without saying who may call it.
//!
//! Refusals are always sent and checked exactly; an allowed call is sent
//! only when it changes nothing (GET), since the callers share one room.

use std::collections::BTreeSet;

use prost::Message as _;
use reqwest::Method;
use serde_json::{Value, json};

use livechat_test_support::app::*;
use livechat_test_support::grpc::tokens::{agent_claims, forge_token, now_secs};
use livechat_test_support::*;

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Anonymous,
    Expired,
    Revoked,
    Visitor,
    ForeignVisitor,
    /// An agent whose group has no permission.
    Bare,
    /// An agent whose group has exactly this permission.
    Only(&'static str),
    Admin,
}

impl Caller {
    fn every() -> Vec<Caller> {
        let mut all =
            vec![Self::Anonymous, Self::Expired, Self::Revoked, Self::Visitor, Self::ForeignVisitor];
        all.push(Self::Bare);
        all.extend(PERMISSIONS.iter().map(|p| Self::Only(p)));
        all.push(Self::Admin);
        all
    }

    fn is_agent(self) -> bool {
        matches!(self, Self::Bare | Self::Only(_) | Self::Admin)
    }

    fn has(self, permission: &str) -> bool {
        self == Self::Admin || self == Self::Only(PERMISSIONS.iter().find(|p| **p == permission).unwrap())
    }
}

const PERMISSIONS: [&str; 6] = [
    "rooms.accept",
    "rooms.view_all",
    "rooms.manage_all",
    "canned.manage_shared",
    "agents.manage",
    "settings.manage",
];

/// Who a route is for.
#[derive(Debug, Clone, Copy)]
enum Need {
    /// Anyone, no token.
    Public,
    /// Any agent.
    Agent,
    /// An agent with this permission.
    Permission(&'static str),
    /// An agent with all of these permissions.
    Permissions(&'static [&'static str]),
    /// Reading the (queued) room: its visitor, an agent who may accept it
    /// or sees every room.
    ReadRoom,
    /// What only agents read of the room (its visitor's details): an agent
    /// who may accept it or sees every room; never a visitor.
    ReadRoomAsAgent,
    /// Something of the room that does not exist yet (its rating): those
    /// who may read the room get 404, others 403.
    ReadRoomNotFound,
    /// Rating the (queued) room: its visitor is told it has not ended
    /// (409); everyone else is refused.
    RateRoom,
    /// Writing in the queued room: its visitor; an agent who may read it is
    /// told to accept first (409); anyone else is refused.
    WriteRoom,
    /// Closing or transferring the queued room: agents who may read it are
    /// told it is not engaged (409); others refused.
    ManageRoom,
}

impl Need {
    /// What `caller` gets: a status, or None for "allowed" (2xx).
    fn answer(self, caller: Caller) -> Option<u16> {
        let token_ok = !matches!(caller, Caller::Anonymous | Caller::Expired | Caller::Revoked);
        if !token_ok {
            return match self {
                Need::Public => None,
                _ => Some(401),
            };
        }
        let reads_room =
            matches!(caller, Caller::Visitor) || caller.has("rooms.accept") || caller.has("rooms.view_all");
        match self {
            Need::Public => None,
            Need::Agent => (!caller.is_agent()).then_some(403),
            Need::Permission(p) => (!caller.has(p)).then_some(403),
            Need::Permissions(ps) => (!ps.iter().all(|p| caller.has(p))).then_some(403),
            Need::ReadRoom => (!reads_room).then_some(403),
            Need::ReadRoomAsAgent => (!(reads_room && caller.is_agent())).then_some(403),
            Need::ReadRoomNotFound => Some(if reads_room { 404 } else { 403 }),
            Need::RateRoom => Some(if caller == Caller::Visitor { 409 } else { 403 }),
            Need::WriteRoom if caller == Caller::Visitor => None,
            Need::WriteRoom | Need::ManageRoom if caller.is_agent() && reads_room => Some(409),
            Need::WriteRoom | Need::ManageRoom => Some(403),
        }
    }
}

/// A webhook endpoint at a public address literal (registered without a
/// DNS lookup; nothing in these tests is sent to it but a ping).
const PUBLIC_ENDPOINT: &str = "https://93.184.216.34/hooks";

/// The ids the routes are called with.
struct Scene {
    room: String,
    admin_id: String,
    canned_id: String,
    webhook_id: String,
}

/// Every REST route, with a valid body, and who it is for.
fn rest_routes(s: &Scene) -> Vec<(Method, &'static str, String, Option<Value>, Need)> {
    let room = &s.room;
    let new_agent =
        json!({"username": "newcomer", "password": "newcomer-pass-1", "name": "N", "group": "agent"});
    let canned = json!({"shortcut": "hi", "title": "Hi", "body": "Hello!"});
    let webhook = json!({"url": PUBLIC_ENDPOINT, "events": ["room.rated"]});
    let hook = format!("/webhooks/{}", s.webhook_id);
    vec![
        (
            Method::POST,
            "/auth/login",
            "/auth/login".into(),
            Some(json!({"username": "x", "password": "y"})),
            Need::Public,
        ),
        (Method::POST, "/auth/refresh", "/auth/refresh".into(), None, Need::Agent),
        (Method::GET, "/agents", "/agents".into(), None, Need::Permission("agents.manage")),
        (Method::POST, "/agents", "/agents".into(), Some(new_agent), Need::Permission("agents.manage")),
        (
            Method::PATCH,
            "/agents/{id}",
            format!("/agents/{}", s.admin_id),
            Some(json!({"name": "Z"})),
            Need::Permission("agents.manage"),
        ),
        (
            Method::DELETE,
            "/agents/{id}",
            format!("/agents/{}", s.admin_id),
            None,
            Need::Permission("agents.manage"),
        ),
        (Method::GET, "/groups", "/groups".into(), None, Need::Permission("agents.manage")),
        (
            Method::GET,
            "/agents/{id}/capacity",
            format!("/agents/{}/capacity", s.admin_id),
            None,
            Need::Permission("agents.manage"),
        ),
        (
            Method::PUT,
            "/agents/{id}/capacity",
            format!("/agents/{}/capacity", s.admin_id),
            Some(json!({"capacity": 5})),
            Need::Permission("agents.manage"),
        ),
        (
            Method::POST,
            "/groups",
            "/groups".into(),
            Some(json!({"name": "crew", "permissions": []})),
            Need::Permission("agents.manage"),
        ),
        (
            Method::PUT,
            "/groups/{name}",
            "/groups/agent".into(),
            Some(json!({"permissions": ["rooms.accept"]})),
            Need::Permission("agents.manage"),
        ),
        (Method::GET, "/settings", "/settings".into(), None, Need::Agent),
        (
            Method::PUT,
            "/settings",
            "/settings".into(),
            Some(json!({"history_load_count": 5})),
            Need::Permission("settings.manage"),
        ),
        (Method::GET, "/workspace-settings", "/workspace-settings".into(), None, Need::Agent),
        (
            Method::PUT,
            "/workspace-settings",
            "/workspace-settings".into(),
            Some(json!({"offline_room_wait_secs": 3600})),
            Need::Permission("settings.manage"),
        ),
        (Method::GET, "/canned-responses", "/canned-responses".into(), None, Need::Agent),
        (Method::POST, "/canned-responses", "/canned-responses".into(), Some(canned.clone()), Need::Agent),
        (
            Method::PUT,
            "/canned-responses/{id}",
            format!("/canned-responses/{}", s.canned_id),
            Some(canned),
            Need::Agent,
        ),
        (
            Method::DELETE,
            "/canned-responses/{id}",
            format!("/canned-responses/{}", s.canned_id),
            None,
            Need::Agent,
        ),
        (Method::POST, "/rooms", "/rooms".into(), Some(json!({"name": "Ana"})), Need::Public),
        (Method::GET, "/rooms", "/rooms".into(), None, Need::Agent),
        (Method::GET, "/rooms/{id}", format!("/rooms/{room}"), None, Need::ReadRoom),
        (Method::GET, "/rooms/{id}/messages", format!("/rooms/{room}/messages"), None, Need::ReadRoom),
        (
            Method::POST,
            "/rooms/{id}/messages",
            format!("/rooms/{room}/messages"),
            Some(json!({"content": "hi"})),
            Need::WriteRoom,
        ),
        (
            Method::POST,
            "/rooms/{id}/accept",
            format!("/rooms/{room}/accept"),
            None,
            Need::Permission("rooms.accept"),
        ),
        (Method::POST, "/rooms/{id}/decline", format!("/rooms/{room}/decline"), None, Need::Agent),
        (Method::POST, "/rooms/{id}/close", format!("/rooms/{room}/close"), None, Need::ManageRoom),
        (
            Method::POST,
            "/rooms/{id}/transfer",
            format!("/rooms/{room}/transfer"),
            Some(json!({})),
            Need::ManageRoom,
        ),
        (Method::GET, "/rooms/{id}/visitor", format!("/rooms/{room}/visitor"), None, Need::ReadRoomAsAgent),
        (Method::GET, "/rooms/{id}/notes", format!("/rooms/{room}/notes"), None, Need::ReadRoomAsAgent),
        (
            Method::POST,
            "/rooms/{id}/notes",
            format!("/rooms/{room}/notes"),
            Some(json!({"content": "between us"})),
            Need::ReadRoomAsAgent,
        ),
        (Method::GET, "/team", "/team".into(), None, Need::Agent),
        (Method::GET, "/conversations", "/conversations".into(), None, Need::Agent),
        // The queued room has no rating: readers are told 404, others 403.
        (Method::GET, "/rooms/{id}/rating", format!("/rooms/{room}/rating"), None, Need::ReadRoomNotFound),
        (
            Method::POST,
            "/rooms/{id}/rating",
            format!("/rooms/{room}/rating"),
            Some(json!({"score": 5})),
            Need::RateRoom,
        ),
        (
            Method::GET,
            "/reports/ratings",
            "/reports/ratings".into(),
            None,
            Need::Permission("rooms.view_all"),
        ),
        (Method::PUT, "/presence", "/presence".into(), Some(json!({"status": "away"})), Need::Agent),
        (Method::GET, "/availability", "/availability".into(), None, Need::Public),
        (Method::GET, "/audit", "/audit".into(), None, Need::Permission("settings.manage")),
        (
            Method::GET,
            "/visitor-data",
            format!("/visitor-data?room_id={room}"),
            None,
            Need::Permissions(&["settings.manage", "rooms.view_all"]),
        ),
        (
            Method::POST,
            "/visitor-data/erase",
            "/visitor-data/erase".into(),
            Some(json!({"room_id": room})),
            Need::Permissions(&["settings.manage", "rooms.view_all"]),
        ),
        (Method::GET, "/webhooks", "/webhooks".into(), None, Need::Permission("settings.manage")),
        (
            Method::POST,
            "/webhooks",
            "/webhooks".into(),
            Some(webhook.clone()),
            Need::Permission("settings.manage"),
        ),
        (Method::GET, "/webhooks/{id}", hook.clone(), None, Need::Permission("settings.manage")),
        (
            Method::PATCH,
            "/webhooks/{id}",
            hook.clone(),
            Some(json!({"enabled": true})),
            Need::Permission("settings.manage"),
        ),
        (Method::DELETE, "/webhooks/{id}", hook.clone(), None, Need::Permission("settings.manage")),
        (
            Method::POST,
            "/webhooks/{id}/test",
            format!("{hook}/test"),
            None,
            Need::Permission("settings.manage"),
        ),
        (
            Method::GET,
            "/webhooks/{id}/deliveries",
            format!("{hook}/deliveries"),
            None,
            Need::Permission("settings.manage"),
        ),
        (Method::GET, "/openapi.json", "/openapi.json".into(), None, Need::Public),
        // The operator routes, beside the API (probes and Prometheus).
        (Method::GET, "ops:/healthz", "/healthz".into(), None, Need::Public),
        (Method::GET, "ops:/readyz", "/readyz".into(), None, Need::Public),
        (Method::GET, "ops:/metrics", "/metrics".into(), None, Need::Public),
    ]
}

#[tokio::test]
async fn every_rest_route_answers_every_caller_as_the_matrix_says() {
    let app = spawn_app_without_limits().await;
    let admin = app.admin_token().await;
    let admin_id =
        app.login("admin", ADMIN_PASSWORD).await.json(200)["agent"]["id"].as_str().unwrap().to_string();
    let room = app.create_room("Ana", Some("help")).await;
    let foreign = app.create_room("Mallory", None).await;
    let canned = app
        .post("/canned-responses", Some(&admin), json!({"shortcut": "mine", "title": "Mine", "body": "x"}))
        .await;
    let webhook =
        app.post("/webhooks", Some(&admin), json!({"url": PUBLIC_ENDPOINT, "events": ["room.rated"]})).await;
    let scene = Scene {
        room: room.id.clone(),
        admin_id: admin_id.clone(),
        canned_id: canned.json(201)["id"].as_str().unwrap().into(),
        webhook_id: webhook.json(201)["id"].as_str().unwrap().into(),
    };

    // One group and one agent per permission, and one with none.
    let mut tokens = Vec::new();
    for caller in Caller::every() {
        let token = match caller {
            Caller::Anonymous => None,
            Caller::Expired => {
                Some(forge_token(&agent_claims(&admin_id, 0, now_secs() - 7200, now_secs() - 3600)))
            }
            Caller::Revoked => {
                let victim = app.create_agent("agent").await;
                app.patch(
                    &format!("/agents/{}", victim.id),
                    Some(&admin),
                    json!({"password": "changed-pass-1"}),
                )
                .await
                .ok(200);
                Some(victim.token)
            }
            Caller::Visitor => Some(room.visitor_token.clone()),
            Caller::ForeignVisitor => Some(foreign.visitor_token.clone()),
            Caller::Bare | Caller::Only(_) => {
                let permissions: Vec<&str> = match caller {
                    Caller::Only(p) => vec![p],
                    _ => vec![],
                };
                let group =
                    format!("only-{}", permissions.first().map_or("none".into(), |p| p.replace('.', "-")));
                app.post("/groups", Some(&admin), json!({"name": group, "permissions": permissions}))
                    .await
                    .ok(201);
                Some(app.create_agent(&group).await.token)
            }
            Caller::Admin => Some(admin.clone()),
        };
        tokens.push((caller, token));
    }

    let routes = rest_routes(&scene);
    // Every route the router serves has a row, and no row is stale.
    let spec = app.get("/openapi.json", None).await.json(200).clone();
    let served: BTreeSet<String> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            let path = path.strip_prefix("/api/v1").map_or_else(|| format!("ops:{path}"), str::to_string);
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| format!("{} {path}", m.to_uppercase()))
                .collect::<Vec<_>>()
        })
        .collect();
    let listed: BTreeSet<String> = routes.iter().map(|(m, p, ..)| format!("{m} {p}")).collect();
    assert_eq!(served, listed, "every REST route needs a row in the matrix (and only those)");

    let mut wrong = Vec::new();
    for (method, template, path, body, need) in &routes {
        for (caller, token) in &tokens {
            let expected = need.answer(*caller);
            // Allowed calls change things; only reads are sent.
            if expected.is_none() && *method != Method::GET {
                continue;
            }
            let r = app.request(method.clone(), path, token.as_deref(), body.clone()).await;
            let ok = match expected {
                Some(status) => r.code() == status,
                None => r.status.is_success(),
            };
            if !ok {
                wrong.push(format!(
                    "{method} {template} as {caller:?}: expected {expected:?}, got {} {}",
                    r.code(),
                    r.text
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{} answers differ from the matrix:\n{}", wrong.len(), wrong.join("\n"));
}

/// Every RPC of livechat.v1 that takes no token (GetAvailability answers
/// a yes or no, for the widget; GetWidgetPolicy what every browser reads in
/// the widget page's policy anyway).
const PUBLIC_RPCS: [&str; 4] = [
    "/livechat.v1.AuthService/Login",
    "/livechat.v1.RoomService/CreateRoom",
    "/livechat.v1.TeamService/GetAvailability",
    "/livechat.v1.AdminService/GetWidgetPolicy",
];

/// RPCs whose tokens come inside the call, one per connection (a gateway's
/// event feed): each of its opens is refused as `Subscribe` would be
/// (`a_feed_refuses_every_bad_token_it_is_given`).
const PER_CONNECTION_RPCS: [&str; 1] = ["/livechat.v1.EventService/Feed"];

/// RPCs a visitor's token may call without naming a room.
const VISITOR_RPCS: [&str; 2] = ["/livechat.v1.EventService/Subscribe", "/livechat.v1.AuthService/WhoAmI"];

/// Every RPC of livechat.v1, read from the compiled proto.
fn every_rpc() -> Vec<String> {
    let set = prost_types::FileDescriptorSet::decode(livechat_proto::FILE_DESCRIPTOR_SET).unwrap();
    let mut rpcs = Vec::new();
    for file in set.file.iter().filter(|f| f.package() == "livechat.v1") {
        for service in &file.service {
            for method in &service.method {
                rpcs.push(format!("/livechat.v1.{}/{}", service.name(), method.name()));
            }
        }
    }
    rpcs
}

#[tokio::test]
async fn every_rpc_but_login_and_create_room_refuses_bad_tokens_and_foreign_visitors() {
    let app = spawn_app_without_limits().await;
    let admin_id =
        app.login("admin", ADMIN_PASSWORD).await.json(200)["agent"]["id"].as_str().unwrap().to_string();
    let rpcs = every_rpc();
    assert!(rpcs.len() >= 27, "the descriptor lists the API: {rpcs:?}");
    for public in PUBLIC_RPCS {
        assert!(rpcs.iter().any(|r| r == public), "{public} is still an RPC");
    }
    let expired = forge_token(&agent_claims(&admin_id, 0, now_secs() - 7200, now_secs() - 3600));
    let forged = livechat_test_support::grpc::tokens::forge_token_with(
        "not-the-secret-of-this-server-0123456789",
        &agent_claims(&admin_id, 0, now_secs(), now_secs() + 3600),
    );
    let revoked = {
        let admin = app.admin_token().await;
        let victim = app.create_agent("agent").await;
        app.patch(&format!("/agents/{}", victim.id), Some(&admin), json!({"password": "changed-pass-1"}))
            .await
            .ok(200);
        victim.token
    };
    // Another room's visitor: whatever an RPC is about (here, no room at
    // all), it is not theirs.
    let visitor = app.create_room("Mallory", None).await.visitor_token;
    let channel =
        tonic::transport::Endpoint::from_shared(app.grpc_address.clone()).unwrap().connect().await.unwrap();
    let mut wrong = Vec::new();
    let per_connection = |r: &&String| PER_CONNECTION_RPCS.contains(&r.as_str());
    for rpc in rpcs.iter().filter(|r| !PUBLIC_RPCS.contains(&r.as_str()) && !per_connection(r)) {
        let callers = [
            ("no token", None, tonic::Code::Unauthenticated),
            ("expired", Some(&expired), tonic::Code::Unauthenticated),
            ("forged", Some(&forged), tonic::Code::Unauthenticated),
            ("revoked", Some(&revoked), tonic::Code::Unauthenticated),
            ("a visitor", Some(&visitor), tonic::Code::PermissionDenied),
        ];
        for (who, token, expected) in callers {
            // A visitor may open their own stream and ask who they are.
            if who == "a visitor" && VISITOR_RPCS.contains(&rpc.as_str()) {
                continue;
            }
            let mut grpc = tonic::client::Grpc::new(channel.clone());
            grpc.ready().await.unwrap();
            // An empty message is a valid request of any type.
            let mut request = tonic::Request::new(());
            if let Some(t) = token {
                request.metadata_mut().insert("authorization", format!("Bearer {t}").parse().unwrap());
            }
            let path = rpc.parse().unwrap();
            let codec = tonic_prost::ProstCodec::<(), ()>::default();
            let answer = grpc.unary(request, path, codec).await;
            match answer {
                Err(status) if status.code() == expected => {}
                other => wrong.push(format!("{rpc} with {who}: expected {expected:?}, got {other:?}")),
            }
        }
    }
    assert!(wrong.is_empty(), "RPCs that did not refuse:\n{}", wrong.join("\n"));
    let bad = [("no token", ""), ("expired", &expired), ("forged", &forged), ("revoked", &revoked)];
    a_feed_refuses_every_bad_token_it_is_given(channel, &bad, &visitor).await;
}

/// Opens a connection per token on one `Feed`: each bad one is refused
/// with `unauthenticated`, and the visitor's own subscription opens.
async fn a_feed_refuses_every_bad_token_it_is_given(
    channel: tonic::transport::Channel,
    bad: &[(&str, &str)],
    visitor: &str,
) {
    use livechat_proto::v1::{self as pb, feed_message::Kind};
    let open = |conn: u64, token: &str| pb::FeedRequest {
        kind: Some(pb::feed_request::Kind::Open(pb::FeedOpen { conn, token: token.into() })),
    };
    let (requests, outgoing) = futures::channel::mpsc::unbounded();
    for (conn, (_, token)) in bad.iter().enumerate() {
        requests.unbounded_send(open(conn as u64, token)).unwrap();
    }
    requests.unbounded_send(open(99, visitor)).unwrap();
    let mut client = pb::event_service_client::EventServiceClient::new(channel);
    let mut answers = client.feed(outgoing).await.expect("a feed opens without a token").into_inner();
    let mut refused = vec![None; bad.len()];
    let mut visitor_opened = false;
    while refused.iter().any(Option::is_none) || !visitor_opened {
        let answer = tokio::time::timeout(std::time::Duration::from_secs(10), answers.message())
            .await
            .expect("every open is answered")
            .unwrap()
            .and_then(|m| m.kind)
            .expect("an answer");
        match answer {
            Kind::Ended(e) if (e.conn as usize) < bad.len() => refused[e.conn as usize] = Some(e.code),
            Kind::Opened(o) if o.conn == 99 => {
                assert_eq!(o.snapshot.unwrap().role, "visitor");
                visitor_opened = true;
            }
            other => panic!("unexpected answer on the feed: {other:?}"),
        }
    }
    for ((who, _), code) in bad.iter().zip(refused) {
        assert_eq!(code, Some(tonic::Code::Unauthenticated as i32), "a feed connection with {who}");
    }
    drop(requests);
    let end = tokio::time::timeout(std::time::Duration::from_secs(10), answers.message()).await;
    assert!(matches!(end, Ok(Ok(None))), "the feed ends with the gateway's requests: {end:?}");
}
