//! Target 9, `control_request`: control-socket requests.
//!
//! The input is what a client writes to `node.sock`. The node reads one line of at most
//! `REQUEST_LEN_MAX` bytes and parses it as a JSON `Request`; the account actions
//! (post, profile, follow, unfollow) then build their payload through the one rule
//! (`Action::payload`), and the other requests parse their arguments (author keys,
//! device codes). The input is also parsed as a `Response` line, as a client does.
//!
//! Invariants: nothing panics; a request that parses serialises and parses back to
//! itself; an action's payload is built exactly when the independent model of its
//! rules says so (text bounds, a non-empty post unless forced, 64-hex-digit admissible
//! keys, not following oneself, no duplicate follow or unfollow of a stranger unless
//! forced, a reply naming a stored block), and then carries the request's fields and
//! encodes canonically; a device code parses exactly when it has 20 hex digits.

use crate::bytes::Writer;
use glitter_core::sig::PublicKey;
use glitter_core::social::Payload;
use glitter_host::account::{Action, Context, author_arg};
use glitter_net::backup_proto::parse_device_code;
use glitter_net::control::REQUEST_LEN_MAX;
use glitter_net::{Request, Response};
use glitter_tests::TestChain;
use std::sync::OnceLock;

/// The node's own chain (seed 101) and a followed author's (seed 102).
fn chains() -> &'static (TestChain, TestChain) {
    static C: OnceLock<(TestChain, TestChain)> = OnceLock::new();
    C.get_or_init(|| {
        (
            crate::fixtures::posts(101, 2),
            crate::fixtures::posts(102, 3),
        )
    })
}

/// A 64-hex-digit admissible key, as the model reads one: hex digits of either case,
/// surrounding whitespace allowed.
fn key_model(s: &str) -> Option<PublicKey> {
    let t = s.trim();
    if t.len() != 64 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut k = [0u8; 32];
    for (i, x) in k.iter_mut().enumerate() {
        *x = u8::from_str_radix(&t[2 * i..2 * i + 2], 16).ok()?;
    }
    crate::key_model::admitted(&k).then_some(PublicKey(k))
}

/// The model's payload of an action, `None` when it must be refused.
fn model(action: &Action, me: &PublicKey, follows: &[PublicKey]) -> Option<Payload> {
    let stored = |a: &PublicKey, seq: u64| {
        let (own, other) = chains();
        [own, other]
            .into_iter()
            .find(|c| c.keys.public() == *a)
            .and_then(|c| c.headers.get((seq as usize).wrapping_sub(1)).copied())
    };
    match action {
        Action::Post {
            text,
            reply_to,
            force,
        } => {
            if (!force && text.trim().is_empty()) || text.len() > 512 {
                return None;
            }
            let reply = match reply_to {
                None => None,
                Some(r) => {
                    let (a, s) = r.split_once(':')?;
                    let author = key_model(a)?;
                    let seq: u64 = s.parse().ok()?;
                    let h = stored(&author, seq)?;
                    Some(glitter_core::social::BlockRef::new(author, seq, h.id()))
                }
            };
            Payload::post(text, reply).ok()
        }
        Action::Follow { author, force } => {
            let a = key_model(author)?;
            (a != *me && (*force || !follows.contains(&a))).then_some(Payload::Follow(
                glitter_core::social::Follow { author: a.0 },
            ))
        }
        Action::Unfollow { author, force } => {
            let a = key_model(author)?;
            (*force || follows.contains(&a)).then_some(Payload::Unfollow(
                glitter_core::social::Unfollow { author: a.0 },
            ))
        }
        Action::Profile { name, about } => {
            (name.len() <= 64 && about.len() <= 256).then(|| Payload::profile(name, about).ok())?
        }
    }
}

fn action_of(r: &Request) -> Option<Action> {
    Some(match r.clone() {
        Request::Post {
            text,
            reply_to,
            force,
        } => Action::Post {
            text,
            reply_to,
            force,
        },
        Request::Profile { name, about } => Action::Profile { name, about },
        Request::Follow { author, force } => Action::Follow { author, force },
        Request::Unfollow { author, force } => Action::Unfollow { author, force },
        _ => return None,
    })
}

