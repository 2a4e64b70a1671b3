//! Human-readable views of chains.

use crate::chainfile::VerifiedChain;
use glitter_core::sig::PublicKey;
use glitter_core::social::{Payload, TrustRole};
use glitter_core::wire::header::Header;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

/// True for a character that must never reach a terminal raw: C0 controls (including
/// newline, carriage return, tab and ESC), DEL, C1 controls (U+0080–U+009F), and the
/// bidirectional controls (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069).
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// A user-controlled string (post text, a name, anything from a chain) made safe to
/// print on one terminal line: every control and bidi character becomes a visible
/// escape (`\n`, `\r`, `\t`, otherwise `\u{1b}`), so a post can never look like two
/// posts, move the cursor or change the terminal. Clean text is borrowed as is.
pub fn safe_text(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe_char(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Formats a timestamp as RFC 3339 UTC to the second.
pub fn time(ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// A short form of an author key: the first 8 hex digits.
pub fn short(pk: &PublicKey) -> String {
    hex::encode(&pk.0[..4])
}

/// One line describing a block's payload (or "(pruned)").
pub fn describe(h: &Header, payload: Option<&[u8]>, names: &BTreeMap<PublicKey, String>) -> String {
    let name_of = |k: &[u8; 32]| {
        let pk = PublicKey(*k);
        names
            .get(&pk)
            .map(|n| format!("{n} ({})", short(&pk)))
            .unwrap_or_else(|| short(&pk))
    };
    let Some(p) = payload else {
        return format!("{} (payload pruned)", h.kind.name());
    };
    match Payload::decode(h.kind, p) {
        Ok(Payload::Post(post)) => match post.reply_to {
            Some(r) => format!(
                "replied to {}#{}: {}",
                name_of(&r.author),
                r.seq,
                safe_text(post.text.as_str())
            ),
            None => format!("posted: {}", safe_text(post.text.as_str())),
        },
        Ok(Payload::Profile(pr)) => format!(
            "set profile name=\"{}\" about=\"{}\"",
            safe_text(pr.name.as_str()),
            safe_text(pr.about.as_str())
        ),
        Ok(Payload::Follow(f)) => format!("followed {}", name_of(&f.author)),
        Ok(Payload::Unfollow(f)) => format!("unfollowed {}", name_of(&f.author)),
        Ok(Payload::Trust(t)) => match t.role {
            TrustRole::Custodian => format!("trusts {} as backup custodian", name_of(&t.subject)),
            TrustRole::Witness => format!(
                "trusts {} as witness (k={})",
                name_of(&t.subject),
                t.threshold
            ),
            TrustRole::Revoke => format!("revoked trust in {}", name_of(&t.subject)),
        },
        Ok(Payload::Attestation(a)) => format!("attested {} head(s)", a.heads.len()),
        Ok(Payload::BackupManifest(m)) => format!(
            "backed up (version {}, {} of {} custodians, seq 1..={})",
            m.version,
            m.threshold,
            m.custodians.len(),
            m.last_seq()
        ),
        Ok(Payload::Claim(c)) => format!(
            "claimed {} ({} backend)",
            match c.statement {
                glitter_core::zk::ClaimStatement::KnowsKey { .. } => "control of a key".to_string(),
                glitter_core::zk::ClaimStatement::RingMember { members } =>
                    format!("membership in a ring of {}", members.len()),
                glitter_core::zk::ClaimStatement::PostCount { posts, .. } =>
                    format!("at least {posts} posts"),
                glitter_core::zk::ClaimStatement::Member { n, .. } =>
                    format!("membership in a set of {n}"),
                glitter_core::zk::ClaimStatement::PostCountMember { min_posts, n, .. } =>
                    format!("being one of {n} authors with at least {min_posts} posts"),
            },
            match c.backend {
                glitter_core::social::ClaimBackend::Placeholder => "placeholder",
                glitter_core::social::ClaimBackend::Dalek => "dalek",
            }
        ),
        Err(e) => format!(
            "{} (undecodable payload: {})",
            h.kind.name(),
            safe_text(&e.to_string())
        ),
    }
}

/// The latest profile name of each chain, made safe to print ([`safe_text`]).
pub fn names(chains: &[VerifiedChain]) -> BTreeMap<PublicKey, String> {
    let mut out = BTreeMap::new();
    for c in chains {
        for (h, p) in c.headers.iter().zip(&c.payloads) {
            if let Some(p) = p
                && let Ok(Payload::Profile(pr)) = Payload::decode(h.kind, p)
            {
                out.insert(c.author, safe_text(pr.name.as_str()).into_owned());
            }
        }
    }
    out
}

/// The authors a chain currently follows (Follow minus later Unfollow).
pub fn follows(chain: &VerifiedChain) -> Vec<PublicKey> {
    let mut set = std::collections::BTreeSet::new();
    for (h, p) in chain.headers.iter().zip(&chain.payloads) {
        match p.as_deref().map(|p| Payload::decode(h.kind, p)) {
            Some(Ok(Payload::Follow(f))) => {
                set.insert(PublicKey(f.author));
            }
            Some(Ok(Payload::Unfollow(f))) => {
                set.remove(&PublicKey(f.author));
            }
            _ => {}
        }
    }
    set.into_iter().collect()
}

/// All blocks of `chains`, oldest first, one line each.
pub fn render(chains: &[VerifiedChain]) -> Vec<String> {
    let names = names(chains);
    let mut rows: Vec<(u64, PublicKey, u64, String)> = Vec::new();
    for c in chains {
        for (h, p) in c.headers.iter().zip(&c.payloads) {
            rows.push((
                h.timestamp_ms,
                c.author,
                h.seq,
                describe(h, p.as_deref(), &names),
            ));
        }
    }
    rows.sort_by_key(|r| (r.0, r.1, r.2));
    rows.into_iter()
        .map(|(ts, a, seq, text)| {
            let who = names
                .get(&a)
                .map(|n| format!("{n} ({})", short(&a)))
                .unwrap_or_else(|| short(&a));
            format!("{}  {who} #{seq}  {text}", time(ts))
        })
        .collect()
}
