//! Request extractors that fail with problem+json: JSON bodies (malformed →
//! 400, wrong shape → 422 naming the field, too big → 413), optional
//! bodies, query strings, and the caller's token.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::core_call::Token;
use crate::problem::{ApiError, FieldProblem};

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_data() {
            let field = if path == "." { "body".to_string() } else { path };
            let message = inner.to_string();
            // serde names a missing field itself; point at it.
            let field = match message.strip_prefix("missing field `").and_then(|m| m.split('`').next()) {
                Some(missing) => missing.to_string(),
                None => field,
            };
            ApiError::invalid_fields(vec![FieldProblem {
                field,
                message: in_plain_words(&strip_position(&message)),
            }])
        } else {
            ApiError::malformed(format!("the body is not valid JSON: {}", strip_position(&inner.to_string())))
        }
    })
}

/// serde's wording for a value of the wrong type, in the words of a form
/// a person filled in: `invalid type: string "x", expected u32` becomes
/// "must be a whole number, 0 or more". Other messages pass unchanged.
fn in_plain_words(message: &str) -> String {
    let Some((_, expected)) = message.rsplit_once(", expected ") else { return message.to_string() };
    let plain = match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" => "must be a whole number, 0 or more",
        "i8" | "i16" | "i32" | "i64" | "isize" => "must be a whole number",
        "f32" | "f64" => "must be a number",
        "a boolean" => "must be true or false",
        "a string" => "must be text",
        "a sequence" => "must be a list",
        _ => return message.to_string(),
    };
    plain.to_string()
}

fn strip_position(m: &str) -> String {
    m.split(" at line ").next().unwrap_or(m).to_string()
}

async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(_) => ApiError::new(
            livechat_proto::ErrorCode::TooLarge,
            format!("the body must be at most {MAX_BODY_BYTES} bytes"),
        ),
        other => ApiError::malformed(other.body_text()),
    })
}

/// A JSON body. The content type is not insisted on: a body that parses is
/// accepted, one that does not is a clear 400.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = body_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::malformed("a JSON body is required"));
        }
        parse_json(&bytes).map(JsonBody)
    }
}

/// A JSON body that may be left out entirely (close, transfer).
#[derive(Debug)]
pub struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = body_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        parse_json(&bytes).map(OptionalJson)
    }
}

/// A query string; a value of the wrong type names its parameter.
#[derive(Debug)]
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(q.as_bytes()));
        serde_path_to_error::deserialize(de).map(QueryParams).map_err(|e| {
            let field = e.path().to_string();
            ApiError::invalid(if field == "." { "query" } else { &field }, e.into_inner().to_string())
        })
    }
}

impl FromRequestParts<crate::AppState> for Token {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, s: &crate::AppState) -> Result<Self, ApiError> {
        let Token(bearer, _) = parts
            .extensions
            .get::<Token>()
            .cloned()
            .ok_or_else(|| ApiError::unauthorized("a bearer token is required"))?;
        let ClientIp(client) = ClientIp::from_request_parts(parts, s).await.unwrap_or(ClientIp(None));
        Ok(Token(bearer, client))
    }
}

/// The request id the request-id layer set, for logs and the core.
#[derive(Debug, Clone, Default)]
pub struct RequestId(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestId(parts.headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned)))
    }
}

/// The client's address (see `client_address`), when the server was
/// started with connect info.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<std::net::IpAddr>);

impl FromRequestParts<crate::AppState> for ClientIp {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, s: &crate::AppState) -> Result<Self, Self::Rejection> {
        let info = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>();
        Ok(ClientIp(info.map(|c| s.limits.proxies.client(c.0.ip(), &parts.headers))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        content: String,
        limit: Option<u32>,
    }

    #[test]
    fn malformed_json_is_a_400() {
        let e = parse_json::<Body>(b"{\"content\": ").unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (400, livechat_proto::ErrorCode::Invalid));
    }

    #[test]
    fn a_missing_field_is_named() {
        let e = parse_json::<Body>(b"{}").unwrap_err();
        assert_eq!(e.status.as_u16(), 422);
        assert_eq!(e.errors[0].field, "content");
    }

    #[test]
    fn a_wrongly_typed_field_is_named_in_plain_words() {
        let e = parse_json::<Body>(br#"{"content":"x","limit":"many"}"#).unwrap_err();
        assert_eq!(e.errors[0].field, "limit");
        assert_eq!(e.errors[0].message, "must be a whole number, 0 or more");
        let e = parse_json::<Body>(br#"{"content":"x","limit":-3}"#).unwrap_err();
        assert_eq!(e.errors[0].message, "must be a whole number, 0 or more");
        let e = parse_json::<Body>(br#"{"content":7}"#).unwrap_err();
        assert_eq!((e.errors[0].field.as_str(), e.errors[0].message.as_str()), ("content", "must be text"));
    }

    #[test]
    fn invalid_utf8_is_a_400_not_a_panic() {
        let e = parse_json::<Body>(b"{\"content\":\"\xff\"}").unwrap_err();
        assert_eq!(e.status.as_u16(), 400);
    }
}

/// Property tests: any body gets a 400 or a 422 naming a field, or parses;
/// never a panic, never another status.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_body_parses_or_is_a_400_or_422(body in prop::collection::vec(any::<u8>(), 0..200)) {
            if let Err(e) = parse_json::<crate::routes::rooms::CreateRoomRequest>(&body) {
                prop_assert!(matches!(e.status.as_u16(), 400 | 422), "{}", e.status);
                prop_assert_eq!(e.code, livechat_proto::ErrorCode::Invalid);
            }
        }

        #[test]
        fn json_with_any_fields_names_the_bad_one(
            name in prop_oneof![Just(serde_json::Value::Null), any::<i64>().prop_map(serde_json::Value::from), ".{0,20}".prop_map(serde_json::Value::from)],
            message in prop_oneof![Just(serde_json::Value::Null), any::<bool>().prop_map(serde_json::Value::from), ".{0,20}".prop_map(serde_json::Value::from)],
        ) {
            let body = serde_json::json!({"name": name, "message": message}).to_string();
            match parse_json::<crate::routes::rooms::CreateRoomRequest>(body.as_bytes()) {
                Ok(r) => prop_assert!(name.is_string() && (message.is_null() || message.is_string()), "{r:?}"),
                Err(e) => {
                    prop_assert_eq!(e.status.as_u16(), 422);
                    prop_assert!(e.errors.iter().any(|f| f.field == "name" || f.field == "message"), "{:?}", e.errors);
                }
            }
        }
    }
}

/// The seed corpus in `fuzz-corpus/bodies`: request bodies an adversarial
/// run sent, replayed on every run.
#[cfg(test)]
mod corpus {
    use super::*;

    #[test]
    fn every_body_of_the_corpus_is_a_clear_400_or_422() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz-corpus/bodies");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let body = std::fs::read(&path).unwrap();
            if let Err(e) = parse_json::<crate::routes::rooms::CreateRoomRequest>(&body) {
                assert!(matches!(e.status.as_u16(), 400 | 422), "{}: {}", path.display(), e.status);
                assert_eq!(e.code, livechat_proto::ErrorCode::Invalid);
            }
            seen += 1;
        }
        assert!(seen >= 8, "the corpus is there: {seen} files");
    }
}
