//! Text from chains, made safe to show: the template engine escapes HTML; this makes
//! control and bidi characters visible, so no post can reorder or hide what is shown
//! around it.

use glitter_host::feed::{self, is_unsafe_char};
use std::fmt::Write as _;

/// `s` with every control and bidi character but the newline shown as a visible escape
/// (`\u{202e}`); newlines stay (the page shows them as line breaks).
pub(crate) fn display(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' => out.push('\n'),
            c if is_unsafe_char(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// The first 8 hex digits of a hex key.
pub(crate) fn short(key: &str) -> &str {
    key.get(..8).unwrap_or(key)
}

/// An author's name (made visible) or the short form of their key.
pub(crate) fn who(name: Option<&str>, key: &str) -> String {
    match name {
        Some(n) if !n.is_empty() => format!("{} ({})", display(n), short(key)),
        _ => short(key).to_string(),
    }
}

/// A timestamp as RFC 3339 UTC.
pub(crate) fn time(ms: u64) -> String {
    feed::time(ms)
}

/// True for a 64-hex-digit key (the only user-given text that goes into a URL).
pub(crate) fn is_key(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_and_controls_become_visible_newlines_stay() {
        assert_eq!(display("a\u{202e}b"), "a\\u{202e}b");
        assert_eq!(display("x\ny\u{1b}"), "x\ny\\u{1b}");
        assert_eq!(display("<b>"), "<b>", "HTML is the template's job");
        assert!(is_key(&"ab".repeat(32)) && !is_key("../x"));
    }
}
