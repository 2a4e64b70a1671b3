//! The RAM index: which flash offset holds block `seq` of each author.
//!
//! Authors sit in a sorted array (binary search by key). Block offsets sit in one
//! array of `BLOCKS` `u32`s, grouped by author in the authors' order, each group in
//! seq order, so block `seq` of an author is `offsets[start + seq − 1]`: O(log
//! authors) to find, O(1) to index. Appending shifts the groups after the author's by
//! one slot (a `copy_within`, bounded by `BLOCKS`). RAM: 4 bytes per block plus
//! [`AUTHOR_SLOT_BYTES`] per author.

use crate::chain::Head;
use crate::hash::Hash;
use crate::sig::PublicKey;
use heapless::Vec;

/// RAM bytes of one author slot (key, head id, head timestamp, group start, length).
pub const AUTHOR_SLOT_BYTES: usize = core::mem::size_of::<AuthorSlot>();

/// One author's entry: its key, head and where its group of offsets starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AuthorSlot {
    pub key: PublicKey,
    pub head_id: Hash,
    pub head_ts: u64,
    /// Index of the author's first offset in `offsets`.
    pub start: u32,
    /// Number of blocks stored: the head's seq.
    pub len: u32,
}

impl AuthorSlot {
    fn new(key: PublicKey, start: u32) -> AuthorSlot {
        AuthorSlot {
            key,
            head_id: Hash::ZERO,
            head_ts: 0,
            start,
            len: 0,
        }
    }

    pub fn head(&self) -> Option<Head> {
        (self.len > 0).then_some(Head {
            seq: u64::from(self.len),
            id: self.head_id,
            timestamp_ms: self.head_ts,
        })
    }
}

/// Why the index cannot take another entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IndexFull {
    Blocks,
    Authors,
}

/// The bounded index. See the module docs.
#[derive(Clone, Debug)]
pub(crate) struct Index<const AUTHORS: usize, const BLOCKS: usize> {
    authors: Vec<AuthorSlot, AUTHORS>,
    offsets: [u32; BLOCKS],
    blocks: usize,
}

impl<const AUTHORS: usize, const BLOCKS: usize> Index<AUTHORS, BLOCKS> {
    pub const fn new() -> Self {
        Index {
            authors: Vec::new(),
            offsets: [0; BLOCKS],
            blocks: 0,
        }
    }

    pub fn clear(&mut self) {
        self.authors.clear();
        self.blocks = 0;
    }

    pub fn blocks(&self) -> usize {
        self.blocks
    }

    pub fn authors(&self) -> &[AuthorSlot] {
        &self.authors
    }

    /// The slot of `key`, or where it would be inserted.
    pub fn find(&self, key: &PublicKey) -> Result<usize, usize> {
        self.authors.binary_search_by(|s| s.key.cmp(key))
    }

    pub fn slot(&self, key: &PublicKey) -> Option<&AuthorSlot> {
        self.find(key).ok().and_then(|i| self.authors.get(i))
    }

    /// The flash offset of block `seq` of `key`.
    pub fn offset(&self, key: &PublicKey, seq: u64) -> Option<u32> {
        let s = self.slot(key)?;
        let i = seq.checked_sub(1)?;
        if i >= u64::from(s.len) {
            return None;
        }
        let at = u64::from(s.start).checked_add(i)?;
        self.offsets.get(usize::try_from(at).ok()?).copied()
    }

    /// Whether one more block by `key` fits.
    pub fn check_room(&self, key: &PublicKey) -> Result<(), IndexFull> {
        if self.blocks >= BLOCKS {
            return Err(IndexFull::Blocks);
        }
        if self.find(key).is_err() && self.authors.is_full() {
            return Err(IndexFull::Authors);
        }
        Ok(())
    }

    /// Adds an author slot with no blocks (group at the right place) and returns its
    /// position.
    fn insert_author(&mut self, key: &PublicKey) -> Result<usize, IndexFull> {
        match self.find(key) {
            Ok(i) => Ok(i),
            Err(i) => {
                let start = match self.authors.get(i) {
                    Some(next) => next.start,
                    None => u32::try_from(self.blocks).map_err(|_| IndexFull::Blocks)?,
                };
                self.authors
                    .insert(i, AuthorSlot::new(*key, start))
                    .map_err(|_| IndexFull::Authors)?;
                Ok(i)
            }
        }
    }

    /// Appends the next block of `key` at flash `offset`, with its id and timestamp.
    /// The caller has checked the links.
    pub fn push(
        &mut self,
        key: &PublicKey,
        offset: u32,
        id: Hash,
        ts: u64,
    ) -> Result<(), IndexFull> {
        if self.blocks >= BLOCKS {
            return Err(IndexFull::Blocks);
        }
        let i = self.insert_author(key)?;
        let slot = self.authors.get_mut(i).ok_or(IndexFull::Authors)?;
        let at = slot.start as usize + slot.len as usize;
        slot.len = slot.len.checked_add(1).ok_or(IndexFull::Blocks)?;
        slot.head_id = id;
        slot.head_ts = ts;
        // Shift the later groups right by one (bounded by BLOCKS), then place.
        let end = self.blocks;
        if at < end {
            self.offsets.copy_within(at..end, at + 1);
        }
        if let Some(o) = self.offsets.get_mut(at) {
            *o = offset;
        }
        self.blocks += 1;
        for later in self.authors.iter_mut().skip(i + 1) {
            later.start = later.start.saturating_add(1);
        }
        Ok(())
    }

