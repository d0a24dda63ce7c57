//! Setting scenes up over REST: logging in, agents, rooms, messages and
//! settings. Calls named like the endpoint return the [`Resp`] for tests
//! that assert on it; the others assert success and return what was made.

use std::sync::atomic::Ordering;

use reqwest::Method;
use serde_json::{Value, json};

use super::Resp;
use crate::app::TestApp;
use crate::shapes::assert_keys;
use crate::{ADMIN_PASSWORD, AGENT_PASSWORD, TestAgent};

/// A visitor's room made for a test.
#[derive(Debug, Clone)]
pub struct TestRoom {
    pub id: String,
    pub room: Value,
    pub visitor_token: String,
}

impl TestApp {
    // -- auth ---------------------------------------------------------------

    /// POST /auth/login.
    pub async fn login(&self, username: &str, password: &str) -> Resp {
        self.post("/auth/login", None, json!({"username": username, "password": password})).await
    }

    /// The bootstrap `admin` (group admin: may accept and manage everything),
    /// logged in once, on first use. Costs no extra password hash, so tests
    /// that need one agent use it.
    pub async fn admin(&self) -> TestAgent {
        self.admin
            .get_or_init(|| async {
                let r = self.login("admin", ADMIN_PASSWORD).await;
                let b = r.json(200);
                TestAgent {
                    id: b["agent"]["id"].as_str().expect("agent id").into(),
                    username: "admin".into(),
                    name: b["agent"]["name"].as_str().expect("agent name").into(),
                    group: "admin".into(),
                    token: b["access_token"].as_str().expect("access_token").into(),
                }
            })
            .await
            .clone()
    }

    /// A token of the bootstrap `admin` (logged in once, on first use).
    pub async fn admin_token(&self) -> String {
        self.admin().await.token
    }

    /// Creates an agent in `group` through POST /agents and logs it in;
    /// its name is made up.
    pub async fn create_agent(&self, group: &str) -> TestAgent {
        self.make_agent(group, None).await
    }

    /// Creates an agent named `name` in group `agent` and logs it in, for
    /// tests that show the name to others.
    pub async fn create_named_agent(&self, name: &str) -> TestAgent {
        self.make_agent("agent", Some(name)).await
    }

    async fn make_agent(&self, group: &str, name: Option<&str>) -> TestAgent {
        let n = self.agents_made.fetch_add(1, Ordering::SeqCst) + 1;
        let username = format!("{group}{n}");
        let name = name.map_or_else(|| format!("Agent {group} {n}"), str::to_string);
        let admin = self.admin_token().await;
        let r = self
            .post(
                "/agents",
                Some(&admin),
                json!({"username": username, "password": AGENT_PASSWORD, "name": name, "group": group}),
            )
            .await;
        let agent = r.json(201).clone();
        let id = agent["id"].as_str().expect("agent id").to_string();
        let r = self.login(&username, AGENT_PASSWORD).await;
        let token = r.json(200)["access_token"].as_str().expect("access_token").to_string();
        TestAgent { id, username, name, group: group.into(), token }
    }

    // -- rooms --------------------------------------------------------------

    /// POST /rooms as a web visitor; `message` becomes seq 1.
    pub async fn create_room(&self, name: &str, message: Option<&str>) -> TestRoom {
        let mut body = json!({"name": name});
        if let Some(m) = message {
            body["message"] = json!(m);
        }
        let r = self.post("/rooms", None, body).await;
        let b = r.json(201);
        assert_keys(b, &["room", "visitor_token"]);
        TestRoom {
            id: b["room"]["id"].as_str().expect("room id").to_string(),
            room: b["room"].clone(),
            visitor_token: b["visitor_token"].as_str().expect("visitor_token").to_string(),
        }
    }

    /// GET /rooms/{id}.
    pub async fn get_room(&self, token: &str, room_id: &str) -> Resp {
        self.get(&format!("/rooms/{room_id}"), Some(token)).await
    }

    /// GET /rooms/{id} as `token` (asserted to succeed): the room.
    pub async fn room(&self, token: &str, room_id: &str) -> Value {
        self.get_room(token, room_id).await.ok(200).clone()
    }

    /// GET /rooms with a raw query string ("" for none).
    pub async fn list_rooms(&self, token: &str, query: &str) -> Resp {
        let q = if query.is_empty() { String::new() } else { format!("?{query}") };
        self.get(&format!("/rooms{q}"), Some(token)).await
    }

    /// POST /rooms/{id}/accept.
    pub async fn accept(&self, token: &str, room_id: &str) -> Resp {
        self.post_empty(&format!("/rooms/{room_id}/accept"), Some(token)).await
    }

    /// POST /rooms/{id}/accept as `agent` (asserted to succeed): the room.
    pub async fn accepted(&self, agent: &TestAgent, room_id: &str) -> Value {
        let room = self.accept(&agent.token, room_id).await.ok(200).clone();
        assert_eq!(room["status"], "engaged", "{room}");
        room
    }

    /// A room that `agent` has accepted (asserted).
    pub async fn engaged_room(&self, agent: &TestAgent, name: &str) -> TestRoom {
        let room = self.create_room(name, Some("hello")).await;
        let r = self.accept(&agent.token, &room.id).await;
        assert_eq!(r.json(200)["status"], "engaged");
        room
    }

    /// POST /rooms/{id}/close.
    pub async fn close(&self, token: &str, room_id: &str, body: Option<Value>) -> Resp {
        self.request(Method::POST, &format!("/rooms/{room_id}/close"), Some(token), body).await
    }

    // -- messages -------------------------------------------------------------

    /// POST /rooms/{id}/messages.
    pub async fn send(&self, token: &str, room_id: &str, content: &str, client_id: Option<&str>) -> Resp {
        let mut body = json!({"content": content});
        if let Some(c) = client_id {
            body["client_id"] = json!(c);
        }
        self.post(&format!("/rooms/{room_id}/messages"), Some(token), body).await
    }

    /// POST /rooms/{id}/messages (asserted to succeed): the stored message.
    pub async fn sent(&self, token: &str, room_id: &str, content: &str) -> Value {
        self.send(token, room_id, content, None).await.ok(201).clone()
    }

    /// GET /rooms/{id}/messages with a raw query string ("" for none).
    pub async fn history(&self, token: &str, room_id: &str, query: &str) -> Resp {
        let q = if query.is_empty() { String::new() } else { format!("?{query}") };
        self.get(&format!("/rooms/{room_id}/messages{q}"), Some(token)).await
    }

    // -- settings -------------------------------------------------------------

    /// GET /settings.
    pub async fn settings(&self, token: &str) -> Resp {
        self.get("/settings", Some(token)).await
    }

    /// PUT /settings as the admin (asserted to succeed): the new settings.
    pub async fn set_settings(&self, settings: Value) -> Value {
        let admin = self.admin_token().await;
        self.put("/settings", Some(&admin), settings).await.ok(200).clone()
    }
}
