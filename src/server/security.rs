//! Request guard: the token (when the server is bound beyond loopback) and cross-site
//! request forgery protection for every state-changing request.

use super::error::AppError;
use super::state::AppState;
use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

fn token_ok(state: &AppState, req: &Request) -> bool {
    let Some(expected) = &state.token else { return true };
    let bearer = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let cookie = req.headers().get(header::COOKIE).and_then(|v| v.to_str().ok()).and_then(|c| {
        c.split(';').map(str::trim).find_map(|kv| kv.strip_prefix("flawmap_token="))
    });
    let query = req.uri().query().and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("token=")));
    [bearer, cookie, query].into_iter().flatten().any(|t| constant_time_eq(t.as_bytes(), expected.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A state-changing request must come from this site: browsers send Sec-Fetch-Site or
/// Origin on cross-site requests; either naming another site is refused.
fn same_site(req: &Request) -> bool {
    if let Some(site) = req.headers().get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    match (req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()), req.headers().get(header::HOST).and_then(|v| v.to_str().ok())) {
        (Some(origin), Some(host)) => origin.split("://").nth(1) == Some(host),
        (Some(_), None) => false,
        _ => true,
    }
}

pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api");
    let deny = |e: AppError| if api { e.into_response() } else { e.into_html() };
    if !token_ok(&state, &req) {
        return deny(AppError::Unauthorized("a valid token is required (Authorization: Bearer, or ?token=)".into()));
    }
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe && !same_site(&req) {
        return deny(AppError::Forbidden("cross-site request refused".into()));
    }
    let set_cookie = state.token.is_some() && req.uri().query().is_some_and(|q| q.contains("token="));
    let mut res = next.run(req).await;
    if set_cookie && let Some(t) = &state.token {
        // A link with ?token= logs the browser in for later requests.
        if let Ok(v) = format!("flawmap_token={t}; HttpOnly; SameSite=Strict; Path=/").parse() {
            res.headers_mut().insert(header::SET_COOKIE, v);
        }
    }
    res
}
