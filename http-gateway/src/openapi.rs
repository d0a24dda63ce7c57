//! The OpenAPI 3.1 document: generated from the handlers (utoipa-axum), then
//! completed with what the middleware adds to every route, so that the
//! document describes every response a client can actually get.

use utoipa::openapi::path::Operation;
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Response};

const PROBLEM: &str = "application/problem+json";

fn problem(description: &str) -> RefOr<Response> {
    let mut r = Response::new(description);
    r.content.insert(PROBLEM.into(), Content::new(Some(Ref::from_schema_name("Problem"))));
    RefOr::T(r)
}

/// Errors are problem+json, and the statuses the middleware produces are
/// listed on every operation they apply to.
pub fn document_errors(doc: &mut OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let api = path.starts_with("/api/v1/") && path != "/api/v1/openapi.json";
        let ops = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
        for op in ops.into_iter().flatten() {
            complete(op, api);
        }
    }
}

fn complete(op: &mut Operation, api: bool) {
    let responses = &mut op.responses.responses;
    // Error bodies are problem+json, not plain JSON.
    for (status, r) in responses.iter_mut() {
        if (status.starts_with('4') || status.starts_with('5'))
            && let RefOr::T(r) = r
            && let Some(c) = r.content.shift_remove("application/json")
        {
            r.content.insert(PROBLEM.into(), c);
        }
    }
    if !api {
        return;
    }
    let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let has_body = op.request_body.is_some();
    let mut add = |status: &str, what: &str| {
        responses.entry(status.into()).or_insert_with(|| problem(what));
    };
    if has_body {
        add("400", "The body is not valid JSON");
        add("413", "The body is too large");
        add("422", "A field is missing or invalid");
    }
    if secured {
        add("401", "No bearer token, or an expired, revoked or invalid one");
        add("403", "The token may not do this");
    }
    if op.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
        add("422", "A parameter is invalid");
    }
    add("429", "Too many requests; see Retry-After");
    add("500", "Internal error");
    add("503", "The core or its database is unavailable, or the request timed out");
}
