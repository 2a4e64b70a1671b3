//! The flash image's session record, `chain.img.state`: whether the last writer closed
//! the image cleanly, and the head seq of every author known to be committed.
//!
//! A flash log alone cannot tell a bit flip in its last record's commit word from an
//! append cut short by a power cut: both read as a torn tail, and the block is
//! discarded. Nor can it tell a clean shutdown from a crash. This record, beside the
//! image, is the evidence that can:
//! - a writer (a CLI command or a node) records `open` with the heads it mounted before
//!   its first write, and `clean` with the heads it leaves after its last write and a
//!   flash sync;
//! - every mount, read-only or not, checks that each recorded head is still there. A
//!   committed block that no longer mounts is damage, reported with exit ≠ 0, never
//!   "ok" with fewer blocks.
//!
//! What it cannot cover: blocks appended in a session that did not end cleanly (a
//! crash, `kill -9`, a power cut). Of those, the one append in flight may be torn and
//! is discarded, as the store documents; a bit flip in one of them looks the same.
//!
//! Format (text, one item per line, at most 64 KiB):
//!
//! ```text
//! glitter image state 1
//! session clean|open
//! head <author, 64 hex digits> <seq>
//! floor <author, 64 hex digits> <seq>
//! ```
//!
//! A `floor` line is written by `fsck --repair` and `--reformat` for an author whose
//! committed blocks up to that seq could not be kept: one's own chain is not extended
//! below it (see [`ImageState::floors`]).

use crate::error::{DataDirError, Shortfall};
use crate::fsutil::write_atomic;
use glitter_core::sig::PublicKey;
use glitter_core::store::BlockLog;
use std::io::Read;
use std::path::Path;

/// The record's file name inside a data directory.
pub const STATE_FILE: &str = "chain.img.state";

const MAGIC: &str = "glitter image state 1";

/// Longest record read (256 authors take about 20 KiB).
const STATE_BYTES_MAX: u64 = 64 * 1024;

/// How the last writing session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Session {
    /// The writer synced the image and recorded its heads as it closed it.
    Clean,
    /// A writer opened the image and has not closed it: it is still running, or it
    /// crashed, was killed, or lost power.
    Open,
}

/// The session record: how the last session ended and the committed heads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageState {
    /// How the last writing session ended.
    pub session: Session,
    /// Every author with blocks, and the highest seq known to be committed.
    pub heads: Vec<(PublicKey, u64)>,
    /// Authors whose blocks up to this seq were committed once and lost in a repair or
    /// reformat, while the image holds fewer: one's own chain must not be extended
    /// until they are back, or followers who hold them see it fork.
    pub floors: Vec<(PublicKey, u64)>,
}

impl ImageState {
    /// The record of `log` as it stands: every author's head, and those of `floors`
    /// the log does not reach yet.
    pub fn of_log<L: BlockLog>(
        session: Session,
        log: &L,
        floors: &[(PublicKey, u64)],
    ) -> ImageState {
        let heads = (0..log.author_count())
            .filter_map(|i| log.author_at(i))
            .filter_map(|a| log.head(&a).map(|h| (a, h.seq)))
            .collect();
        let floors = floors
            .iter()
            .filter(|(a, seq)| log.head(a).map_or(0, |h| h.seq) < *seq)
            .copied()
            .collect();
        ImageState {
            session,
            heads,
            floors,
        }
    }

    /// The seq `author`'s chain must reach before it is extended (see
    /// [`ImageState::floors`]), if any.
    pub fn floor(&self, author: &PublicKey) -> Option<u64> {
        self.floors
            .iter()
            .find(|(a, _)| a == author)
            .map(|(_, seq)| *seq)
    }

    /// The recorded heads `log` no longer reaches, in key order.
    pub fn shortfalls<L: BlockLog>(&self, log: &L) -> Vec<Shortfall> {
        self.heads
            .iter()
            .filter_map(|&(author, committed)| {
                let held = log.head(&author).map_or(0, |h| h.seq);
                (held < committed).then_some(Shortfall {
                    author,
                    held,
                    committed,
                })
            })
            .collect()
    }

