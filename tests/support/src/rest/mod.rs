//! REST over real HTTP (docs/protocol.md "REST"): requests against a [`TestApp`],
//! the answer as a [`Resp`], and the problem+json assertions every error
//! answer must pass. Scene-setting calls (log in, create agents and rooms,
//! send) are in [`scenes`].

mod scenes;

pub use scenes::TestRoom;

use reqwest::Method;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde_json::{Value, json};

use crate::app::TestApp;

/// The docs/protocol.md settings defaults.
pub fn default_settings() -> Value {
    json!({
        "history_load_count": 20,
        "room_idle_timeout_secs": 120,
        "agent_grace_secs": 30,
        "agent_join_message": "{agent} has entered the chat",
        "agent_leave_message": "{agent} has left the chat",
        "close_message": "This chat has been closed. Thank you!",
        "max_message_chars": 4000,
    })
}

/// One HTTP answer: status, headers and the body (as JSON when it is JSON).
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    /// The body parsed as JSON; `Value::Null` when it is not JSON.
    pub body: Value,
}

impl Resp {
    /// The status as a number, to compare with docs/protocol.md's.
    pub fn code(&self) -> u16 {
        self.status.as_u16()
    }

    /// The Content-Type header ("" when there is none).
    pub fn content_type(&self) -> &str {
        self.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// Asserts the status (only) and returns the body: for setting scenes up.
    #[track_caller]
    pub fn ok(&self, status: u16) -> &Value {
        assert_eq!(self.code(), status, "expected {status}, got {} with body {}", self.code(), self.text);
        &self.body
    }

    /// Asserts the status and a JSON body, and returns the body.
    #[track_caller]
    pub fn json(&self, status: u16) -> &Value {
        assert_eq!(self.code(), status, "expected {status}, got {} with body {}", self.code(), self.text);
        assert!(
            self.content_type().starts_with("application/json"),
            "a {status} answer should be application/json, is {:?}: {}",
            self.content_type(),
            self.text
        );
        &self.body
    }

    /// Asserts a problem+json answer with this status and docs/protocol.md code.
    #[track_caller]
    pub fn problem(&self, status: u16, code: &str) -> &Value {
        assert_eq!(
            self.code(),
            status,
            "expected a {status} `{code}` problem, got {} with body {}",
            self.code(),
            self.text
        );
        assert_problem_shape(self);
        assert_eq!(self.body["code"], code, "wrong problem code: {}", self.text);
        &self.body
    }

    /// Asserts a 422 `invalid` problem whose `errors` name `field`.
    #[track_caller]
    pub fn invalid_field(&self, field: &str) -> &Value {
        self.problem(422, "invalid");
        let fields = self.error_fields();
        assert!(
            fields.iter().any(|f| f == field),
            "the 422 should name `{field}` in errors, names {fields:?}: {}",
            self.text
        );
        &self.body
    }

    /// The `field`s of a problem's `errors`.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| a.iter().map(|e| e["field"].as_str().unwrap_or_default().to_string()).collect())
            .unwrap_or_default()
    }
}

/// The RFC 9457 shape docs/protocol.md asks for, whatever the code.
#[track_caller]
pub fn assert_problem_shape(r: &Resp) {
    assert_eq!(
        r.content_type(),
        "application/problem+json",
        "an error must be application/problem+json: {} {}",
        r.code(),
        r.text
    );
    let b = &r.body;
    assert!(b.is_object(), "problem body is not a JSON object: {}", r.text);
    assert_eq!(b["type"], "about:blank", "problem type: {}", r.text);
    assert!(b["title"].is_string(), "problem title: {}", r.text);
    assert!(b["detail"].is_string(), "problem detail: {}", r.text);
    assert_eq!(b["status"], r.code(), "problem status must equal the HTTP status: {}", r.text);
    let code = b["code"].as_str().unwrap_or_else(|| panic!("problem code missing: {}", r.text));
    let expected_status = match code {
        "invalid" => vec![400, 405, 422],
        "unauthorized" => vec![401],
        "forbidden" => vec![403],
        "not_found" => vec![404],
        "conflict" => vec![409],
        "too_large" => vec![413],
        "rate_limited" => vec![429],
        "unavailable" => vec![503],
        "internal" => vec![500],
        other => panic!("`{other}` is not a docs/protocol.md code: {}", r.text),
    };
    assert!(expected_status.contains(&r.code()), "code `{code}` with status {}: {}", r.code(), r.text);
    if let Some(errors) = b.get("errors") {
        for e in errors.as_array().expect("errors is an array") {
            assert!(e["field"].is_string() && e["message"].is_string(), "errors item: {e}");
        }
    }
}

impl TestApp {
    /// The URL of `path`: under /api/v1 unless it starts with /api/ or is
    /// one of the operator endpoints.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("/api/") || is_root_path(path) {
            format!("{}{path}", self.address)
        } else {
            format!("{}/api/v1{path}", self.address)
        }
    }

    /// Sends a request and reads the whole answer. `path` is under /api/v1
    /// unless it is /healthz, /readyz or /metrics or starts with /api/.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        read(req.send().await.unwrap_or_else(|e| panic!("request to {path} failed: {e}"))).await
    }

    /// Sends raw bytes as the body (with a JSON content type).
    pub async fn request_raw(&self, method: Method, path: &str, token: Option<&str>, body: Vec<u8>) -> Resp {
        let mut req =
            self.client.request(method, self.url(path)).header(CONTENT_TYPE, "application/json").body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        read(req.send().await.unwrap_or_else(|e| panic!("request to {path} failed: {e}"))).await
    }

    /// GET `path`.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.request(Method::GET, path, token, None).await
    }
    /// POST `path` with a JSON body.
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.request(Method::POST, path, token, Some(body)).await
    }
    /// POST `path` without a body.
    pub async fn post_empty(&self, path: &str, token: Option<&str>) -> Resp {
        self.request(Method::POST, path, token, None).await
    }
    /// PUT `path` with a JSON body.
    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.request(Method::PUT, path, token, Some(body)).await
    }
    /// PATCH `path` with a JSON body.
    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.request(Method::PATCH, path, token, Some(body)).await
    }
    /// DELETE `path`.
    pub async fn delete(&self, path: &str, token: Option<&str>) -> Resp {
        self.request(Method::DELETE, path, token, None).await
    }
}

fn is_root_path(path: &str) -> bool {
    let p = path.split('?').next().unwrap_or(path);
    matches!(p, "/healthz" | "/readyz" | "/metrics")
}

async fn read(r: reqwest::Response) -> Resp {
    let status = r.status();
    let headers = r.headers().clone();
    let bytes = r.bytes().await.expect("read the response body");
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Resp { status, headers, text, body }
}
