//! `fsck --repair`'s salvage: every intact, committed record a damaged flash image
//! still holds, and each author's longest verified chain among them.

use crate::chainfile::{ChainFile, VerifiedChain};
use crate::flash_file::FILE_FLASH_PAGE_SIZE;
use glitter_core::sig::PublicKey;
use glitter_core::store::crc::crc32c;
use glitter_core::store::format::{
    Geometry, RECORD_HEAD_LEN, RECORD_PREFIX_LEN, RecordHead, decode_record_head, is_commit,
};
use glitter_core::wire::header::Header;
use std::collections::BTreeMap;

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
