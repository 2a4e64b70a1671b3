//! Who may use the app: the access token (in the login URL, then a cookie), the CSRF
//! value every form carries, the Host and Origin checks, and the security headers of
//! every answer.

use crate::Shared;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use subtle::ConstantTimeEq;

/// The cookie's name; the app's port is appended, so nodes on one host (whose cookies
/// a browser keeps by host name, not port) keep one each.
pub const TOKEN_COOKIE: &str = "glitter_token";
/// The form field that carries the CSRF value.
pub const CSRF_FIELD: &str = "csrf";

/// The Content-Security-Policy of every answer: nothing but this origin's own
/// script, style and connections; no frames, no inline script, no plugins.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// The token and what is derived from it.
pub(crate) struct Auth {
    token: String,
    csrf: String,
    cookie: String,
    hosts: [String; 3],
    port: u16,
}

impl Auth {
    pub(crate) fn new(token: [u8; 32], local: SocketAddr) -> Auth {
        let token_hex = hex::encode(token);
        let mut h = Sha256::new();
        h.update(b"glitter/web/csrf/v1\0");
        h.update(token);
        let csrf = hex::encode(&h.finalize()[..16]);
        let port = local.port();
        Auth {
            token: token_hex,
            csrf,
            cookie: format!("{TOKEN_COOKIE}_{port}"),
            hosts: [
                format!("127.0.0.1:{port}"),
                format!("localhost:{port}"),
                format!("[::1]:{port}"),
            ],
            port,
        }
    }

    /// The URL that logs a browser in.
    pub(crate) fn login_url(&self) -> String {
        format!("http://127.0.0.1:{}/?token={}", self.port, self.token)
    }

    /// The CSRF value the forms carry.
    pub(crate) fn csrf(&self) -> &str {
        &self.csrf
    }

    /// True if `value` is the CSRF value (constant time).
    pub(crate) fn csrf_ok(&self, value: &str) -> bool {
        value.len() == self.csrf.len() && bool::from(value.as_bytes().ct_eq(self.csrf.as_bytes()))
    }

    fn token_ok(&self, value: &str) -> bool {
        value.len() == self.token.len() && bool::from(value.as_bytes().ct_eq(self.token.as_bytes()))
    }

    fn host_ok(&self, host: &str) -> bool {
        self.hosts.iter().any(|h| h == host)
    }

    fn cookie_ok(&self, headers: &HeaderMap) -> bool {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .any(|(k, v)| k == self.cookie && self.token_ok(v))
    }
}

fn refuse(status: StatusCode, why: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{why}\n"),
    )
        .into_response()
}

/// Every request passes here first.
pub(crate) async fn guard(State(app): State<Shared>, req: Request<Body>, next: Next) -> Response {
    let mut r = check(&app, req, next).await;
    let h = r.headers_mut();
    for (k, v) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        h.insert(k, HeaderValue::from_static(v));
    }
    r
}

async fn check(app: &Shared, req: Request<Body>, next: Next) -> Response {
    let auth = &app.auth;
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !auth.host_ok(host) {
        return refuse(
            StatusCode::MISDIRECTED_REQUEST,
            "421: this app answers only to its own address (127.0.0.1, localhost or [::1] \
             with its port)",
        );
    }
    let login = req
        .uri()
        .query()
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|kv| kv.strip_prefix("token="));
    if let Some(token) = login {
        if req.method() != Method::GET || !auth.token_ok(token) {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "401: that is not this node's link; open the link the node printed",
            );
        }
        let cookie = format!(
            "{}={}; HttpOnly; SameSite=Strict; Path=/",
            auth.cookie, auth.token
        );
        return match HeaderValue::from_str(&cookie) {
            Ok(c) => (
                StatusCode::SEE_OTHER,
                [
                    (header::SET_COOKIE, c),
                    (header::LOCATION, HeaderValue::from_static("/")),
                ],
            )
                .into_response(),
            Err(_) => refuse(StatusCode::INTERNAL_SERVER_ERROR, "500: cookie"),
        };
    }
    if !auth.cookie_ok(req.headers()) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "401: not logged in; open the link the node printed when it started \
             (it is also in node.json in the data directory, as web_url)",
        );
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let origin_ok = req
            .headers()
            .get(header::ORIGIN)
            .map(|o| {
                o.to_str()
                    .is_ok_and(|o| auth.hosts.iter().any(|h| o == format!("http://{h}")))
            })
            .unwrap_or(true);
        let site_ok = req
            .headers()
            .get("sec-fetch-site")
            .map(|s| s == "same-origin")
            .unwrap_or(true);
        if !origin_ok || !site_ok {
            return refuse(
                StatusCode::FORBIDDEN,
                "403: a change from another site is refused",
            );
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_csrf_and_hosts_are_checked_exactly() {
        let a = Auth::new([7; 32], "127.0.0.1:8080".parse().expect("addr"));
        assert!(a.login_url().starts_with("http://127.0.0.1:8080/?token="));
        assert!(a.token_ok(&hex::encode([7u8; 32])));
        assert!(!a.token_ok(&hex::encode([8u8; 32])));
        assert!(!a.token_ok(""));
        assert!(a.csrf_ok(a.csrf()));
        assert!(!a.csrf_ok(&a.token));
        assert!(!a.csrf_ok(""));
        assert!(a.host_ok("localhost:8080") && a.host_ok("127.0.0.1:8080"));
        assert!(!a.host_ok("evil.example:8080") && !a.host_ok("127.0.0.1:8081"));
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!(
                "x=1; glitter_token_8080={}",
                hex::encode([7u8; 32])
            ))
            .expect("header"),
        );
        assert!(a.cookie_ok(&h));
        let mut wrong_port = HeaderMap::new();
        wrong_port.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("glitter_token_8081={}", hex::encode([7u8; 32])))
                .expect("header"),
        );
        assert!(!a.cookie_ok(&wrong_port));
    }
}
