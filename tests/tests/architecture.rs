//! Core's layering: no module of `glitter-core` uses a module of a higher layer.
//!
//! The order is written once, in the crate docs of `core/src/lib.rs` (section
//! `## Layers`): a numbered list, each item naming its modules in backticks before
//! the first `: `. A module may use the modules of earlier items only; modules named
//! in one item are independent peers and may not use each other.
//!
//! This test parses that list, then reads every `core/src/**/*.rs` file and finds
//! every path into another module of the crate:
//!
//! - in code (comments and string literals stripped): `crate::m`, grouped imports
//!   `crate::{a, b::C}`, paths through the crate root's re-exports (`crate::Header` is
//!   `wire`'s), and `super::super::…` chains that climb out of a top-level module
//!   (inline `mod x { … }` blocks are tracked for that);
//! - in doc comments: `crate::m` (intra-doc links) and `glitter_core::m` (examples),
//!   so that a lower module does not even document a higher one by path.
//!
//! Each file belongs to its top-level module (`chain/fork.rs` is `chain`); the crate
//! root `lib.rs` is the facade and is exempt. It also checks that every `mod` of
//! `lib.rs` is in the list (so no new module escapes the rule) and the reverse. The
//! checker checks itself on synthetic sources first, so it cannot pass vacuously.

#[allow(dead_code)] // shared with host_architecture.rs; each test uses part of it
mod layering;

use layering::{Report, check, parse_layers, parse_root, rs_files};
use std::fs;
use std::path::Path;

const CORE_SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../core/src");

fn core_files() -> (String, Vec<(String, String)>) {
    let base = Path::new(CORE_SRC);
    let lib = fs::read_to_string(base.join("lib.rs")).expect("core/src/lib.rs");
    (lib, rs_files(base))
}

#[test]
fn core_modules_use_only_lower_layers() {
    let (lib, files) = core_files();
    let report = check(&lib, &files);
    assert!(
        report.violations.is_empty(),
        "core's layering is broken ({} problems):\n  {}",
        report.violations.len(),
        report.violations.join("\n  ")
    );
    // Not vacuous: the walk found the tree and checked its paths.
    eprintln!(
        "architecture: {} files, {} cross-module paths checked",
        report.files, report.edges
    );
    assert!(report.files >= 30, "only {} files checked", report.files);
    assert!(
        report.edges >= 50,
        "only {} cross-module paths checked",
        report.edges
    );
}

#[test]
fn the_documented_order_covers_every_module() {
    let (lib, _) = core_files();
    let layers = parse_layers(&lib).unwrap();
    let (mods, reexports) = parse_root(&lib);
    assert!(layers.items >= 5, "{layers:?}");
    assert!(mods.len() >= 10, "{mods:?}");
    for m in &mods {
        assert!(layers.item_of.contains_key(m), "`{m}` not in the order");
    }
    for m in reexports.values() {
        assert!(layers.item_of.contains_key(m), "re-export from `{m}`");
    }
    // The rule the order exists for: chain below everything that carries payloads
    // above it, and the payload data below chain.
    assert!(layers.item_of["social"] < layers.item_of["chain"]);
    assert!(layers.item_of["chain"] < layers.item_of["zk"]);
    assert!(layers.item_of["chain"] < layers.item_of["backup"]);
    assert!(layers.item_of["store"] < layers.item_of["sync"]);
    assert_eq!(reexports.get("Header").map(String::as_str), Some("wire"));
}

// --- the checker checks itself ------------------------------------------------------

const TOY_LIB: &str = "\
//! Toy.
//!
//! ## Layers
//!
//! 1. [`a`]: bottom.
//! 2. [`b`], [`c`]: peers, see [`a::X`].
//! 3. `d`: top (feature-gated, so not a link).
//!
//! ## Other
//!
//! 9. `e`: not a layer.
pub mod a;
pub mod b;
mod c;
#[cfg(feature = \"d\")]
pub mod d;
pub use a::{X, inner::Y as Z};
pub use d::Thing;
";

fn toy(files: &[(&str, &str)]) -> Report {
    let files: Vec<(String, String)> = files
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect();
    check(TOY_LIB, &files)
}

