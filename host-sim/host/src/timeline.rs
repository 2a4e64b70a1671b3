//! The timeline: the posts of a set of authors from a flash log, newest first, with
//! replies threaded under the post they answer, a page at a time.
//!
//! A page holds up to `limit` top-level posts (posts that reply to nothing, or to a
//! block this log does not hold as a post of one of the authors); each carries its
//! replies, oldest first, nested up to [`THREAD_DEPTH_MAX`] levels (deeper replies are
//! shown at the last level). Pages are ordered by (timestamp, author, seq), newest
//! first, and continue from a [`Cursor`]: the last top-level post of the previous page.
//!
//! Texts are returned as stored: rendering them safely is the renderer's job.

use crate::datadir::{HostLog, IMAGE_FILE};
use crate::error::DataDirError;
use glitter_core::PAYLOAD_LEN_MAX;
use glitter_core::sig::PublicKey;
use glitter_core::social::Payload;
use glitter_core::wire::header::BlockKind;
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Most top-level posts one page may hold.
pub const PAGE_POSTS_MAX: usize = 200;
/// Deepest nesting of replies; replies below it are listed at this level.
pub const THREAD_DEPTH_MAX: usize = 8;

/// One post, with its replies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostView {
    /// The author.
    pub author: PublicKey,
    /// The post's seq on the author's chain.
    pub seq: u64,
    /// The author's timestamp, ms since the Unix epoch.
    pub timestamp_ms: u64,
    /// The text, as stored (not escaped).
    pub text: String,
    /// The block it replies to, if any.
    pub reply_to: Option<(PublicKey, u64)>,
    /// Replies, oldest first.
    pub replies: Vec<PostView>,
}

/// Where a page starts: strictly older than this post. Written `TS.AUTHOR.SEQ`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    /// The timestamp.
    pub timestamp_ms: u64,
    /// The author.
    pub author: [u8; 32],
    /// The seq.
    pub seq: u64,
}

/// A cursor that does not parse.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a timeline cursor (TIMESTAMP.AUTHOR.SEQ)")]
pub struct BadCursor;

impl FromStr for Cursor {
    type Err = BadCursor;
    fn from_str(s: &str) -> Result<Cursor, BadCursor> {
        let mut parts = s.split('.');
        let (Some(ts), Some(a), Some(seq), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(BadCursor);
        };
        let mut author = [0u8; 32];
        hex::decode_to_slice(a, &mut author).map_err(|_| BadCursor)?;
        Ok(Cursor {
            timestamp_ms: ts.parse().map_err(|_| BadCursor)?,
            author,
            seq: seq.parse().map_err(|_| BadCursor)?,
        })
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{}.{}",
            self.timestamp_ms,
            hex::encode(self.author),
            self.seq
        )
    }
}

/// One page of the timeline.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Page {
    /// Top-level posts, newest first, with their replies.
    pub posts: Vec<PostView>,
    /// Where the next (older) page starts, if there is one.
    pub next: Option<Cursor>,
    /// Posts of the authors in the whole log (top-level and replies).
    pub total_posts: usize,
}

/// A post without its replies, as read from the log.
struct Entry {
    post: PostView,
    parent: Option<usize>,
}

fn key(p: &PostView) -> Cursor {
    Cursor {
        timestamp_ms: p.timestamp_ms,
        author: p.author.0,
        seq: p.seq,
    }
}

/// Reads block `seq` of `author` as a post (`None` if it is not a stored post).
///
/// # Errors
/// The store's error when the block cannot be read.
pub fn post(
    log: &mut HostLog,
    author: &PublicKey,
    seq: u64,
) -> Result<Option<PostView>, DataDirError> {
    let mut buf = [0u8; PAYLOAD_LEN_MAX];
    let block = log
        .block(author, seq, &mut buf)
        .map_err(|source| DataDirError::StoreBlock {
            path: PathBuf::from(IMAGE_FILE),
            seq,
            source,
        })?;
    let Some((h, payload)) = block else {
        return Ok(None);
    };
    if h.kind != BlockKind::Post {
        return Ok(None);
    }
    let Ok(Payload::Post(p)) = Payload::decode(h.kind, payload) else {
        return Ok(None);
    };
    Ok(Some(PostView {
        author: *author,
        seq,
        timestamp_ms: h.timestamp_ms,
        text: p.text.as_str().to_string(),
        reply_to: p.reply_to.map(|r| (PublicKey(r.author), r.seq)),
        replies: Vec::new(),
    }))
}

