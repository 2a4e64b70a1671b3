//! The handlers: each page is one or two node requests rendered by `pages`; each form
//! is one request, then a redirect to its page (which shows the result once).

use crate::pages::{self, layout};
use crate::{BODY_MAX, REQUESTS_MAX, Shared, auth, live, text};
use axum::Router;
use axum::extract::{DefaultBodyLimit, Form, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use glitter_host::os;
use glitter_net::control::ClaimKind;
use glitter_net::views::{AccountData, AuthorData, ClaimData, PostData, TimelineData};
use glitter_net::{Request, Response as NodeResponse};
use serde::Deserialize;
use serde::de::DeserializeOwned;

const CSS: &str = include_str!("../assets/app.css");
const JS: &str = include_str!("../assets/app.js");

pub(crate) fn router(app: Shared) -> Router {
    Router::new()
        .route("/", get(timeline))
        .route("/compose", get(compose))
        .route("/post", post(do_post))
        .route("/profile", get(profile).post(do_profile))
        .route("/follow", get(follow).post(do_follow))
        .route("/unfollow", post(do_unfollow))
        .route("/author/{key}", get(author))
        .route("/backup", get(backup).post(do_backup))
        .route("/custody", get(custody))
        .route("/custody/accept", post(do_accept))
        .route("/custody/revoke", post(do_revoke))
        .route("/custody/release", post(do_release))
        .route("/claims", get(claims).post(do_claim))
        .route("/peers", get(peers))
        .route("/fragment/{author}/{seq}", get(fragment))
        .route("/events", get(live::events))
        .route("/app.css", get(|| async { asset("text/css", CSS) }))
        .route("/app.js", get(|| async { asset("text/javascript", JS) }))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            auth::guard,
        ))
        .layer(DefaultBodyLimit::max(BODY_MAX))
        .layer(tower::limit::ConcurrencyLimitLayer::new(REQUESTS_MAX))
        .with_state(app)
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}

/// A page, with the server time it took (`Server-Timing`).
fn page(started: std::time::Instant, title: &str, app: &Shared, body: maud::Markup) -> Response {
    let flash = app.flash.lock().ok().and_then(|mut f| f.take());
    let html = layout(title, flash, body).into_string();
    let ms = started.elapsed().as_secs_f64() * 1e3;
    let mut r = Html(html).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("render;dur={ms:.2}")) {
        r.headers_mut().insert("server-timing", v);
    }
    r
}

/// An error page: the node's answer, or why the page cannot be shown.
fn error(status: StatusCode, line: &str) -> Response {
    let body = layout("Error", Some((false, line.to_string())), maud::html! {});
    (status, Html(body.into_string())).into_response()
}

/// Asks the node and reads its data as `T`.
async fn ask<T: DeserializeOwned>(
    app: &Shared,
    req: Request,
) -> Result<(T, Vec<String>), Response> {
    let r = app.node.request(req).await;
    if !r.ok {
        return Err(error(
            StatusCode::BAD_REQUEST,
            r.error.as_deref().unwrap_or("the node refused"),
        ));
    }
    match serde_json::from_value(r.data) {
        Ok(v) => Ok((v, r.lines)),
        Err(e) => Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("unexpected answer from the node: {e}"),
        )),
    }
}

/// Runs a change and redirects to `back`, which shows the node's answer once.
async fn change(app: &Shared, csrf: &str, req: Request, back: &str) -> Response {
    if !app.auth.csrf_ok(csrf) {
        return (
            StatusCode::FORBIDDEN,
            "403: the form's CSRF value is missing or wrong; reload the page\n",
        )
            .into_response();
    }
    let r: NodeResponse = app.node.request(req).await;
    let line = if r.ok {
        r.lines.join("; ")
    } else {
        r.error.unwrap_or_else(|| "the node refused".into())
    };
    if let Ok(mut f) = app.flash.lock() {
        *f = Some((r.ok, line));
    }
    Redirect::to(back).into_response()
}

#[derive(Deserialize)]
struct TimelineQuery {
    before: Option<String>,
}

