//! glitter's local web app: the running node's views for its owner, served over HTTP
//! from the node process (`glitter node --web 127.0.0.1:PORT`).
//!
//! Rendering and storage stay in the node: each page is one or two view requests
//! ([`glitter_net::Request`], the same as the control socket's) rendered to HTML on the
//! server by `maud`, which escapes everything it interpolates. The browser gets one
//! stylesheet and one small script (the live timeline and the byte counter), both
//! embedded in the binary. See `docs/WEB.md` for the security model and the pages.
//!
//! - [`start`] binds the address and returns the node's [`ServiceStart`]: the app runs
//!   on the node's tokio runtime.
//! - `auth`: the access token, its cookie, CSRF and origin checks, the headers of every
//!   answer.
//! - `pages`: the HTML of each view; `routes`: the handlers; `live`: server-sent
//!   events.

mod auth;
mod live;
mod pages;
mod routes;
mod text;

use glitter_net::runtime::{NodeHandle, ServiceStart};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

pub use auth::{CSRF_FIELD, TOKEN_COOKIE};

/// Largest request body, in bytes.
pub const BODY_MAX: usize = 16 * 1024;
/// Most requests handled at once.
pub const REQUESTS_MAX: usize = 64;
/// Most live-update streams open at once.
pub const LIVE_STREAMS_MAX: usize = 8;

/// Why the web app cannot start.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The address is not a loopback address.
    #[error(
        "{addr}: the web app listens on loopback addresses only (127.0.0.1, ::1); \
         reach it from elsewhere through an SSH tunnel"
    )]
    NotLoopback {
        /// The address.
        addr: SocketAddr,
    },
    /// The address cannot be bound.
    #[error("{addr}: cannot listen")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// No OS randomness for the access token.
    #[error("no randomness for the access token")]
    Random(#[source] glitter_host::os::NoRandomness),
}

/// What every handler shares.
pub(crate) struct App {
    node: NodeHandle,
    auth: auth::Auth,
    /// The result line of the last form, shown once on the next page.
    flash: Mutex<Option<(bool, String)>>,
    live: Arc<tokio::sync::Semaphore>,
}

pub(crate) type Shared = Arc<App>;

/// The web app on `addr` (a loopback address; port 0 picks one), as a service the node
/// starts on its runtime. The access token is drawn when the app starts.
///
/// # Errors
/// [`WebError::NotLoopback`] at once; binding errors when the node starts it.
pub fn start(addr: SocketAddr) -> Result<ServiceStart, WebError> {
    if !addr.ip().is_loopback() {
        return Err(WebError::NotLoopback { addr });
    }
    Ok(Box::new(move |node: NodeHandle| {
        let listener =
            std::net::TcpListener::bind(addr).map_err(|source| WebError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| WebError::Bind { addr, source })?;
        listener
            .set_nonblocking(true)
            .map_err(|source| WebError::Bind { addr, source })?;
        let listener = tokio::net::TcpListener::from_std(listener)
            .map_err(|source| WebError::Bind { addr, source })?;
        let token = glitter_host::os::random32().map_err(WebError::Random)?;
        let auth = auth::Auth::new(token, local);
        let url = auth.login_url();
        let app = Arc::new(App {
            node,
            auth,
            flash: Mutex::new(None),
            live: Arc::new(tokio::sync::Semaphore::new(LIVE_STREAMS_MAX)),
        });
        let router = routes::router(app);
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(url)
    }))
}