/// What the timeline remembers between pages: each author's posts without their texts
/// (seq, timestamp, reply), read once, so a page reads only the texts it shows.
///
/// Bounded by the log: one small entry per stored post of the authors last asked for
/// (authors no longer asked for are dropped at the next page).
#[derive(Debug, Default)]
pub struct Index {
    /// Per author: the highest seq read, and the posts (texts left empty).
    by_author: HashMap<PublicKey, (u64, Vec<PostView>)>,
}

impl Index {
    /// Reads the blocks of `authors` stored since the last call.
    fn refresh(&mut self, log: &mut HostLog, authors: &[PublicKey]) -> Result<(), DataDirError> {
        self.by_author.retain(|a, _| authors.contains(a));
        for a in authors {
            let head = log.head(a).map_or(0, |h| h.seq);
            let (scanned, posts) = self.by_author.entry(*a).or_default();
            if head < *scanned {
                // The log never shrinks a chain; if it did, read it again.
                *scanned = 0;
                posts.clear();
            }
            // Bounded by the author's stored chain; one read per block.
            for seq in *scanned + 1..=head {
                if let Some(mut p) = post(log, a, seq)? {
                    p.text = String::new();
                    posts.push(p);
                }
            }
            *scanned = head;
        }
        Ok(())
    }

    /// One page of the timeline of `authors` (duplicates are ignored), starting after
    /// `before` (the newest page if `None`), with at most `limit` top-level posts
    /// (clamped to 1..=[`PAGE_POSTS_MAX`]).
    ///
    /// # Errors
    /// The store's error when a block cannot be read.
    pub fn page(
        &mut self,
        log: &mut HostLog,
        authors: &[PublicKey],
        before: Option<Cursor>,
        limit: usize,
    ) -> Result<Page, DataDirError> {
        let mut unique: Vec<PublicKey> = authors.to_vec();
        unique.sort_unstable_by_key(|a| a.0);
        unique.dedup();
        self.refresh(log, &unique)?;
        let entries: Vec<Entry> = unique
            .iter()
            .filter_map(|a| self.by_author.get(a))
            .flat_map(|(_, posts)| posts.iter())
            .map(|p| Entry {
                post: p.clone(),
                parent: None,
            })
            .collect();
        let mut page = build(entries, before, limit);
        for p in &mut page.posts {
            fill_texts(log, p)?;
        }
        Ok(page)
    }
}

/// Reads the texts of `p` and its replies.
fn fill_texts(log: &mut HostLog, p: &mut PostView) -> Result<(), DataDirError> {
    if let Some(full) = post(log, &p.author, p.seq)? {
        p.text = full.text;
    }
    for r in &mut p.replies {
        fill_texts(log, r)?;
    }
    Ok(())
}

/// One page of the timeline of `authors` read afresh (see [`Index::page`]).
///
/// # Errors
/// The store's error when a block cannot be read.
pub fn page(
    log: &mut HostLog,
    authors: &[PublicKey],
    before: Option<Cursor>,
    limit: usize,
) -> Result<Page, DataDirError> {
    Index::default().page(log, authors, before, limit)
}

/// Threads `entries` and cuts the page.
fn build(mut entries: Vec<Entry>, before: Option<Cursor>, limit: usize) -> Page {
    let index: HashMap<(PublicKey, u64), usize> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| ((e.post.author, e.post.seq), i))
        .collect();
    for e in &mut entries {
        e.parent = e.post.reply_to.and_then(|r| index.get(&r).copied());
    }
    // Children lists, oldest first.
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); entries.len()];
    let mut tops = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        match e.parent {
            // A post cannot answer itself or a later block of its own making a loop:
            // a parent is always another stored post, and depth is bounded below.
            Some(p) if p != i => children[p].push(i),
            _ => tops.push(i),
        }
    }
    for c in &mut children {
        c.sort_by_key(|&i| key(&entries[i].post));
    }
    tops.sort_by_key(|&i| std::cmp::Reverse(key(&entries[i].post)));
    let start = match before {
        Some(c) => tops.partition_point(|&i| key(&entries[i].post) >= c),
        None => 0,
    };
    let limit = limit.clamp(1, PAGE_POSTS_MAX);
    let end = (start + limit).min(tops.len());
    let mut posts = Vec::with_capacity(end - start);
    for &i in &tops[start..end] {
        posts.push(thread(&entries, &children, i, 0));
    }
    let next = (end < tops.len()).then(|| posts.last().map(key)).flatten();
    Page {
        posts,
        next,
        total_posts: entries.len(),
    }
}

