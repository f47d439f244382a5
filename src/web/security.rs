//! Request guard: the Host allow-list (DNS rebinding), the token (when the server is bound
//! beyond loopback) and cross-site request forgery protection for every state-changing
//! request.

use super::error::AppError;
use super::state::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

fn token_ok(state: &AppState, req: &Request) -> bool {
    let Some(expected) = &state.token else {
        return true;
    };
    let bearer = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let cookie = req
        .headers()
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| c.split(';').map(str::trim).find_map(|kv| kv.strip_prefix("flawmap_token=")));
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

/// The host a request names: the `Host` header, or the URI's authority (HTTP/2), without
/// the port. `None` when the request names none (not a browser: browsers always send one).
fn request_host(req: &Request) -> Option<String> {
    let raw = req.headers().get(header::HOST).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let raw = raw.or_else(|| req.uri().authority().map(|a| a.as_str().to_string()))?;
    Some(normalise_host(&raw))
}

/// `Host`-style text as it is compared: lower case, no port, no trailing dot; an IPv6
/// literal keeps its brackets, and anything after `]` but a port makes it unmatchable.
pub fn normalise_host(raw: &str) -> String {
    let host = match raw.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((v6, tail)) if tail.is_empty() || tail.strip_prefix(':').is_some_and(|p| p.chars().all(|c| c.is_ascii_digit())) => {
                format!("[{v6}]")
            }
            _ => return "(malformed)".into(),
        },
        None => raw.rsplit_once(':').map_or(raw, |(h, _port)| h).to_string(),
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// A DNS-rebinding page reaches the dashboard under its own domain name, so its requests
/// carry that name in `Host`. Accepted: IP literals (a page can only carry one that it was
/// itself loaded from), `localhost`, and the names given with `--allowed-host`.
pub fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let ip_literal = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => host.parse::<std::net::Ipv4Addr>().is_ok(),
    };
    ip_literal || host == "localhost" || allowed.iter().any(|a| a == host)
}

/// Headers on every response: page scripts come only from `/static` (no inline script, so
/// markup that slipped into a page could not run), no framing, no sniffing, and no Referer
/// to other sites (a `?token=` URL must not leak; `no-referrer` would also blank the `Origin`
/// of form posts, which the forgery check needs).
pub fn response_headers() -> [(HeaderName, HeaderValue); 3] {
    [
        (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::REFERRER_POLICY, HeaderValue::from_static("same-origin")),
    ]
}

pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                       connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api");
    let deny = |e: AppError| {
        if api { e.into_response() } else { e.into_html() }
    };
    if let Some(host) = request_host(&req)
        && !host_allowed(&host, &state.allowed_hosts)
    {
        return deny(AppError::Forbidden(format!(
            "host '{host}' is not allowed: reach the dashboard by its IP address or localhost, or start it with --allowed-host {host}"
        )));
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn host_of(value: &str) -> Option<String> {
        let req = Request::builder().uri("/").header(header::HOST, value).body(axum::body::Body::empty()).unwrap();
        request_host(&req)
    }

    #[test]
    fn hosts_are_parsed_without_ports_and_case() {
        assert_eq!(host_of("127.0.0.1:3000").as_deref(), Some("127.0.0.1"));
        assert_eq!(host_of("[::1]:3000").as_deref(), Some("[::1]"));
        assert_eq!(host_of("LocalHost.").as_deref(), Some("localhost"));
        assert_eq!(host_of("attacker.example:3000").as_deref(), Some("attacker.example"));
        assert_eq!(host_of("[::1]junk").as_deref(), Some("(malformed)"));
        assert_eq!(host_of("[::1").as_deref(), Some("(malformed)"));
        assert_eq!(normalise_host("Gpu-Box.LAN.:8080"), "gpu-box.lan", "--allowed-host values are read the same way");
    }

    #[test]
    fn only_ip_literals_localhost_and_listed_names_pass() {
        let allowed = vec!["gpu-box.lan".to_string()];
        for ok in ["127.0.0.1", "10.1.2.3", "[::1]", "localhost", "gpu-box.lan"] {
            assert!(host_allowed(ok, &allowed), "{ok}");
        }
        for bad in ["attacker.example", "127.0.0.1.nip.io", "localhost.attacker.example", "gpu-box.lan.evil", "", "[::1"] {
            assert!(!host_allowed(bad, &allowed), "{bad}");
        }
    }
}
