//! `fsck --repair` and `fsck --reformat`, the explicit ways to rewrite a damaged flash
//! image, and their salvage: every intact, committed record a damaged image still
//! holds, and each author's longest verified chain among them.

use crate::chainfile::{ChainFile, VerifiedChain};
use crate::datadir::{DataDir, IMAGE_FILE, io};
use crate::error::DataDirError;
use crate::flash_file::FILE_FLASH_PAGE_SIZE;
use crate::image_state::ImageState;
use glitter_core::sig::PublicKey;
use glitter_core::store::crc::crc32c;
use glitter_core::store::format::{
    Geometry, RECORD_HEAD_LEN, RECORD_PREFIX_LEN, RecordHead, decode_record_head, is_commit,
};
use glitter_core::wire::header::Header;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

type Result<T, E = DataDirError> = std::result::Result<T, E>;

/// What `fsck --repair` did.
#[derive(Debug, PartialEq, Eq)]
pub struct Repair {
    /// The copy of the damaged image it kept.
    pub backup: PathBuf,
    /// Each author kept, with the number of blocks kept (seq 1 to that number).
    pub kept: Vec<(PublicKey, u64)>,
    /// What it could not keep, by author.
    pub lost: Vec<Lost>,
}

impl DataDir {
    /// `fsck --repair`: keeps a copy of the image (`chain.img.damaged-<n>`), collects
    /// every intact committed record it still holds (anywhere, whatever the page
    /// headers say), keeps each author's longest verified chain from seq 1, and writes
    /// them into a fresh image. Reports what it kept and what it could not keep: the
    /// blocks found but not kept, and, from the image's session record, committed
    /// blocks that left no intact record at all.
    ///
    /// # Errors
    /// On I/O failure; the original image is replaced only once the new one is whole.
    pub fn repair(&self) -> Result<Repair> {
        let path = self.image_path();
        let bytes = std::fs::read(&path).map_err(io(&path, "cannot read the flash image"))?;
        // A malformed record does not stop a repair: it only names fewer losses.
        let committed = ImageState::read(self.root()).ok().flatten();
        let backup = self.keep_copy(&path)?;
        let mut found = records(&bytes);
        for (author, _) in committed.iter().flat_map(|c| &c.heads) {
            found.entry(*author).or_default();
        }
        let mut kept = Vec::new();
        let mut lost = Vec::new();
        for (author, blocks) in found {
            let (chain, loss) = longest_chain(author, blocks);
            let held = chain.headers.len() as u64;
            let recorded = committed
                .iter()
                .flat_map(|c| &c.heads)
                .find(|(a, _)| *a == author)
                .map_or(0, |(_, seq)| *seq);
            let to_seq = loss.map_or(0, |l| l.to_seq).max(recorded);
            if to_seq > held {
                lost.push(Lost {
                    author,
                    from_seq: held + 1,
                    to_seq,
                });
            }
            if !chain.headers.is_empty() {
                kept.push(chain);
            }
        }
        // The size it was created with (a truncated image gets its room back).
        let size = bytes.len().max(FILE_FLASH_PAGE_SIZE);
        let size = (size - size % FILE_FLASH_PAGE_SIZE).max(
            self.recorded_size()
                .filter(|s| s % FILE_FLASH_PAGE_SIZE == 0)
                .unwrap_or(0),
        );
        // Committed blocks not kept: one's own chain must not be extended below them.
        let floors: Vec<(PublicKey, u64)> = lost.iter().map(|l| (l.author, l.to_seq)).collect();
        self.build_image(&kept, size, &floors)?;
        Ok(Repair {
            backup,
            kept: kept
                .iter()
                .map(|c| (c.author, c.headers.len() as u64))
                .collect(),
            lost,
        })
    }

    /// `fsck --reformat --yes`: keeps a copy of the image, then replaces it with an
    /// empty one of the same size. Returns the copy's path.
    ///
    /// # Errors
    /// On I/O failure.
    pub fn reformat(&self) -> Result<PathBuf> {
        let path = self.image_path();
        let len = std::fs::metadata(&path)
            .map_err(io(&path, "cannot read the flash image"))?
            .len();
        // Every block it held was committed: the owner's chain must not restart below.
        let floors = ImageState::read(self.root())
            .ok()
            .flatten()
            .map(|s| s.heads)
            .unwrap_or_default();
        let backup = self.keep_copy(&path)?;
        let size = usize::try_from(len)
            .ok()
            .filter(|s| *s >= FILE_FLASH_PAGE_SIZE && s % FILE_FLASH_PAGE_SIZE == 0)
            .unwrap_or(crate::datadir::IMAGE_BYTES_DEFAULT);
        self.build_image(&[], size, &floors)?;
        Ok(backup)
    }