fn device_code_model(s: &str) -> bool {
    let digits: Vec<char> = s
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\t'))
        .collect();
    digits.len() == 20 && digits.iter().all(char::is_ascii_hexdigit)
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let (own, other) = chains();
    let me = own.keys.public();
    let follows = [other.keys.public()];
    let limited = &data[..data.len().min(REQUEST_LEN_MAX)];
    let line = match limited.iter().position(|b| *b == b'\n') {
        Some(i) => &limited[..=i],
        None => limited,
    };
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(resp) = serde_json::from_str::<Response>(text.trim())
    {
        let again = serde_json::to_string(&resp).expect("a response serialises");
        let back: Response = serde_json::from_str(&again).expect("and parses back");
        assert_eq!(back.ok, resp.ok);
        assert_eq!(back.lines, resp.lines);
    }
    let Ok(line) = std::str::from_utf8(line) else {
        return;
    };
    let Ok(req) = serde_json::from_str::<Request>(line.trim()) else {
        return;
    };
    let again = serde_json::to_string(&req).expect("a request serialises");
    assert_eq!(
        serde_json::from_str::<Request>(&again).ok().as_ref(),
        Some(&req)
    );
    if let Some(action) = action_of(&req) {
        let ctx = Context {
            me,
            follows: &follows,
        };
        let got = action.payload(ctx, |a, seq| {
            [own, other]
                .into_iter()
                .find(|c| c.keys.public() == *a)
                .and_then(|c| c.headers.get((seq as usize).wrapping_sub(1)).copied())
        });
        let want = model(&action, &me, &follows);
        assert_eq!(
            got.as_ref().ok(),
            want.as_ref(),
            "payload {got:?}, model {want:?}"
        );
        if let Ok(p) = got {
            let mut buf = [0u8; 1024];
            let bytes = p.encode(&mut buf).expect("a built payload encodes");
            assert_eq!(Payload::decode(p.kind(), bytes).as_ref(), Ok(&p));
            let _ = action.done(&own.headers[0]);
        }
    }
    let keys: Vec<&String> = match &req {
        Request::Head { author, .. } => vec![author],
        Request::Release { owner, code, .. } => {
            let parsed = parse_device_code(code);
            assert_eq!(parsed.is_ok(), device_code_model(code), "{parsed:?}");
            if let Ok(p) = parsed {
                assert_eq!(parse_device_code(&p), Ok(p.clone()));
            }
            vec![owner]
        }
        Request::CustodyAccept { owner } | Request::CustodyRevoke { owner, .. } => vec![owner],
        Request::Backup { custodians, .. } => custodians.iter().collect(),
        _ => Vec::new(),
    };
    for k in keys {
        assert_eq!(author_arg(k).ok(), key_model(k), "key {k:?}");
    }
}

/// Seeds: one request of every kind (with valid arguments), a response line, and a
/// few invalid ones.
pub fn seeds() -> Vec<Vec<u8>> {
    let (own, other) = chains();
    let me = own.keys.public().to_string();
    let them = other.keys.public().to_string();
    let reqs = [
        Request::Status,
        Request::Post {
            text: "hello".into(),
            reply_to: Some(format!("{them}:2")),
            force: false,
        },
        Request::Post {
            text: " ".into(),
            reply_to: None,
            force: true,
        },
        Request::Profile {
            name: "Ada".into(),
            about: "ü".into(),
        },
        Request::Follow {
            author: me.clone(),
            force: false,
        },
        Request::Unfollow {
            author: them.clone(),
            force: false,
        },
        Request::Head {
            author: them.clone(),
            seq: Some(2),
        },
        Request::Release {
            owner: them.clone(),
            code: "0123a-4567b-89abc-def01".into(),
            valid_for_s: Some(60),
        },
        Request::Backup {
            custodians: vec![them.clone(), me],
            threshold: 2,
        },
        Request::CustodyRevoke {
            owner: them,
            delete: true,
        },
        Request::PostMany { count: 3 },
        Request::Stop,
    ];
    let mut out: Vec<Vec<u8>> = reqs
        .iter()
        .map(|r| {
            let mut line = serde_json::to_vec(r).unwrap_or_default();
            line.push(b'\n');
            line
        })
        .collect();
    out.push(
        Writer::new()
            .bytes(br#"{"ok":true,"error":null,"lines":["posted"],"data":{"seq":3}}"#)
            .finish(),
    );
    out.push(br#"{"cmd":"follow","author":"zz","x":1}"#.to_vec());
    out
}
