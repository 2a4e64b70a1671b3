//! The host crates' architecture (see `docs/ARCHITECTURE.md`):
//!
//! 1. no module-level import cycle inside any host crate (`glitter-host`,
//!    `glitter-sim`, `glitter-net`, `glitter-web`, `glitter`), nor in core (core's stricter layer rule
//!    is `architecture.rs`);
//! 2. the crates depend on each other only downwards: host ← sim, host ← net,
//!    {host, net} ← web, {host, sim, net} ← lab,
//!    everything ← cli; and the simulator's normal dependency tree (as cargo resolves
//!    it) contains no libp2p, tokio or clap, so it cannot touch a socket;
//! 3. anyhow is a dependency of the binary crate only; library crates do not print;
//! 4. only `glitter-host`'s `os` module reads the wall clock or OS randomness.

#[allow(dead_code)] // shared with architecture.rs; each test uses part of it
mod layering;

use layering::{find_cycle, module_edges, rs_files};
use std::fs;
use std::path::Path;
use std::process::Command;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// (package, directory relative to the repository root).
const HOST_CRATES: [(&str, &str); 6] = [
    ("glitter-host", "host-sim/host"),
    ("glitter-sim", "host-sim/sim"),
    ("glitter-net", "host-sim/net"),
    ("glitter-web", "host-sim/web"),
    ("glitter-lab", "host-sim/lab"),
    ("glitter", "host-sim/cli"),
];

fn sources(dir: &str) -> (String, Vec<(String, String)>) {
    let base = Path::new(ROOT).join(dir).join("src");
    let files = rs_files(&base);
    let lib = fs::read_to_string(base.join("lib.rs")).unwrap_or_default();
    (lib, files)
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let e = |a: &str, b: &str| (a.to_string(), b.to_string(), String::new());
    assert_eq!(find_cycle(&[e("a", "b"), e("b", "c")]), None);
    let c = find_cycle(&[e("a", "b"), e("b", "c"), e("c", "a")]).expect("a cycle");
    assert_eq!(c.first(), c.last());
    assert_eq!(c.len(), 4);
    // And the edge finder sees `crate::` paths in code, not in comments.
    let lib = "pub mod a;\npub mod b;\n";
    let files = vec![
        (
            "a.rs".to_string(),
            "use crate::b::X;\n// crate::c\n".to_string(),
        ),
        (
            "b.rs".to_string(),
            "fn f() { crate::a::g(); }\n".to_string(),
        ),
    ];
    let edges = module_edges(lib, &files);
    assert_eq!(edges.len(), 2, "{edges:?}");
    assert!(find_cycle(&edges).is_some());
}

#[test]
fn no_module_cycle_in_any_crate() {
    let mut total = 0;
    for dir in ["core"]
        .into_iter()
        .chain(HOST_CRATES.iter().map(|(_, d)| *d))
    {
        let (lib, files) = sources(dir);
        let edges = module_edges(&lib, &files);
        total += edges.len();
        if let Some(cycle) = find_cycle(&edges) {
            let hops: Vec<String> = cycle
                .windows(2)
                .map(|w| {
                    let at = edges
                        .iter()
                        .find(|(a, b, _)| *a == w[0] && *b == w[1])
                        .map_or("", |(_, _, at)| at.as_str());
                    format!("{} → {} ({at})", w[0], w[1])
                })
                .collect();
            panic!("{dir}: module import cycle: {}", hops.join(", "));
        }
    }
    assert!(
        total >= 50,
        "only {total} cross-module edges found: the walk is broken"
    );
}

fn manifest_deps(dir: &str) -> String {
    let text = fs::read_to_string(Path::new(ROOT).join(dir).join("Cargo.toml")).unwrap();
    // The [dependencies] table only (dev-dependencies may use anything).
    let start = text.find("[dependencies]").expect("a [dependencies] table");
    let rest = &text[start + 14..];
    rest[..rest.find("\n[").unwrap_or(rest.len())].to_string()
}

fn dep_names(deps: &str) -> Vec<String> {
    deps.lines()
        .filter_map(|l| l.split(['=', '.']).next())
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty() && !n.starts_with('#'))
        .collect()
}

#[test]
fn crates_depend_downwards_and_anyhow_only_in_the_binary() {
    let allowed: [(&str, &[&str]); 6] = [
        ("glitter-host", &[]),
        ("glitter-sim", &["glitter-host"]),
        ("glitter-net", &["glitter-host"]),
        // The web app drives a node through its requests (`glitter_net::runtime::NodeHandle`).
        ("glitter-web", &["glitter-host", "glitter-net"]),
        // The lab drives node processes: it uses the sim's seeded streams, the net's
        // control protocol and the host's clock, not core itself.
        (
            "glitter-lab",
            &["glitter-host", "glitter-sim", "glitter-net"],
        ),
        (
            "glitter",
            &[
                "glitter-host",
                "glitter-sim",
                "glitter-net",
                "glitter-web",
                "glitter-lab",
            ],
        ),
    ];
    for ((pkg, dir), (_, ok)) in HOST_CRATES.iter().zip(allowed) {
        let names = dep_names(&manifest_deps(dir));
        assert!(
            *pkg == "glitter-lab" || names.contains(&"glitter-core".to_string()),
            "{pkg}: {names:?}"
        );
        for n in &names {
            if n.starts_with("glitter-") && n != "glitter-core" {
                assert!(ok.contains(&n.as_str()), "{pkg} must not depend on {n}");
            }
        }
        let is_bin = *pkg == "glitter";
        assert_eq!(
            names.contains(&"anyhow".to_string()),
            is_bin,
            "{pkg}: anyhow belongs to the binary only"
        );
        assert_eq!(
            names.contains(&"clap".to_string()),
            is_bin,
            "{pkg}: clap is the CLI's"
        );
    }
}

#[test]
fn the_simulator_links_no_network_runtime_or_cli() {
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "-p",
            "glitter-sim",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--offline",
        ])
        .current_dir(ROOT)
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(
        crates.contains(&"glitter-core"),
        "cargo tree printed: {tree}"
    );
    for banned in ["libp2p", "tokio", "clap", "anyhow"] {
        assert!(
            !crates
                .iter()
                .any(|c| *c == banned || c.starts_with(&format!("{banned}-"))),
            "glitter-sim's dependency tree contains {banned}"
        );
    }
}

#[test]
fn only_the_os_module_reads_the_clock_or_os_randomness_and_libraries_do_not_print() {
    let mut checked = 0;
    for (pkg, dir) in HOST_CRATES {
        let (_, files) = sources(dir);
        for (path, text) in files {
            checked += 1;
            let code: String = text
                .lines()
                .map(|l| l.split("//").next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n");
            let is_os = pkg == "glitter-host" && path == "os.rs";
            for needle in ["SystemTime::now", "Instant::now", "getrandom::"] {
                assert!(
                    is_os || !code.contains(needle),
                    "{dir}/src/{path} uses {needle}: only glitter_host::os may read the clock or OS randomness"
                );
            }
            if pkg != "glitter" {
                for needle in ["println!", "eprintln!", "print!(", "std::io::stdout"] {
                    assert!(
                        !code.contains(needle),
                        "{dir}/src/{path} prints ({needle}): library crates pass lines to a Sink"
                    );
                }
            }
        }
    }
    assert!(checked >= 30, "only {checked} files read");
}