/// The post `i` with its replies; below [`THREAD_DEPTH_MAX`] the rest of the thread
/// is flattened into this level, oldest first.
fn thread(entries: &[Entry], children: &[Vec<usize>], i: usize, depth: usize) -> PostView {
    let mut p = entries[i].post.clone();
    if depth + 1 >= THREAD_DEPTH_MAX {
        let mut flat = Vec::new();
        let mut stack: Vec<usize> = children[i].clone();
        // Bounded: every entry has one parent, so each is visited once.
        let mut seen = vec![false; entries.len()];
        while let Some(c) = stack.pop() {
            if std::mem::replace(&mut seen[c], true) {
                continue;
            }
            flat.push(c);
            stack.extend(children[c].iter().copied());
        }
        flat.sort_by_key(|&c| key(&entries[c].post));
        p.replies = flat.iter().map(|&c| entries[c].post.clone()).collect();
        return p;
    }
    p.replies = children[i]
        .iter()
        .map(|&c| thread(entries, children, c, depth + 1))
        .collect();
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datadir::DataDir;
    use glitter_core::sig::KeyPair;
    use glitter_core::social::{BlockRef, Post};

    fn post_payload(text: &str, reply: Option<BlockRef>) -> Payload {
        Payload::Post(Post {
            text: text.try_into().expect("short text"),
            reply_to: reply,
        })
    }

    #[test]
    fn pages_are_newest_first_and_replies_are_threaded() {
        // Mounting builds the log's RAM index on the stack first.
        std::thread::Builder::new()
            .stack_size(16 << 20)
            .spawn(threaded_pages)
            .expect("spawn")
            .join()
            .expect("the test thread");
    }

    fn threaded_pages() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let alice = DataDir::open(&tmp.path().join("a")).expect("open");
        let ka = alice.create_identity([1; 32]).expect("identity");
        let kb = KeyPair::from_seed([2; 32]).expect("key");
        let mut t = 1_000;
        let mut ids = Vec::new();
        for i in 0..5 {
            t += 10;
            let h = alice
                .append_own(&post_payload(&format!("post {i}"), None), t)
                .expect("append");
            ids.push(h);
        }
        // A reply to post 1 (seq 2) on alice's own chain, and a reply to that.
        let r1 = alice
            .append_own(
                &post_payload(
                    "reply",
                    Some(BlockRef::new(ids[1].author, ids[1].seq, ids[1].id())),
                ),
                t + 10,
            )
            .expect("reply");
        alice
            .append_own(
                &post_payload(
                    "reply to reply",
                    Some(BlockRef::new(r1.author, r1.seq, r1.id())),
                ),
                t + 20,
            )
            .expect("reply 2");
        let mut log = alice.log().expect("log");
        let authors = [ka.public(), kb.public(), ka.public()];
        let p = page(&mut log, &authors, None, 3).expect("page");
        assert_eq!(p.total_posts, 7);
        let texts: Vec<&str> = p.posts.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(texts, ["post 4", "post 3", "post 2"]);
        let next = p.next.expect("a second page");
        assert_eq!(next.to_string().parse::<Cursor>(), Ok(next));
        let p2 = page(&mut log, &authors, Some(next), 3).expect("page 2");
        let texts: Vec<&str> = p2.posts.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(texts, ["post 1", "post 0"]);
        assert_eq!(p2.next, None);
        let threaded = &p2.posts[0];
        assert_eq!(threaded.replies.len(), 1);
        assert_eq!(threaded.replies[0].text, "reply");
        assert_eq!(threaded.replies[0].replies[0].text, "reply to reply");
        assert_eq!(
            post(&mut log, &ka.public(), r1.seq)
                .expect("read")
                .and_then(|p| p.reply_to),
            Some((ka.public(), ids[1].seq))
        );
        // An index kept between pages reads only what is new, and pages as a fresh read.
        let mut index = Index::default();
        let before = index
            .page(&mut log, &authors, None, 50)
            .expect("index page");
        assert_eq!(before, page(&mut log, &authors, None, 50).expect("fresh"));
        drop(log);
        alice
            .append_own(
                &post_payload(
                    "late reply",
                    Some(BlockRef::new(ids[4].author, ids[4].seq, ids[4].id())),
                ),
                t + 30,
            )
            .expect("late reply");
        alice
            .append_own(&post_payload("newest", None), t + 40)
            .expect("newest");
        let mut log = alice.log().expect("log again");
        let after = index
            .page(&mut log, &authors, None, 50)
            .expect("index page 2");
        assert_eq!(after, page(&mut log, &authors, None, 50).expect("fresh 2"));
        assert_eq!(after.total_posts, 9);
        assert_eq!(after.posts[0].text, "newest");
        assert_eq!(after.posts[1].replies[0].text, "late reply");
    }

    #[test]
    fn cursors_parse_strictly() {
        for bad in ["", "1.2", "x.00.1", "1.zz.1", "1.00.1.1"] {
            assert_eq!(bad.parse::<Cursor>(), Err(BadCursor), "{bad}");
        }
    }
}
