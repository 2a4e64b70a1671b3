//! Picks the memory layout of the selected machine and hands it to cortex-m-rt's
//! `link.x` as `memory.x` in `OUT_DIR` (the cortex-m-quickstart habit, with one file
//! per machine), and adds defmt's linker script where the console is defmt (the board).
//!
//! The device node (feature `node`) has its own layouts: more RAM under QEMU (its
//! flash image lives in RAM), and on the board an identity page and a larger chain log.

use std::env;
use std::fs;
use std::path::PathBuf;

/// (cargo feature, memory file of the story, memory file of the node).
const MACHINES: [(&str, &str, &str); 3] = [
    ("LM3S6965", "lm3s6965.x", ""),
    ("MPS2_AN386", "mps2-an386.x", "mps2-an386-node.x"),
    ("NRF52840", "nrf52840.x", "nrf52840-node.x"),
];

fn main() {
    let node = env::var_os("CARGO_FEATURE_NODE").is_some();
    let selected: Vec<(&str, &str, &str)> = MACHINES
        .iter()
        .filter(|(feature, _, _)| env::var_os(format!("CARGO_FEATURE_{feature}")).is_some())
        .copied()
        .collect();
    let (feature, story, node_file) = match selected.as_slice() {
        [one] => *one,
        _ => panic!(
            "select exactly one machine feature: lm3s6965 (default), mps2-an386 or nrf52840 \
             (use --no-default-features with the last two); selected: {selected:?}"
        ),
    };
    let file = match (node, node_file) {
        (false, _) => story,
        (true, "") => panic!(
            "feature `node` runs on mps2-an386 or nrf52840 (the node's flash image and \
             buffers do not fit lm3s6965evb's 64 KiB of RAM)"
        ),
        (true, f) => f,
    };
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let source = PathBuf::from("memory").join(file);
    fs::copy(&source, out.join("memory.x"))
        .unwrap_or_else(|e| panic!("copy {}: {e}", source.display()));
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory");
    println!("cargo:rerun-if-changed=build.rs");
    // cortex-m-rt's linker script; link.x INCLUDEs memory.x.
    println!("cargo:rustc-link-arg=-Tlink.x");
    // The board logs with defmt, whose linker script places the interned strings. Only
    // there: the QEMU builds share the thumbv7em target but print plain text.
    if feature == "NRF52840" {
        println!("cargo:rustc-link-arg=-Tdefmt.x");
    }
}