    /// Copies `path` to the first free `<path>.damaged-<n>` and syncs it.
    fn keep_copy(&self, path: &Path) -> Result<PathBuf> {
        let mut n = 1;
        let backup = loop {
            let b = self.root().join(format!("{IMAGE_FILE}.damaged-{n}"));
            if !b.exists() {
                break b;
            }
            n += 1;
        };
        std::fs::copy(path, &backup).map_err(io(&backup, "cannot keep a copy of the image"))?;
        if let Ok(f) = std::fs::File::open(&backup) {
            let _ = f.sync_all();
        }
        Ok(backup)
    }
}

/// Blocks of one author that a repair could not keep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lost {
    /// The author.
    pub author: PublicKey,
    /// The first seq not kept.
    pub from_seq: u64,
    /// The highest seq an intact record still holds (later blocks, if any, left no
    /// intact record at all).
    pub to_seq: u64,
}

/// The geometry of a host image (4 KiB pages, 4-byte writes) of `len` bytes.
fn geometry(len: usize) -> Geometry {
    Geometry {
        page_size: FILE_FLASH_PAGE_SIZE as u32,
        pages: u32::try_from(len / FILE_FLASH_PAGE_SIZE).unwrap_or(u32::MAX),
        align: 4,
    }
}

/// Every intact, committed record in `image` (head and payload CRCs and commit word
/// check), found at every aligned position of every page, whatever the page headers
/// say: per author, by seq (the first one found at a seq wins).
pub fn records(image: &[u8]) -> BTreeMap<PublicKey, BTreeMap<u64, (Header, Vec<u8>)>> {
    let geo = geometry(image.len());
    let mut out: BTreeMap<PublicKey, BTreeMap<u64, (Header, Vec<u8>)>> = BTreeMap::new();
    for page in image.chunks_exact(FILE_FLASH_PAGE_SIZE) {
        let mut at = geo.data_start() as usize;
        while at + RECORD_HEAD_LEN <= page.len() {
            let head = &page[at..at + RECORD_HEAD_LEN];
            if let RecordHead::Valid {
                payload_len,
                payload_crc,
            } = decode_record_head(&geo, head)
            {
                let len = geo.record_len(payload_len) as usize;
                let commit = at + geo.commit_at(payload_len) as usize;
                if at + len <= page.len() {
                    let payload = &page[at + RECORD_HEAD_LEN..][..payload_len as usize];
                    if is_commit(&page[commit..commit + 4])
                        && crc32c(payload) == payload_crc
                        && let Ok(h) = Header::decode(&head[RECORD_PREFIX_LEN..])
                    {
                        out.entry(h.author)
                            .or_default()
                            .entry(h.seq)
                            .or_insert((h, payload.to_vec()));
                        at += len;
                        continue;
                    }
                }
            }
            at += geo.align as usize;
        }
    }
    out
}

/// The longest chain from seq 1 among `blocks` that verifies (signatures, links,
/// payload hashes), and what was found but not kept.
pub fn longest_chain(
    author: PublicKey,
    blocks: BTreeMap<u64, (Header, Vec<u8>)>,
) -> (VerifiedChain, Option<Lost>) {
    let max = blocks.keys().next_back().copied().unwrap_or(0);
    let mut headers = Vec::new();
    let mut payloads = Vec::new();
    for (i, (seq, (h, p))) in blocks.into_iter().enumerate() {
        if seq != i as u64 + 1 {
            break;
        }
        headers.push(h);
        payloads.push(Some(p));
    }
    let candidate = VerifiedChain {
        author,
        headers,
        payloads,
    };
    let chain = match ChainFile::from_chain(&candidate).verify() {
        Ok(c) => c,
        Err(failure) => VerifiedChain {
            author,
            headers: candidate.headers[..failure.index].to_vec(),
            payloads: candidate.payloads[..failure.index].to_vec(),
        },
    };
    let kept = chain.headers.len() as u64;
    let lost = (kept < max).then_some(Lost {
        author,
        from_seq: kept + 1,
        to_seq: max,
    });
    (chain, lost)
}
