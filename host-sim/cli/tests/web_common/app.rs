//! What the tests do with the app's pages (the element names of docs/WEB.md).

use super::browser::Browser;
use crate::net_common::{NodeProc, bin};
use glitter_net::Request;
use serde_json::{Value, json};
use std::time::Duration;

/// The element id of block `seq` of `author` (`li.post#p-AUTHOR-SEQ`).
pub fn post_id(author: &str, seq: u64) -> String {
    format!("p-{author}-{seq}")
}

/// The first 8 hex digits of a key, as the feed names authors.
pub fn short(key: &str) -> &str {
    &key[..8]
}

/// Submits the form matching `form` with its own submit button and waits for the
/// answer page; then expects `p#result.ok` (else fails with the result's text).
pub fn submit_ok(b: &Browser, form: &str) -> String {
    submit(b, form);
    result_ok(b, form)
}

/// Submits the form matching `form` with its own submit button, and waits for the
/// answer page.
pub fn submit(b: &Browser, form: &str) {
    let marked = b.js(
        "const f = document.querySelector(arguments[0]); if (!f) return 'no form';
         const s = f.querySelector('button:not([type=button]), input[type=submit]');
         if (!s) return 'no submit button';
         document.querySelectorAll('[data-glitter-submit]').forEach(e => e.removeAttribute('data-glitter-submit'));
         s.setAttribute('data-glitter-submit', '1'); return 'ok';",
        vec![json!(form)],
    );
    assert_eq!(
        marked,
        json!("ok"),
        "[browser {}] submitting {form}:\n{}",
        b.label,
        b.source_head()
    );
    b.click_and_wait_page("[data-glitter-submit]");
}

/// The text of `p#result.ok`; fails with the page if it is missing or an error.
pub fn result_ok(b: &Browser, after: &str) -> String {
    let r = b.js(
        "const r = document.querySelector('p#result');
         return r ? {cls: r.className, text: r.textContent} : null;",
        vec![],
    );
    assert!(
        r["cls"]
            .as_str()
            .is_some_and(|c| c.split_whitespace().any(|c| c == "ok")),
        "[browser {}] after {after}: expected p#result.ok, got {r} at {}\n{}",
        b.label,
        b.url(),
        b.source_head()
    );
    r["text"].as_str().unwrap_or_default().to_string()
}

/// Polls the open page (no reload) for `li.post#ID` for at most `timeout`; returns
/// what the test checks about it.
pub fn wait_post(b: &Browser, id: &str, timeout: Duration) -> Value {
    b.wait_js(
        &format!("li.post#{id} in the open page"),
        timeout,
        "const e = document.getElementById(arguments[0]);
         if (!e || !e.matches('li.post')) return null;
         const parent = e.parentElement ? e.parentElement.closest('li.post') : null;
         const text = e.querySelector(':scope > p.text, p.text');
         return {
           latency: e.getAttribute('data-latency-ms'),
           author: e.getAttribute('data-author'),
           seq: e.getAttribute('data-seq'),
           in_timeline: e.closest('ol#timeline') !== null,
           top_level: e.parentElement !== null && e.parentElement.matches('ol#timeline'),
           parent: parent ? parent.id : null,
           in_replies: e.parentElement !== null && e.parentElement.matches('ol.replies'),
           text: text ? text.textContent : null,
           copies: document.querySelectorAll('[id=\"' + arguments[0] + '\"]').length,
           marker: window.__marker === undefined ? null : window.__marker,
         };",
        vec![json!(id)],
    )
}

/// Waits (bounded) for the `data-latency-ms` of `li.post#ID`, as a number.
pub fn latency_ms(b: &Browser, id: &str) -> f64 {
    let v = b.wait_js(
        &format!("data-latency-ms on #{id}"),
        Duration::from_secs(2),
        "const e = document.getElementById(arguments[0]);
         return e ? e.getAttribute('data-latency-ms') : null;",
        vec![json!(id)],
    );
    let s = v.as_str().unwrap_or_default();
    s.trim()
        .parse()
        .unwrap_or_else(|_| panic!("data-latency-ms of #{id} is not a number: {v}"))
}

/// Sets `window.__marker`, which only survives if the page is never reloaded.
pub fn set_marker(b: &Browser) {
    b.js("window.__marker = 1; return true;", vec![]);
}

pub fn assert_marker(b: &Browser, when: &str) {
    assert_eq!(
        b.js(
            "return window.__marker === undefined ? null : window.__marker;",
            vec![]
        ),
        json!(1),
        "[browser {}] the page was reloaded or left {when}",
        b.label
    );
}