    /// Mount, first pass: count a block for `key` (creating its slot) without placing
    /// its offset. Call [`Index::layout`] after the last one.
    pub fn count(&mut self, key: &PublicKey, id: Hash, ts: u64) -> Result<(), IndexFull> {
        if self.blocks >= BLOCKS {
            return Err(IndexFull::Blocks);
        }
        let i = self.insert_author(key)?;
        let slot = self.authors.get_mut(i).ok_or(IndexFull::Authors)?;
        slot.len = slot.len.checked_add(1).ok_or(IndexFull::Blocks)?;
        slot.head_id = id;
        slot.head_ts = ts;
        self.blocks += 1;
        Ok(())
    }

    /// Mount, between the passes: lays the groups out from the counts and rewinds
    /// each author's `len` to 0; [`Index::place_next`] counts it back up.
    pub fn layout(&mut self) {
        let mut start: u32 = 0;
        for s in self.authors.iter_mut() {
            s.start = start;
            start = start.saturating_add(s.len);
            s.len = 0;
        }
    }

    /// The group size the first pass counted for slot `i`.
    fn counted(&self, i: usize) -> u32 {
        let start = self.authors.get(i).map_or(0, |s| s.start);
        let end = match self.authors.get(i + 1) {
            Some(next) => next.start,
            None => u32::try_from(self.blocks).unwrap_or(u32::MAX),
        };
        end.saturating_sub(start)
    }

    /// Mount, second pass: the next block of `key` in log order is at `offset`.
    /// Returns false if `key` is unknown or has more blocks than the first pass counted
    /// (the image changed between the passes).
    pub fn place_next(&mut self, key: &PublicKey, offset: u32) -> bool {
        let Ok(i) = self.find(key) else {
            return false;
        };
        let room = self.counted(i);
        let Some(s) = self.authors.get_mut(i) else {
            return false;
        };
        if s.len >= room {
            return false;
        }
        let at = s.start as usize + s.len as usize;
        s.len += 1;
        match self.offsets.get_mut(at) {
            Some(o) => {
                *o = offset;
                true
            }
            None => false,
        }
    }

    /// Mount, after the second pass: true if every group was filled exactly.
    pub fn layout_complete(&self) -> bool {
        (0..self.authors.len()).all(|i| self.authors.get(i).map(|s| s.len) == Some(self.counted(i)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> PublicKey {
        PublicKey([b; 32])
    }

    #[test]
    fn groups_stay_ordered() {
        let mut ix: Index<4, 16> = Index::new();
        // Interleave three authors; offsets encode (author, seq).
        for seq in 1..=4u32 {
            for a in [3u8, 1, 2] {
                let off = u32::from(a) * 100 + seq;
                ix.push(&key(a), off, Hash([a; 32]), u64::from(seq))
                    .unwrap();
            }
        }
        assert_eq!(ix.blocks(), 12);
        for a in [1u8, 2, 3] {
            for seq in 1..=4u64 {
                assert_eq!(
                    ix.offset(&key(a), seq),
                    Some(u32::from(a) * 100 + seq as u32)
                );
            }
            assert_eq!(ix.offset(&key(a), 0), None);
            assert_eq!(ix.offset(&key(a), 5), None);
        }
        assert_eq!(ix.offset(&key(9), 1), None);
    }

    #[test]
    fn capacities_are_typed() {
        let mut ix: Index<2, 3> = Index::new();
        ix.push(&key(1), 0, Hash::ZERO, 0).unwrap();
        ix.push(&key(2), 1, Hash::ZERO, 0).unwrap();
        assert_eq!(ix.check_room(&key(3)), Err(IndexFull::Authors));
        assert_eq!(ix.push(&key(3), 2, Hash::ZERO, 0), Err(IndexFull::Authors));
        ix.push(&key(1), 2, Hash::ZERO, 0).unwrap();
        assert_eq!(ix.check_room(&key(1)), Err(IndexFull::Blocks));
        assert_eq!(ix.push(&key(1), 3, Hash::ZERO, 0), Err(IndexFull::Blocks));
        assert_eq!(ix.offset(&key(1), 2), Some(2));
        assert_eq!(ix.offset(&key(2), 1), Some(1));
    }

    #[test]
    fn two_pass_layout_matches_push() {
        let order = [(2u8, 10u32), (1, 20), (2, 30), (3, 40), (1, 50), (2, 60)];
        let mut pushed: Index<4, 8> = Index::new();
        let mut counted: Index<4, 8> = Index::new();
        for (a, off) in order {
            pushed.push(&key(a), off, Hash([off as u8; 32]), 0).unwrap();
            counted.count(&key(a), Hash([off as u8; 32]), 0).unwrap();
        }
        counted.layout();
        assert!(!counted.layout_complete());
        for (a, off) in order {
            assert!(counted.place_next(&key(a), off));
        }
        assert!(counted.layout_complete());
        assert!(!counted.place_next(&key(1), 0));
        assert!(!counted.place_next(&key(9), 0));
        assert_eq!(pushed.authors(), counted.authors());
        for a in 1..=3u8 {
            for seq in 1..=3 {
                assert_eq!(pushed.offset(&key(a), seq), counted.offset(&key(a), seq));
            }
        }
    }
}
