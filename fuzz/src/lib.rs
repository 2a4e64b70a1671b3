//! glitter's fuzz targets (issue 17) and what they share.
//!
//! Each target is a module of [`targets`] with a `run` function (one input, checked)
//! and a `seeds` function (its seed corpus, built from valid objects through the
//! crates' public APIs); `fuzz_targets/<name>.rs` only calls `run`. The independent
//! slow models live here once: [`chain_model`] (the chain rules), [`payload_model`]
//! (canonical payloads), [`wire_model`] (replication messages), [`key_model`] (key
//! admission), [`sync_model`] (what a replicating node may store and send) and
//! [`flash_model`] (the flash log's committed blocks). They restate the rules from
//! the documentation; they do not call the code they check.
//!
//! See `docs/FUZZING.md`.

pub mod backup_fixture;
pub mod bytes;
pub mod chain_model;
pub mod fixtures;
pub mod flash_model;
pub mod key_model;
pub mod payload_model;
pub mod sync_model;
pub mod targets;
pub mod wire_model;

use std::path::Path;

/// Called once before a target's first input. Builds the target's fixtures (so the
/// first input is not charged for them), and with `GLITTER_FUZZ_SEEDS=DIR` in the
/// environment writes the target's seed corpus to `DIR/<target>/` and exits:
/// `run-all.sh --seeds` regenerates every corpus this way, with no other build.
pub fn init(target: &str) {
    let Some((_, seeds)) = targets::ALL.iter().find(|(name, _)| *name == target) else {
        return;
    };
    let seeds = seeds();
    if let Ok(dir) = std::env::var("GLITTER_FUZZ_SEEDS") {
        match write_seeds(&Path::new(&dir).join(target), &seeds) {
            Ok(()) => {
                println!("{target}: {} seeds", seeds.len());
                std::process::exit(0);
            }
            Err(e) => {
                eprintln!("{target}: cannot write the seeds: {e}");
                std::process::exit(1);
            }
        }
    }
}

/// Writes `seeds` into `dir`, one file each, named by the SHA-256 of the bytes (as
/// libFuzzer names corpus files, shortened to 40 hex digits).
pub fn write_seeds(dir: &Path, seeds: &[Vec<u8>]) -> std::io::Result<()> {
    use sha2::{Digest, Sha256};
    std::fs::create_dir_all(dir)?;
    for s in seeds {
        let name: String = Sha256::digest(s)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        std::fs::write(dir.join(&name[..40]), s)?;
    }
    Ok(())
}
