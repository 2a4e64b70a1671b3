//! Target 4, `chainfile_import`: chain file parsing and verification, and import into
//! a data directory.
//!
//! The file is a genuine chain file (whole, a prefix, a fork, with a pruned payload,
//! another author's, empty) with arbitrary edits, or raw bytes; the data directory
//! may already hold a chain. Invariants: nothing panics; what parses re-encodes to the
//! very file; `ChainFile::verify` accepts exactly what the chain model
//! ([`crate::chain_model`]) accepts block by block; reading the file from disk gives
//! the same verdict; and an import does exactly what the import rule says: a fork is
//! refused (its proof kept) and a pruned block is refused, with nothing written; a
//! chain no longer than the one held changes nothing; a longer one is stored whole.

use crate::bytes::{Cursor, Writer};
use crate::chain_model::ChainModel;
use crate::fixtures;
use glitter_core::sig::KeyPair;
use glitter_host::chainfile::{ChainFile, VerifiedChain, read_verified};
use glitter_host::datadir::{DataDir, ImportOutcome};
use glitter_host::error::DataDirError;
use glitter_tests::TestChain;
use std::path::PathBuf;
use std::sync::OnceLock;

struct Fixture {
    /// Author 81's chain, its fork after block 3, and author 82's chain.
    chains: [TestChain; 3],
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let x = fixtures::mixed_chain(81, 7);
        let samples = fixtures::sample_payloads(&x.keys.public());
        let fork = fixtures::extend_chain(&x, 3, &samples[8..11], glitter_tests::T0_MS + 3);
        Fixture {
            chains: [x, fork, fixtures::posts(82, 3)],
        }
    })
}

fn verified(c: &TestChain, n: usize, pruned: Option<usize>) -> VerifiedChain {
    VerifiedChain {
        author: c.keys.public(),
        headers: c.headers.iter().take(n).copied().collect(),
        payloads: c
            .payloads
            .iter()
            .take(n)
            .enumerate()
            .map(|(i, p)| (Some(i) != pruned).then(|| p.clone()))
            .collect(),
    }
}

/// Where data directories go: memory when the machine has `/dev/shm`.
fn scratch() -> PathBuf {
    let shm = PathBuf::from("/dev/shm");
    if shm.is_dir() {
        shm
    } else {
        std::env::temp_dir()
    }
}

/// The model's verdict on a parsed file: an admissible author, and every block the
/// valid next block of the chain so far.
fn model_verifies(file: &ChainFile) -> bool {
    let signer: Option<KeyPair> = fixture()
        .chains
        .iter()
        .map(|c| c.keys.clone())
        .find(|k| k.public() == file.author);
    if !crate::key_model::admitted(&file.author.0) {
        return false;
    }
    let Some(keys) = signer else {
        // Nobody can sign for a key whose secret no fixture holds.
        return file.blocks.is_empty();
    };
    let mut model = ChainModel::new(keys);
    for b in &file.blocks {
        if !model.accepts(&b.header, b.payload.as_deref(), true) {
            return false;
        }
        model.push(&b.header);
    }
    true
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let f = fixture();
    let mut c = Cursor::new(data);
    let held = match c.below(4) {
        0 => None,
        i => Some(verified(&f.chains[i - 1], 1 + c.below(7), None)),
    };
    let bytes = match c.below(8) {
        7 => c.rest().to_vec(),
        pick => {
            let (chain, n, pruned) = match pick {
                0 => (&f.chains[0], 7, None),
                1 => (&f.chains[0], 3, None),
                2 => (&f.chains[1], 6, None),
                3 => (&f.chains[0], 7, Some(5)),
                4 => (&f.chains[2], 3, None),
                5 => (&f.chains[0], 0, None),
                _ => (&f.chains[0], 5, Some(c.below(5))),
            };
            let mut b = ChainFile::from_chain(&verified(chain, n, pruned)).to_bytes();
            for _ in 0..c.below(4) {
                let at = usize::from(c.u16()) % b.len().max(1);
                match c.below(4) {
                    0 => b.truncate(at),
                    1 => b.extend_from_slice(c.string(16)),
                    _ => {
                        if let Some(x) = b.get_mut(at) {
                            *x ^= c.u8() | 1;
                        }
                    }
                }
            }
            b
        }
    };
    let Ok(file) = ChainFile::parse(&bytes) else {
        return;
    };
    assert_eq!(
        file.to_bytes(),
        bytes,
        "a parsed file re-encodes differently"
    );
    let verdict = file.verify();
    assert_eq!(
        verdict.is_ok(),
        model_verifies(&file),
        "verify: {verdict:?}"
    );
    let dir = tempfile::Builder::new()
        .prefix("glitter-fuzz-")
        .tempdir_in(scratch())
        .expect("a scratch directory");
    let path = dir.path().join("in.chain");
    std::fs::write(&path, &bytes).expect("write the chain file");
    let from_disk = read_verified(&path);
    assert_eq!(from_disk.is_ok(), verdict.is_ok());
    let Ok(incoming) = verdict else { return };
    import(dir.path().join("data"), held, &incoming);
}

