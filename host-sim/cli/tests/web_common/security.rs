//! The token, CSRF and Host checks of docs/WEB.md ("Security"), by raw HTTP: the
//! requests no browser would send.

use super::Ctx;
use super::app;
use super::http::HttpRequest;

/// Issue test 7 (raw HTTP, as no browser would send it): no cookie or a wrong one
/// is 401; a POST with the cookie but a foreign `Origin`, a cross-site
/// `Sec-Fetch-Site`, or a wrong `csrf` is 403; a wrong `Host` is 421; none
/// of the refused posts lands on the chain, and the same POST done right does.
pub fn refusals(ctx: &Ctx) {
    ctx.step("start alice; read her web address and token");
    let mut alice = ctx.node("alice", 0xa1);
    alice.start();
    let ka = alice.author.clone();
    let (addr, token) = super::web_addr_and_token(&alice);
    let origin = format!("http://{addr}");
    let get = |path: &str, cookie: Option<&str>| {
        let mut r = HttpRequest::get(path);
        if let Some(c) = cookie {
            r = r.header("Cookie", c.to_string());
        }
        r.send(addr, &format!("GET {path}"))
    };

    ctx.step("the login link sets the cookie and redirects away from the token");
    let r = get(&format!("/?token={token}"), None);
    assert!((300..400).contains(&r.status), "login: {r:?}");
    let loc = r.header("location").unwrap_or_default();
    assert!(!loc.contains(&token), "the redirect keeps the token: {loc}");
    let set = r.headers_named("set-cookie").join("; ");
    // docs/WEB.md names the cookie `glitter_token`; a per-port suffix
    // (`glitter_token_PORT`, so two nodes on one host keep one each) is accepted.
    let cookie = set.split(';').next().unwrap_or_default().trim().to_string();
    let (name, value) = cookie.split_once('=').unwrap_or_default();
    assert!(
        name.starts_with("glitter_token") && value == token,
        "Set-Cookie does not carry the token as glitter_token: {set}"
    );
    for part in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(part), "Set-Cookie lacks {part}: {set}");
    }

    ctx.step("without the cookie, or with a wrong one: 401 (pages, fragments, events)");
    let mut wrong = token.clone();
    wrong.replace_range(..1, if token.starts_with('0') { "1" } else { "0" });
    let wrong_cookie = format!("{name}={wrong}");
    for path in ["/", "/profile", "/events", &format!("/fragment/{ka}/1")] {
        let r = get(path, None);
        assert_eq!(r.status, 401, "GET {path} without the cookie: {r:?}");
        app::security_headers(&r, &format!("401 of {path}"));
        assert_eq!(
            get(path, Some(&wrong_cookie)).status,
            401,
            "{path} with a wrong cookie"
        );
    }
    let r = get(&format!("/?token={wrong}"), None);
    assert!(
        !r.headers_named("set-cookie")
            .join(";")
            .contains("glitter_token")
            && !(200..400).contains(&r.status),
        "a wrong token logged in: {r:?}"
    );

    ctx.step("with the cookie: the page, its headers, its CSRF field and form action");
    let page = get("/", Some(&cookie));
    assert_eq!(page.status, 200, "{page:?}");
    app::security_headers(&page, "the timeline");
    let csrf = super::http::input_value(&page.body, "csrf").expect("a csrf field");
    let action = super::http::attr_of_tag(&page.body, "id=\"compose\"", "action")
        .unwrap_or_else(|| "/".into());
    assert!(action.starts_with('/'), "form#compose posts to {action}");

    ctx.step("a wrong Host header: 421, with or without the cookie");
    for host in [
        "evil.example",
        "evil.example:80",
        &format!("127.0.0.1:{}", addr.port() ^ 1),
    ] {
        let r = HttpRequest::get("/")
            .header("Host", host.to_string())
            .header("Cookie", cookie.clone())
            .send(addr, "GET with a wrong Host");
        assert_eq!(r.status, 421, "Host: {host}: {r:?}");
    }
    let local = HttpRequest::get("/")
        .header("Host", format!("localhost:{}", addr.port()))
        .header("Cookie", cookie.clone())
        .send(addr, "GET with Host localhost");
    assert_eq!(local.status, 200, "Host localhost:PORT is the app's own");

    ctx.step("refused POSTs of a post");
    let head0 = alice.head_of(&ka);
    let post = |text: &str, cookie: Option<&str>, csrf: Option<&str>, extra: &[(&str, &str)]| {
        let mut fields = vec![("text", text)];
        if let Some(c) = csrf {
            fields.push(("csrf", c));
        }
        let mut r = HttpRequest::post_form(&action, &fields);
        if let Some(c) = cookie {
            r = r.header("Cookie", c.to_string());
        }
        for (k, v) in extra {
            r = r.header(k, v.to_string());
        }
        r.send(addr, &format!("POST {text}")).status
    };
    let same = [("Origin", origin.as_str())];
    // (text, cookie, csrf, extra headers, the answer expected)
    type Case<'a> = (
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        Vec<(&'a str, &'a str)>,
        u16,
    );
    let foreign = vec![("Origin", "http://evil.example")];
    let cross = vec![("Sec-Fetch-Site", "cross-site")];
    let cases: Vec<Case<'_>> = vec![
        ("refused: no cookie", None, Some(&csrf), same.to_vec(), 401),
        (
            "refused: wrong cookie",
            Some(&wrong_cookie),
            Some(&csrf),
            same.to_vec(),
            401,
        ),
        (
            "refused: foreign origin",
            Some(&cookie),
            Some(&csrf),
            foreign,
            403,
        ),
        (
            "refused: cross-site fetch",
            Some(&cookie),
            Some(&csrf),
            cross,
            403,
        ),
        (
            "refused: wrong csrf",
            Some(&cookie),
            Some("00ff"),
            same.to_vec(),
            403,
        ),
    ];
    for (text, c, f, extra, want) in &cases {
        assert_eq!(post(text, *c, *f, extra), *want, "{text}");
    }
    let big = "x".repeat(20 * 1024);
    let s = post(&big, Some(&cookie), Some(&csrf), &same);
    assert!((400..500).contains(&s), "a 20 KiB body was answered {s}");
    assert_eq!(alice.head_of(&ka), head0, "a refused POST appended a block");
    let feed = app::feed(&alice).join("\n");
    assert!(
        !feed.contains("refused:"),
        "a refused post is on the chain:\n{feed}"
    );

    ctx.step("the same POST done right lands on the chain");
    let s = post(
        "accepted: same origin",
        Some(&cookie),
        Some(&csrf),
        &[("Origin", &origin), ("Sec-Fetch-Site", "same-origin")],
    );
    assert!((200..400).contains(&s), "the right POST was answered {s}");
    assert_eq!(alice.head_of(&ka), head0 + 1);
    assert!(
        app::feed(&alice)
            .iter()
            .any(|l| l.contains("accepted: same origin"))
    );
}

/// A POST with the cookie and a same-origin `Origin` but no `csrf` field is 403 (docs/WEB.md,
/// "CSRF"), and appends nothing.
pub fn missing_csrf(ctx: &Ctx) {
    ctx.step("start alice; log in by raw HTTP");
    let mut alice = ctx.node("alice", 0xa2);
    alice.start();
    let ka = alice.author.clone();
    let (addr, token) = super::web_addr_and_token(&alice);
    let r = HttpRequest::get(&format!("/?token={token}")).send(addr, "login");
    let set = r.headers_named("set-cookie").join("; ");
    let cookie = set.split(';').next().unwrap_or_default().trim().to_string();
    assert!(cookie.starts_with("glitter_token"), "login: {r:?}");

    ctx.step("POST /post without the csrf field");
    let head0 = alice.head_of(&ka);
    let r = HttpRequest::post_form("/post", &[("text", "refused: no csrf")])
        .header("Cookie", cookie)
        .header("Origin", format!("http://{addr}"))
        .send(addr, "POST without csrf");
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(alice.head_of(&ka), head0, "a refused POST appended a block");
}
