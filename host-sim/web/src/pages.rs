//! The HTML of the views. `maud` escapes every interpolated string; chain text also
//! passes through [`text::display`]. The only unescaped markup is the QR code, which
//! is generated from a hex key.

use crate::text::{self, display, who};
use glitter_net::views::{AccountData, AuthorData, ClaimData, PostData, TimelineData};
use maud::{DOCTYPE, Markup, PreEscaped, html};

/// The largest post, in bytes of UTF-8 (the core's bound).
pub(crate) const POST_BYTES_MAX: usize = glitter_core::social::POST_TEXT_LEN_MAX;

/// A page: navigation, the last form's result, then `body`.
pub(crate) fn layout(title: &str, flash: Option<(bool, String)>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · glitter" }
                link rel="stylesheet" href="/app.css";
                script src="/app.js" defer {}
            }
            body {
                nav #nav {
                    strong { "glitter" }
                    a href="/" { "Timeline" }
                    a href="/profile" { "Profile" }
                    a href="/follow" { "Follow" }
                    a href="/backup" { "Backup" }
                    a href="/custody" { "Custody" }
                    a href="/claims" { "Claims" }
                    a href="/peers" { "Peers" }
                }
                main {
                    h1 { (title) }
                    @if let Some((ok, line)) = flash {
                        p #result class=(if ok { "ok" } else { "error" }) { (display(&line)) }
                    }
                    (body)
                }
            }
        }
    }
}

fn csrf(token: &str) -> Markup {
    html! { input type="hidden" name=(crate::CSRF_FIELD) value=(token); }
}

/// The compose form, replying to `reply_to` (`AUTHOR:SEQ`) if given.
pub(crate) fn compose(token: &str, reply_to: Option<&str>) -> Markup {
    html! {
        form #compose method="post" action="/post" {
            (csrf(token))
            @if let Some(r) = reply_to { input type="hidden" name="reply_to" value=(r); }
            textarea #compose-text name="text" rows="3" required
                placeholder=(if reply_to.is_some() { "Your reply" } else { "What's new?" }) {}
            div.row {
                span #compose-count data-max=(POST_BYTES_MAX) { "0 / " (POST_BYTES_MAX) " bytes" }
                button #compose-send type="submit" { @if reply_to.is_some() { "Reply" } @else { "Post" } }
            }
        }
    }
}

/// One post and its thread.
pub(crate) fn post(p: &PostData) -> Markup {
    let reply_to = p.reply_to.as_ref().map(|(a, s)| format!("{a}-{s}"));
    html! {
        li.post id=(format!("p-{}-{}", p.author, p.seq)) data-author=(p.author) data-seq=(p.seq)
            data-reply-to=[reply_to] {
            div.meta {
                a.author href=(format!("/author/{}", p.author)) { (who(p.name.as_deref(), &p.author)) }
                " · #" (p.seq) " · "
                time { (text::time(p.timestamp_ms)) }
            }
            p.text { (display(&p.text)) }
            a.reply-link href=(format!("/compose?reply_to={}:{}", p.author, p.seq)) { "reply" }
            ol.replies {
                @for r in &p.replies { (post(r)) }
            }
        }
    }
}

/// The timeline page's body; `live` on the first page only.
pub(crate) fn timeline(token: &str, t: &TimelineData, live: bool) -> Markup {
    html! {
        (compose(token, None))
        p.muted { (t.total_posts) " posts from you and the people you follow" }
        ol #timeline data-live=(if live { "1" } else { "0" }) {
            @for p in &t.posts { (post(p)) }
        }
        @if t.posts.is_empty() { p.muted { "Nothing yet: post something, or follow someone." } }
        @if let Some(n) = &t.next { a #older href=(format!("/?before={n}")) { "Older posts" } }
    }
}

/// The profile page's body.
pub(crate) fn profile(token: &str, a: &AccountData) -> Markup {
    html! {
        dl {
            dt { "Name" } dd #profile-name { (display(&a.name)) }
            dt { "About" } dd #profile-about { (display(&a.about)) }
            dt { "Key" } dd.key { (a.author) }
            dt { "Chain" } dd { (a.blocks) " blocks" }
        }
        form #profile-form method="post" action="/profile" {
            (csrf(token))
            label { "Name (at most 64 bytes)" input name="name" value=(a.name) maxlength="64"; }
            label { "About (at most 256 bytes)" textarea name="about" rows="3" { (a.about) } }
            button type="submit" { "Save profile" }
        }
    }
}

/// The follow page's body, with the QR code of one's own key.
pub(crate) fn follow(token: &str, a: &AccountData, qr_svg: &str) -> Markup {
    html! {
        section.share {
            p { "Your key: share it so others can follow you." }
            p #my-key.key { (a.author) }
            (PreEscaped(qr_svg))
        }
        form #follow-form method="post" action="/follow" {
            (csrf(token))
            label { "Follow an author by key (64 hex digits)"
                input name="author" pattern="[0-9a-fA-F]{64}" required size="66"; }
            button type="submit" { "Follow" }
        }
        h2 { "Following " (a.follows.len()) }
        ul #follows {
            @for f in &a.follows {
                li data-author=(f.author) {
                    a href=(format!("/author/{}", f.author)) { (who(f.name.as_deref(), &f.author)) }
                    " · " (f.blocks) " blocks "
                    form.unfollow method="post" action="/unfollow" {
                        (csrf(token))
                        input type="hidden" name="author" value=(f.author);
                        button type="submit" { "Unfollow" }
                    }
                }
            }
        }
    }
}