    /// The record as text.
    pub fn encode(&self) -> String {
        let mut out = format!(
            "{MAGIC}\nsession {}\n",
            match self.session {
                Session::Clean => "clean",
                Session::Open => "open",
            }
        );
        for (a, seq) in &self.heads {
            out.push_str(&format!("head {a} {seq}\n"));
        }
        for (a, seq) in &self.floors {
            out.push_str(&format!("floor {a} {seq}\n"));
        }
        out
    }

    /// Parses a record; `None` if it is not one.
    pub fn parse(text: &str) -> Option<ImageState> {
        let mut lines = text.lines();
        if lines.next()? != MAGIC {
            return None;
        }
        let session = match lines.next()? {
            "session clean" => Session::Clean,
            "session open" => Session::Open,
            _ => return None,
        };
        let mut heads = Vec::new();
        let mut floors = Vec::new();
        for line in lines {
            let (list, rest) = if let Some(rest) = line.strip_prefix("head ") {
                (&mut heads, rest)
            } else {
                (&mut floors, line.strip_prefix("floor ")?)
            };
            let mut words = rest.split(' ');
            let word = words.next()?;
            if word.len() != 64 {
                return None;
            }
            let author = crate::account::parse_author(word)?;
            let seq = words.next()?.parse::<u64>().ok()?;
            if words.next().is_some() || seq == 0 {
                return None;
            }
            list.push((author, seq));
        }
        Some(ImageState {
            session,
            heads,
            floors,
        })
    }

    /// Reads the record of the data directory at `root`, or `None` if it has none (a
    /// directory from before records were kept, or one without an image).
    ///
    /// # Errors
    /// If the record cannot be read, is not a regular file, or is malformed.
    pub fn read(root: &Path) -> Result<Option<ImageState>, DataDirError> {
        let path = root.join(STATE_FILE);
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(DataDirError::Io {
                    path,
                    what: "cannot read the image's session record",
                    source,
                });
            }
        };
        let malformed = |path| DataDirError::BadState { path };
        if !meta.is_file() || meta.len() > STATE_BYTES_MAX {
            return Err(malformed(path));
        }
        let mut text = String::new();
        std::fs::File::open(&path)
            .and_then(|f| f.take(STATE_BYTES_MAX).read_to_string(&mut text))
            .map_err(|source| DataDirError::Io {
                path: path.clone(),
                what: "cannot read the image's session record",
                source,
            })?;
        ImageState::parse(&text)
            .map(Some)
            .ok_or_else(|| malformed(path))
    }

    /// Writes the record into the data directory at `root` (atomically, synced).
    ///
    /// # Errors
    /// On I/O failure.
    pub fn write(&self, root: &Path) -> Result<(), DataDirError> {
        write_atomic(&root.join(STATE_FILE), self.encode().as_bytes(), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glitter_core::sig::KeyPair;

    #[test]
    fn records_round_trip_and_junk_is_refused() {
        let a = KeyPair::from_seed([7; 32]).expect("key").public();
        let s = ImageState {
            session: Session::Open,
            heads: vec![(a, 29)],
            floors: vec![(a, 31)],
        };
        assert_eq!(ImageState::parse(&s.encode()), Some(s.clone()));
        let clean = ImageState {
            session: Session::Clean,
            heads: Vec::new(),
            floors: Vec::new(),
        };
        assert_eq!(ImageState::parse(&clean.encode()), Some(clean));
        for junk in [
            "",
            "glitter image state 2\nsession clean\n",
            "glitter image state 1\nsession dirty\n",
            &s.encode().replace(" 29", " 0"),
            &s.encode().replace("floor", "flour"),
            &s.encode().replace(" 29", " 29 1"),
            &s.encode().replace(" 29", " x"),
            &format!("{}trailing\n", s.encode()),
        ] {
            assert_eq!(ImageState::parse(junk), None, "{junk:?}");
        }
    }
}
