//! Picks the memory layout of the selected machine and hands it to cortex-m-rt's
//! `link.x` as `memory.x` in `OUT_DIR` (the cortex-m-quickstart habit, with one file
//! per machine).

use std::env;
use std::fs;
use std::path::PathBuf;

/// (cargo feature, memory file under `memory/`).
const MACHINES: [(&str, &str); 3] = [
    ("LM3S6965", "lm3s6965.x"),
    ("MPS2_AN386", "mps2-an386.x"),
    ("NRF52840", "nrf52840.x"),
];

fn main() {
    let selected: Vec<&str> = MACHINES
        .iter()
        .filter(|(feature, _)| env::var_os(format!("CARGO_FEATURE_{feature}")).is_some())
        .map(|(_, file)| *file)
        .collect();
    let file = match selected.as_slice() {
        [one] => *one,
        _ => panic!(
            "select exactly one machine feature: lm3s6965 (default), mps2-an386 or nrf52840 \
             (use --no-default-features with the last two); selected: {selected:?}"
        ),
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
}
