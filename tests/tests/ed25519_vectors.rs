//! glitter's signature rule pinned on public vectors (speccheck and Wycheproof), and
//! whether each vector's key is admitted as an identity (torsion-free, issue 15).
//!
//! The verdict tables live in `tests/vectors/ed25519/pinned.rs`, which the firmware
//! `include!`s too, so a library upgrade or a second implementation that changes any
//! verdict fails loudly on both. Regenerate on purpose with
//! `GLITTER_REGEN_VECTORS=1 cargo test -p glitter-tests --test ed25519_vectors`.

use glitter_core::sig::{key_verdict, verdict};
use serde_json::Value;
use std::fmt::Write as _;

include!("../vectors/ed25519/pinned.rs");

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/ed25519");

struct Case {
    name: String,
    key: Vec<u8>,
    msg: Vec<u8>,
    sig: Vec<u8>,
    wycheproof_valid: Option<bool>,
}

fn load() -> Vec<Case> {
    let h = |v: &Value| hex::decode(v.as_str().unwrap()).unwrap();
    let mut out = Vec::new();
    let spec: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{DIR}/speccheck_cases.json")).unwrap(),
    )
    .unwrap();
    for (i, c) in spec.as_array().unwrap().iter().enumerate() {
        out.push(Case {
            name: format!("speccheck-{i}"),
            key: h(&c["pub_key"]),
            msg: h(&c["message"]),
            sig: h(&c["signature"]),
            wycheproof_valid: None,
        });
    }
    let wp: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{DIR}/wycheproof_ed25519.json")).unwrap(),
    )
    .unwrap();
    for g in wp["testGroups"].as_array().unwrap() {
        let key = h(&g["publicKey"]["pk"]);
        for t in g["tests"].as_array().unwrap() {
            out.push(Case {
                name: format!("wycheproof-{}", t["tcId"]),
                key: key.clone(),
                msg: h(&t["msg"]),
                sig: h(&t["sig"]),
                wycheproof_valid: Some(t["result"].as_str().unwrap() == "valid"),
            });
        }
    }
    out
}

fn render(cases: &[Case]) -> String {
    let mut s = String::new();
    s.push_str(
        "// GENERATED from speccheck_cases.json and wycheproof_ed25519.json (see SOURCE.md).\n\
         // Do not edit. Regenerate on purpose: GLITTER_REGEN_VECTORS=1 cargo test -p glitter-tests --test ed25519_vectors\n\
         /// (case name, public key, message, signature, glitter's verdict).\n\
         #[allow(dead_code, clippy::type_complexity)]\n\
         pub const PINNED: &[(&str, &[u8], &[u8], &[u8], &str)] = &[\n",
    );
    for c in cases {
        writeln!(
            s,
            "    (\"{}\", &{:?}, &{:?}, &{:?}, \"{}\"),",
            c.name,
            c.key,
            c.msg,
            c.sig,
            verdict(&c.key, &c.msg, &c.sig)
        )
        .unwrap();
    }
    s.push_str("];\n");
    s.push_str(
        "/// (first case using the key, public key, glitter's verdict on admitting the key\n\
         /// as an identity: `glitter_core::sig::key_verdict`), one row per distinct key.\n\
         #[allow(dead_code, clippy::type_complexity)]\n\
         pub const PINNED_KEYS: &[(&str, &[u8], &str)] = &[\n",
    );
    for (name, key) in distinct_keys(cases) {
        writeln!(s, "    (\"{name}\", &{key:?}, \"{}\"),", key_verdict(key)).unwrap();
    }
    s.push_str("];\n");
    s
}

/// Each distinct key of `cases` with the first case that uses it, in case order.
fn distinct_keys(cases: &[Case]) -> Vec<(&str, &[u8])> {
    let mut out: Vec<(&str, &[u8])> = Vec::new();
    for c in cases {
        if !out.iter().any(|(_, k)| *k == &c.key[..]) {
            out.push((&c.name, &c.key));
        }
    }
    out
}