/// Imports `incoming` into a data directory that holds `held`, and checks the outcome
/// against the import rule.
fn import(root: PathBuf, held: Option<VerifiedChain>, incoming: &VerifiedChain) {
    let dd = DataDir::open_sized(&root, 64 * 1024).expect("open a data directory");
    if let Some(h) = &held {
        assert_eq!(
            dd.import(h).expect("a genuine chain imports"),
            ImportOutcome::New {
                blocks: h.headers.len()
            }
        );
    }
    let mine: &[glitter_core::Header] = match &held {
        Some(h) if h.author == incoming.author => &h.headers,
        _ => &[],
    };
    let before = dd.chain(&incoming.author).expect("read the held chain");
    let conflict = mine
        .iter()
        .zip(&incoming.headers)
        .any(|(a, b)| a.id() != b.id());
    let pruned = incoming
        .payloads
        .iter()
        .skip(mine.len())
        .any(Option::is_none);
    let got = dd.import(incoming);
    let after = dd.chain(&incoming.author).expect("read the chain again");
    match got {
        Err(DataDirError::Forked { seq, .. }) => {
            assert!(conflict, "a fork without a conflict (seq {seq})");
            assert!(
                root.join("forks")
                    .read_dir()
                    .is_ok_and(|mut d| d.next().is_some())
            );
            assert_eq!(after.headers, before.headers);
        }
        Err(DataDirError::Pruned) => {
            assert!(!conflict && pruned && incoming.headers.len() > mine.len());
            assert_eq!(after.headers, before.headers);
        }
        Ok(ImportOutcome::UpToDate) => {
            assert!(!conflict && incoming.headers.len() <= mine.len());
            assert_eq!(after.headers, before.headers);
        }
        Ok(ImportOutcome::New { blocks }) => {
            assert!(mine.is_empty() && !pruned && blocks == incoming.headers.len());
            assert_eq!(after.headers, incoming.headers);
        }
        Ok(ImportOutcome::Extended { added }) => {
            assert!(!conflict && !pruned && added == incoming.headers.len() - mine.len());
            assert_eq!(after.headers, incoming.headers);
        }
        Err(e) => panic!("import of a verified chain failed: {e}"),
    }
    for (i, (h, p)) in after.headers.iter().zip(&after.payloads).enumerate() {
        let source = held
            .iter()
            .chain([incoming])
            .filter(|c| c.author == incoming.author)
            .find(|c| {
                c.headers.get(i) == Some(h) && c.payloads.get(i).is_some_and(Option::is_some)
            });
        let want = source.and_then(|c| c.payloads[i].clone());
        assert_eq!(p, &want, "a stored payload differs from its block's");
    }
}

/// Seeds: each file variant unedited, into an empty directory and onto each held
/// chain, and one raw file.
pub fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for held in 0..4u8 {
        for pick in 0..7u8 {
            if held > 0 && pick > 2 {
                continue;
            }
            let mut w = Writer::new();
            w.u8(held);
            if held > 0 {
                w.u8(3);
            }
            w.u8(pick);
            if pick == 6 {
                w.u8(2);
            }
            w.u8(0);
            out.push(w.finish());
        }
    }
    out.push(
        Writer::new()
            .u8(0)
            .u8(7)
            .bytes(b"GLCHAIN\0\x01\x00")
            .finish(),
    );
    out
}