async fn timeline(State(app): State<Shared>, Query(q): Query<TimelineQuery>) -> Response {
    let t0 = os::instant();
    let live = q.before.is_none();
    let req = Request::Timeline {
        before: q.before,
        limit: None,
    };
    match ask::<TimelineData>(&app, req).await {
        Ok((t, _)) => page(
            t0,
            "Timeline",
            &app,
            pages::timeline(app.auth.csrf(), &t, live),
        ),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
struct ComposeQuery {
    reply_to: Option<String>,
}

/// Splits `AUTHOR:SEQ`.
fn block_ref(s: &str) -> Option<(&str, u64)> {
    let (a, seq) = s.split_once(':')?;
    text::is_key(a).then_some(())?;
    Some((a, seq.parse().ok()?))
}

async fn compose(State(app): State<Shared>, Query(q): Query<ComposeQuery>) -> Response {
    let t0 = os::instant();
    let Some(r) = q.reply_to.as_deref() else {
        return page(t0, "Compose", &app, pages::compose(app.auth.csrf(), None));
    };
    let Some((author, seq)) = block_ref(r) else {
        return error(StatusCode::BAD_REQUEST, "reply_to: not AUTHOR:SEQ");
    };
    let req = Request::ShowPost {
        author: author.to_string(),
        seq,
    };
    match ask::<PostData>(&app, req).await {
        Ok((p, _)) => {
            let reply = format!("{author}:{seq}");
            let body = maud::html! {
                ol.parent { (pages::post(&p)) }
                (pages::compose(app.auth.csrf(), Some(&reply)))
            };
            page(t0, "Reply", &app, body)
        }
        Err(r) => r,
    }
}

#[derive(Deserialize)]
struct PostForm {
    #[serde(default)]
    csrf: String,
    text: String,
    reply_to: Option<String>,
}

async fn do_post(State(app): State<Shared>, Form(f): Form<PostForm>) -> Response {
    let reply_to = f.reply_to.filter(|r| !r.is_empty());
    let req = Request::Post {
        text: f.text,
        reply_to,
        force: false,
    };
    change(&app, &f.csrf, req, "/").await
}

async fn profile(State(app): State<Shared>) -> Response {
    let t0 = os::instant();
    match ask::<AccountData>(&app, Request::Account).await {
        Ok((a, _)) => page(t0, "Profile", &app, pages::profile(app.auth.csrf(), &a)),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
struct ProfileForm {
    #[serde(default)]
    csrf: String,
    name: String,
    #[serde(default)]
    about: String,
}

async fn do_profile(State(app): State<Shared>, Form(f): Form<ProfileForm>) -> Response {
    let req = Request::Profile {
        name: f.name,
        about: f.about,
    };
    change(&app, &f.csrf, req, "/profile").await
}

async fn follow(State(app): State<Shared>) -> Response {
    let t0 = os::instant();
    match ask::<AccountData>(&app, Request::Account).await {
        Ok((a, _)) => {
            let qr = qr_svg(&a.author);
            page(t0, "Follow", &app, pages::follow(app.auth.csrf(), &a, &qr))
        }
        Err(r) => r,
    }
}

/// The QR code of a hex key, as inline SVG.
fn qr_svg(key: &str) -> String {
    match qrcode::QrCode::new(key.as_bytes()) {
        Ok(code) => {
            let svg = code
                .render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(180, 180)
                .build();
            // The renderer starts with an XML declaration; inline SVG needs none.
            let start = svg.find("<svg").unwrap_or(0);
            svg[start..].replacen(
                "<svg",
                "<svg id=\"qr\" role=\"img\" aria-label=\"QR code of your key\"",
                1,
            )
        }
        Err(_) => String::new(),
    }
}

#[derive(Deserialize)]
struct AuthorForm {
    #[serde(default)]
    csrf: String,
    author: String,
}

async fn do_follow(State(app): State<Shared>, Form(f): Form<AuthorForm>) -> Response {
    let req = Request::Follow {
        author: f.author.trim().to_string(),
        force: false,
    };
    change(&app, &f.csrf, req, "/follow").await
}

async fn do_unfollow(State(app): State<Shared>, Form(f): Form<AuthorForm>) -> Response {
    let req = Request::Unfollow {
        author: f.author.trim().to_string(),
        force: false,
    };
    change(&app, &f.csrf, req, "/follow").await
}

async fn author(State(app): State<Shared>, Path(key): Path<String>) -> Response {
    let t0 = os::instant();
    if !text::is_key(&key) {
        return error(StatusCode::BAD_REQUEST, "not an author key (64 hex digits)");
    }
    match ask::<AuthorData>(&app, Request::Author { author: key }).await {
        Ok((a, _)) => {
            let title = text::who(a.name.as_deref(), &a.author);
            page(t0, &title, &app, pages::author(&a))
        }
        Err(r) => r,
    }
}

/// The node's answer lines to `req`, or its error as the one line.
async fn lines_of(app: &Shared, req: Request) -> Vec<String> {
    let r = app.node.request(req).await;
    if r.ok {
        r.lines
    } else {
        vec![r.error.unwrap_or_default()]
    }
}

async fn backup(State(app): State<Shared>) -> Response {
    let t0 = os::instant();
    let lines = lines_of(&app, Request::BackupStatus).await;
    page(t0, "Backup", &app, pages::backup(app.auth.csrf(), &lines))
}

#[derive(Deserialize)]
struct BackupForm {
    #[serde(default)]
    csrf: String,
    custodians: String,
    threshold: u8,
}

async fn do_backup(State(app): State<Shared>, Form(f): Form<BackupForm>) -> Response {
    let custodians = f
        .custodians
        .split_whitespace()
        .take(64)
        .map(str::to_string)
        .collect();
    let req = Request::Backup {
        custodians,
        threshold: f.threshold,
    };
    change(&app, &f.csrf, req, "/backup").await
}

async fn custody(State(app): State<Shared>) -> Response {
    let t0 = os::instant();
    let lines = lines_of(&app, Request::Custody).await;
    page(t0, "Custody", &app, pages::custody(app.auth.csrf(), &lines))
}

#[derive(Deserialize)]
struct OwnerForm {
    #[serde(default)]
    csrf: String,
    owner: String,
    #[serde(default)]
    code: String,
}

async fn do_accept(State(app): State<Shared>, Form(f): Form<OwnerForm>) -> Response {
    let req = Request::CustodyAccept {
        owner: f.owner.trim().to_string(),
    };
    change(&app, &f.csrf, req, "/custody").await
}

async fn do_revoke(State(app): State<Shared>, Form(f): Form<OwnerForm>) -> Response {
    let req = Request::CustodyRevoke {
        owner: f.owner.trim().to_string(),
        delete: false,
    };
    change(&app, &f.csrf, req, "/custody").await
}

async fn do_release(State(app): State<Shared>, Form(f): Form<OwnerForm>) -> Response {
    let req = Request::Release {
        owner: f.owner.trim().to_string(),
        code: f.code.trim().to_string(),
        valid_for_s: None,
    };
    change(&app, &f.csrf, req, "/custody").await
}

async fn claims(State(app): State<Shared>) -> Response {
    let t0 = os::instant();
    match ask::<Vec<ClaimData>>(&app, Request::Claims).await {
        Ok((rows, _)) => page(t0, "Claims", &app, pages::claims(app.auth.csrf(), &rows)),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
struct ClaimForm {
    #[serde(default)]
    csrf: String,
    kind: ClaimKind,
    #[serde(default)]
    members: String,
    context: String,
    #[serde(default)]
    message: String,
}

async fn do_claim(State(app): State<Shared>, Form(f): Form<ClaimForm>) -> Response {
    let req = Request::Claim {
        kind: f.kind,
        members: f
            .members
            .split_whitespace()
            .take(64)
            .map(str::to_string)
            .collect(),
        context: f.context,
        message: f.message,
    };
    change(&app, &f.csrf, req, "/claims").await
}

async fn peers(State(app): State<Shared>) -> Response {
    let t0 = os::instant();
    let rows = match ask::<Vec<serde_json::Value>>(&app, Request::Peers).await {
        Ok((rows, _)) => rows,
        Err(r) => return r,
    };
    let status = lines_of(&app, Request::Status).await;
    page(t0, "Peers", &app, pages::peers(&rows, &status))
}

/// One post's `li`, for the live timeline.
async fn fragment(State(app): State<Shared>, Path((author, seq)): Path<(String, u64)>) -> Response {
    if !text::is_key(&author) {
        return (StatusCode::BAD_REQUEST, "not an author key\n").into_response();
    }
    match ask::<PostData>(&app, Request::ShowPost { author, seq }).await {
        Ok((p, _)) => Html(pages::post(&p).into_string()).into_response(),
        Err(_) => (StatusCode::NOT_FOUND, "no such post\n").into_response(),
    }
}