#[test]
fn pinned_table_matches_the_json_and_the_rule() {
    let cases = load();
    assert_eq!(cases.len(), 12 + 151);
    if std::env::var_os("GLITTER_REGEN_VECTORS").is_some() {
        std::fs::write(format!("{DIR}/pinned.rs"), render(&cases)).unwrap();
    }
    assert_eq!(
        PINNED.len(),
        cases.len(),
        "pinned.rs is stale: regenerate it"
    );
    for (c, p) in cases.iter().zip(PINNED) {
        assert_eq!(c.name, p.0);
        assert_eq!(
            (&c.key[..], &c.msg[..], &c.sig[..]),
            (p.1, p.2, p.3),
            "{}",
            c.name
        );
        assert_eq!(verdict(p.1, p.2, p.3), p.4, "verdict of {} changed", p.0);
    }
    let keys = distinct_keys(&cases);
    assert_eq!(
        PINNED_KEYS.len(),
        keys.len(),
        "pinned.rs is stale: regenerate it"
    );
    for ((name, key), p) in keys.iter().zip(PINNED_KEYS) {
        assert_eq!((*name, *key), (p.0, p.1));
        assert_eq!(key_verdict(p.1), p.2, "key verdict of {} changed", p.0);
    }
}

/// Whether each speccheck case's key is admitted as an identity, with the reason,
/// derived from the rule in the README. The signature verdicts above stay as they
/// are (verification does not repeat the admission check), but the mixed-order keys
/// of cases 2–5 and 8–9 can no longer be anyone's identity, so no chain can carry them.
#[test]
fn speccheck_key_verdicts() {
    let expect = [
        ("weak-key", "0: small-order A"),
        ("weak-key", "1: small-order A"),
        ("torsion-component", "2: mixed-order A"),
        ("torsion-component", "3: mixed-order A"),
        ("torsion-component", "4: mixed-order A"),
        ("torsion-component", "5: mixed-order A"),
        ("accept", "6: prime-order A"),
        ("accept", "7: prime-order A"),
        ("torsion-component", "8: mixed-order A (the key of case 2)"),
        ("torsion-component", "9: mixed-order A (the key of case 2)"),
        ("non-canonical-key", "10: non-canonical A"),
        ("non-canonical-key", "11: non-canonical A"),
    ];
    let cases = load();
    for (i, (want, why)) in expect.iter().enumerate() {
        assert_eq!(key_verdict(&cases[i].key), *want, "speccheck case {why}");
    }
    // Every Wycheproof key is an honest, torsion-free key.
    for c in cases.iter().filter(|c| c.wycheproof_valid.is_some()) {
        assert_eq!(key_verdict(&c.key), "accept", "{}", c.name);
    }
}

/// glitter's verdict on each "Taming the many EdDSAs" case, with the reason, derived
/// from the rule in the README (not from running the code).
#[test]
fn speccheck_verdicts() {
    let expect = [
        ("weak-key", "0: small-order A and small-order R, S = 0"),
        ("weak-key", "1: small-order A, mixed-order R"),
        ("weak-r", "2: mixed-order A, small-order R"),
        ("accept", "3: mixed-order A and R, both equations hold"),
        (
            "accept",
            "4: mixed-order A and R, only the cofactored equation holds",
        ),
        (
            "accept",
            "5: mixed-order A, only the cofactored equation holds",
        ),
        ("non-canonical-s", "6: S > L"),
        ("non-canonical-s", "7: S much larger than L"),
        ("non-canonical-r", "8: non-canonical R"),
        ("non-canonical-r", "9: non-canonical R"),
        ("non-canonical-key", "10: non-canonical A"),
        ("non-canonical-key", "11: non-canonical A"),
    ];
    let cases = load();
    for (i, (want, why)) in expect.iter().enumerate() {
        let c = &cases[i];
        assert_eq!(
            verdict(&c.key, &c.msg, &c.sig),
            *want,
            "speccheck case {why}"
        );
    }
}

/// Wycheproof cases where glitter's verdict differs from Wycheproof's `result`, each
/// with the reason. Every other case must agree.
#[test]
fn wycheproof_agrees_except_listed() {
    let differ: &[(u32, &str)] = &[];
    let mut seen = Vec::new();
    for c in load().into_iter().filter(|c| c.wycheproof_valid.is_some()) {
        let ok = verdict(&c.key, &c.msg, &c.sig) == "accept";
        let id: u32 = c.name.trim_start_matches("wycheproof-").parse().unwrap();
        if ok != c.wycheproof_valid.unwrap() {
            seen.push(id);
            assert!(
                differ.iter().any(|(d, _)| *d == id),
                "{}: glitter says {}, Wycheproof says {}",
                c.name,
                verdict(&c.key, &c.msg, &c.sig),
                c.wycheproof_valid.unwrap()
            );
        }
    }
    assert_eq!(
        seen.len(),
        differ.len(),
        "listed differences that no longer differ"
    );
}