/// One author's page body.
pub(crate) fn author(a: &AuthorData) -> Markup {
    html! {
        @if !a.forks.is_empty() {
            section #fork-warning.warning {
                h2 { "This author forked their chain" }
                p { "They signed two different blocks at the same position. Blocks from there on are disputed; "
                    "this proof, two headers with valid signatures, lets anyone check it." }
                @for f in &a.forks {
                    div.fork-proof {
                        p { "seq " (f.seq) ": block " code { (f.ids[0]) } " and block " code { (f.ids[1]) } }
                        details { summary { "the proof (both signed headers, hex)" } pre.hex { (f.proof_hex) } }
                    }
                }
            }
        }
        dl {
            dt { "Key" } dd.key { (a.author) }
            dt { "Name" } dd { (a.name.as_deref().map(display).unwrap_or_default()) }
            @if let Some(about) = &a.about { dt { "About" } dd { (display(about)) } }
            dt { "Chain length" } dd #chain-length { (a.chain_length) }
            dt { "Head" } dd #chain-head {
                @match &a.head_id { Some(id) => { code { (id) } } None => { "none held" } }
                @if let Some(ts) = a.head_timestamp_ms { " · " (text::time(ts)) }
            }
            dt { "Verification" } dd #verification class=(if a.verification.is_ok() { "ok" } else { "error" }) {
                @match &a.verification { Ok(line) => { (line) } Err(e) => { "FAILED: " (e) } }
            }
            dt { "Witnesses" } dd #witnesses {
                @if a.witnesses.is_empty() { "none designated" } @else {
                    (a.witness_threshold) " of " (a.witnesses.len()) ": "
                    @for w in &a.witnesses { code { (text::short(w)) } " " }
                }
                " · " (a.head_confirmation)
            }
            dt { "Following" } dd { (if a.following { "yes" } else { "no" }) }
        }
    }
}

/// A page of lines from the node (status, backup, custody), shown as text.
pub(crate) fn lines(id: &str, lines: &[String]) -> Markup {
    html! { pre id=(id) { @for l in lines { (display(l)) "\n" } } }
}

/// The backup page's body.
pub(crate) fn backup(token: &str, status: &[String]) -> Markup {
    html! {
        (lines("backup-status", status))
        form #backup-form method="post" action="/backup" {
            (csrf(token))
            label { "Custodians: their keys, one per line (2 to 16, each connected)"
                textarea name="custodians" rows="4" required {} }
            label { "How many of them restore you" input name="threshold" type="number" min="2" max="16" value="2"; }
            button type="submit" { "Back up now" }
        }
    }
}

/// The custody page's body.
pub(crate) fn custody(token: &str, status: &[String]) -> Markup {
    html! {
        (lines("custody", status))
        h2 { "Approve a restore" }
        p { "A friend restoring on a new device shows a device code. Check it with them (in person or by call), then approve:" }
        form #release-form method="post" action="/custody/release" {
            (csrf(token))
            label { "Their key" input name="owner" pattern="[0-9a-fA-F]{64}" required size="66"; }
            label { "Device code" input name="code" required placeholder="xxxxx-xxxxx-xxxxx-xxxxx"; }
            button type="submit" { "Approve for 15 minutes" }
        }
        h2 { "Hold backups" }
        form #accept-form method="post" action="/custody/accept" {
            (csrf(token))
            label { "Hold this person's backups (key)" input name="owner" pattern="[0-9a-fA-F]{64}" required size="66"; }
            button type="submit" { "Accept" }
        }
        form #revoke-form method="post" action="/custody/revoke" {
            (csrf(token))
            label { "Stop holding new backups of (key)" input name="owner" pattern="[0-9a-fA-F]{64}" required size="66"; }
            button type="submit" { "Revoke" }
        }
    }
}

/// The claims page's body.
pub(crate) fn claims(token: &str, rows: &[ClaimData]) -> Markup {
    html! {
        form #claim-form method="post" action="/claims" {
            (csrf(token))
            label { "Claim"
                select name="kind" {
                    option value="key" { "I control this chain's key" }
                    option value="ring" { "I am one of these people (without saying which)" }
                }
            }
            label { "Ring members (keys, one per line; yours is added)" textarea name="members" rows="3" {} }
            label { "Context: who asks, what for (at most 32 bytes)" input name="context" required maxlength="32"; }
            label { "Message (at most 32 bytes)" input name="message" maxlength="32"; }
            button type="submit" { "Prove and publish" }
        }
        h2 { "Claims on the chains you hold" }
        ul #claims {
            @for c in rows {
                li.claim {
                    a href=(format!("/author/{}", c.author)) { (who(c.name.as_deref(), &c.author)) }
                    " #" (c.seq) ": " (display(&c.statement))
                    " · context “" (display(&c.context)) "”"
                    @if !c.message.is_empty() { " · message “" (display(&c.message)) "”" }
                    " · "
                    @match &c.verdict {
                        Ok(()) => { span.verdict.ok { "valid" } }
                        Err(e) => { span.verdict.error { (e) } }
                    }
                }
            }
        }
        @if rows.is_empty() { p.muted { "No claims yet." } }
    }
}

/// The peers page's body: the peer table and the status lines.
pub(crate) fn peers(rows: &[serde_json::Value], status: &[String]) -> Markup {
    let s = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "-".into(),
        v => v.to_string(),
    };
    html! {
        table #peers {
            thead { tr { th { "peer" } th { "author" } th { "score" } th { "connected" } th { "banned" } } }
            tbody {
                @for r in rows {
                    tr {
                        td.key { (text::short(&s(&r["peer_id"]))) "…" }
                        td.key { (s(&r["author"])) }
                        td { (s(&r["core_score"])) }
                        td { (s(&r["connected"])) }
                        td { (s(&r["banned"])) }
                    }
                }
            }
        }
        @if rows.is_empty() { p.muted { "No peers connected." } }
        h2 { "Status" }
        (lines("status", status))
    }
}