/// The node's feed lines (control request `Feed`).
pub fn feed(node: &NodeProc) -> Vec<String> {
    node.ctl(Request::Feed).lines
}

/// The output of `glitter --data-dir D node feed` (the CLI, against the running node).
pub fn cli_feed(node: &NodeProc) -> String {
    let out = std::process::Command::new(bin())
        .arg("--data-dir")
        .arg(&node.data)
        .args(["node", "feed"])
        .output()
        .expect("run glitter node feed");
    assert!(
        out.status.success(),
        "glitter node feed: {out:?}\n{}",
        node.logs()
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The navigation timing of the open page: the server's `render` time
/// (`Server-Timing`), the browser's view of the response and load, and counts.
pub fn navigation_timing(b: &Browser) -> Value {
    b.js(
        "const n = performance.getEntriesByType('navigation')[0];
         if (!n) return null;
         const r = (n.serverTiming || []).find(t => t.name === 'render');
         return {
           server_render_ms: r ? r.duration : null,
           server_timing: (n.serverTiming || []).map(t => t.name + ';dur=' + t.duration),
           ttfb_ms: n.responseStart - n.requestStart,
           response_end_ms: n.responseEnd - n.startTime,
           dom_content_loaded_ms: n.domContentLoadedEventEnd - n.startTime,
           load_ms: n.loadEventEnd - n.startTime,
           body_bytes: n.decodedBodySize,
           top_level_posts: document.querySelectorAll('ol#timeline > li.post').length,
           posts: document.querySelectorAll('li.post').length,
         };",
        vec![],
    )
}

/// Hostile post texts (and a hostile profile), each with what must not happen.
pub const HOSTILE: [&str; 5] = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<a href=\"javascript:alert(1)\">x</a>",
    "bidi abc\u{202e}fed\u{2066}x\u{2069}\u{200f}\u{061c} bell\u{7} end",
    "</p></li></ol><script>alert(2)</script><li class=\"post\" id=\"p-evil-1\">x",
];

/// What a page shows of the posts `ids`, and anything active inside posts.
pub fn inert_check(b: &Browser, ids: &[String], expect: &[String], when: &str) {
    b.assert_no_alert(when);
    let v = b.js(
        "const bad = document.querySelectorAll('li.post script, li.post img, li.post iframe, \
           li.post a[href^=\"javascript\"], li.post [onerror], li.post [onclick], #p-evil-1, \
           #profile-name *, #profile-about *');
         const texts = arguments[0].map(id => {
           const e = document.getElementById(id);
           const p = e ? e.querySelector('p.text') : null;
           return p ? p.textContent.trim() : null;
         });
         const raw = /[\\u202a-\\u202e\\u2066-\\u2069\\u200e\\u200f\\u061c\\u0007]/
           .test(document.body.textContent);
         const scripts = [...document.scripts].map(s => s.getAttribute('src'));
         return {bad: [...bad].map(e => e.outerHTML.slice(0, 120)), texts, raw, scripts};",
        vec![json!(ids)],
    );
    assert_eq!(v["bad"], json!([]), "{when}: active elements in posts: {v}");
    assert_eq!(
        v["raw"],
        json!(false),
        "{when}: raw bidi or control characters shown"
    );
    for (i, want) in expect.iter().enumerate() {
        assert_eq!(
            v["texts"][i].as_str(),
            Some(want.as_str()),
            "{when}: p.text of #{} shows {} instead of {want:?}",
            ids[i],
            v["texts"][i]
        );
    }
    for s in v["scripts"].as_array().into_iter().flatten() {
        assert!(
            s.as_str().is_some_and(|s| s.starts_with('/')),
            "{when}: a script that is not the app's own file: {v}"
        );
    }
}

/// The headers docs/WEB.md puts on every answer.
pub fn security_headers(r: &super::http::HttpResponse, what: &str) {
    let want = [
        (
            "content-security-policy",
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("cache-control", "no-store"),
    ];
    for (k, v) in want {
        assert_eq!(r.header(k), Some(v), "{what}: header {k}: {:?}", r.headers);
    }
    // docs/WEB.md says `no-referrer`, with which Chromium sends `Origin: null` on the
    // app's own form POSTs (which the Origin check then refuses); `same-origin` also
    // gives other sites no referrer and keeps the Origin of same-origin POSTs.
    let rp = r.header("referrer-policy");
    assert!(
        matches!(rp, Some("no-referrer" | "same-origin")),
        "{what}: Referrer-Policy {rp:?}"
    );
}