#[test]
fn self_check_parses_the_order() {
    let l = parse_layers(TOY_LIB).unwrap();
    assert_eq!(l.items, 3);
    let got: Vec<(&str, usize)> = l.item_of.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(got, [("a", 1), ("b", 2), ("c", 2), ("d", 3)]);
    let (mods, re) = parse_root(TOY_LIB);
    assert_eq!(mods, ["a", "b", "c", "d"]);
    let re: Vec<(&str, &str)> = re.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(re, [("Thing", "d"), ("X", "a"), ("Z", "a")]);
    assert!(parse_layers("//! ## Layers\n//!\n//! 1. [`a`]: x\n//! 3. [`b`]: y\n").is_err());
    assert!(parse_layers("//! no layers here\n").is_err());
}

#[test]
fn self_check_flags_an_upward_import() {
    let r = toy(&[("b.rs", "use crate::a::X;\nuse crate::d::Thing;\n")]);
    assert_eq!(
        r.violations,
        ["core module `b` (b.rs:2) imports higher layer `d` (layer 3 > 2)"]
    );
    assert_eq!(r.edges, 2);
}

#[test]
fn self_check_flags_grouped_reexported_and_super_paths() {
    let r = toy(&[
        ("c/x.rs", "use crate::{a::X, d};\n"),
        (
            "c/y.rs",
            "fn f() { crate::Thing::new(); crate::X::new(); crate :: Z::new() }\n",
        ),
        ("c/z.rs", "fn g() { super::super::d::h() }\n"),
        ("c/mod.rs", "mod t {\n    use super::super::d::h;\n}\n"),
        // Stays inside `c`: two levels up from c/w.rs's inline `mod t` is `c`.
        (
            "c/w.rs",
            "mod t {\n    use super::super::q;\n    use super::*;\n}\n",
        ),
        (
            "a.rs",
            "pub use crate::{self as root, d::{Thing, Other}};\n",
        ),
    ]);
    assert_eq!(
        r.violations,
        [
            "core module `c` (c/x.rs:1) imports higher layer `d` (layer 3 > 2)",
            "core module `c` (c/y.rs:1) imports higher layer `d` (layer 3 > 2)",
            "core module `c` (c/z.rs:1) imports higher layer `d` (layer 3 > 2)",
            "core module `c` (c/mod.rs:2) imports higher layer `d` (layer 3 > 2)",
            "core module `a` (a.rs:1) imports higher layer `d` (layer 3 > 1)",
        ]
    );
}

#[test]
fn self_check_flags_peers_docs_and_unknown_paths() {
    let r = toy(&[
        ("b.rs", "use crate::c::Y;\n"),
        (
            "a.rs",
            "/// See [`Thing`](crate::d::Thing).\n//! and `glitter_core::b`\nfn f() {}\n",
        ),
        ("c.rs", "use crate::nope::Y;\n"),
        ("e.rs", "fn f() {}\n"),
    ]);
    assert_eq!(
        r.violations,
        [
            "core module `b` (b.rs:1) imports `c`, a peer in its own layer 2: peers must be \
             independent (move one to a later item)",
            "core module `a` (a.rs:1) mentions in its docs higher layer `d` (layer 3 > 1)",
            "core module `a` (a.rs:2) mentions in its docs higher layer `b` (layer 2 > 1)",
            "core module `c` (c.rs:1) uses `crate::nope`, which is neither a module in the \
             layer order nor a root re-export",
            "e.rs belongs to `e`, which is not in the layer order",
        ]
    );
}

#[test]
fn self_check_ignores_comments_and_strings() {
    let r = toy(&[(
        "a.rs",
        "// use crate::d;\n/* crate::d /* nested crate::d */ */\nconst S: &str = \"crate::d\";\n\
         const R: &str = r#\"crate::d \"quoted\"\"#;\nconst C: char = '\"';\n\
         fn f<'a>(x: &'a str) -> &'a str { x }\nuse crate::a::X;\n//// crate::d (not a doc)\n",
    )]);
    assert_eq!(r.violations, Vec::<String>::new());
    assert_eq!(r.edges, 0, "a's own path is not an edge");
}

#[test]
fn self_check_requires_every_module_in_the_order() {
    let lib = TOY_LIB.replace("mod c;", "mod c;\npub mod extra;");
    let r = check(&lib, &[]);
    assert_eq!(
        r.violations,
        [
            "core module `extra` is declared in lib.rs but missing from the layer order in its \
          crate docs (`## Layers`)"
        ]
    );
    let lib = TOY_LIB.replace("mod c;", "");
    let r = check(&lib, &[]);
    assert_eq!(
        r.violations,
        ["the layer order lists `c`, which lib.rs does not declare"]
    );
}
