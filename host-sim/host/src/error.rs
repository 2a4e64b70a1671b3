//! The host crate's typed errors. Each says what failed in its own words and keeps
//! what caused it as its [`source`](std::error::Error::source), so a caller that
//! prints the chain (`{:#}` in the binary) reads one line: "what: why".

use crate::flash_file::FileFlashError;
use glitter_core::chain::{ChainError, ForkError};
use glitter_core::sig::{PublicKey, SigError, ZeroSeed};
use glitter_core::wire::WireError;
use std::path::PathBuf;

/// An error of the block store over an image file.
pub type StoreError = glitter_core::store::Error<FileFlashError>;

/// A boxed error from an implementor of a host trait (an own chain, a store).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a data directory operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// A file system call failed.
    #[error("{}: {what}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done ("cannot create data directory", …).
        what: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The block store refused or could not read the image.
    #[error("{}", path.display())]
    Store {
        /// The image.
        path: PathBuf,
        /// The store's error.
        #[source]
        source: StoreError,
    },
    /// The block store refused one block.
    #[error("{}: block {seq}", path.display())]
    StoreBlock {
        /// The image.
        path: PathBuf,
        /// The block's seq.
        seq: u64,
        /// The store's error.
        #[source]
        source: StoreError,
    },
    /// A stored block could not be read back.
    #[error("block {seq} of {author} missing from the image")]
    Missing {
        /// Whose chain.
        author: PublicKey,
        /// Which block.
        seq: u64,
    },
    /// There is no identity: the seed file does not exist.
    #[error("{}: no identity here; run `glitter keygen` first", path.display())]
    NoIdentity {
        /// The seed file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The seed file exists but cannot be read (permissions, a directory, …).
    #[error("{}: cannot read the identity", path.display())]
    Unreadable {
        /// The seed file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A secret file that group or others may read or write (refused, as ssh does).
    #[error(
        "permissions {mode:04o} for '{}' are too open: it must not be accessible by others \
         (run `chmod 600 {}`)",
        path.display(),
        path.display()
    )]
    TooOpen {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The data directory belongs to another user.
    #[error(
        "{}: data directory is owned by uid {owner}, not by you (uid {me}); refusing to use it",
        path.display()
    )]
    NotOwner {
        /// The directory.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The effective uid of this process.
        me: u32,
    },
    /// An encrypted seed could not be opened.
    #[error("{}", path.display())]
    Locked {
        /// The seed file.
        path: PathBuf,
        /// Why.
        #[source]
        source: crate::passphrase::PassphraseError,
    },
    /// The seed file does not hold a seed.
    #[error("{}: not a 64-hex-digit seed", path.display())]
    BadSeed {
        /// The seed file.
        path: PathBuf,
    },
    /// The seed is all zeros.
    #[error("{}", path.display())]
    ZeroSeed {
        /// The seed file (or the seed given).
        path: PathBuf,
        /// Why.
        #[source]
        source: ZeroSeed,
    },
    /// The seed gives a key that cannot author a chain.
    #[error("seed gives an unusable key")]
    UnusableKey(#[source] SigError),
    /// An identity exists and is never overwritten.
    #[error("{}: an identity already exists; refusing to overwrite it", path.display())]
    IdentityExists {
        /// The seed file.
        path: PathBuf,
    },
    /// The own chain could not be extended.
    #[error("{what}")]
    Chain {
        /// What was being done ("append", "own chain").
        what: &'static str,
        /// The chain rule that refused.
        #[source]
        source: ChainError,
    },
    /// A payload could not be encoded.
    #[error("payload")]
    Payload(#[source] WireError),
    /// An import conflicts with the stored chain: the author forked.
    #[error(
        "author {author} FORKED at seq {seq}: fork proof saved to {}; nothing imported",
        path.display()
    )]
    Forked {
        /// The author.
        author: PublicKey,
        /// The first seq where the two chains differ.
        seq: u64,
        /// Where the fork proof was saved.
        path: PathBuf,
    },
    /// Two blocks differ but do not make a valid fork proof.
    #[error("conflicting block {seq} is not a valid fork")]
    NotAFork {
        /// The seq.
        seq: u64,
        /// Why.
        #[source]
        source: ForkError,
    },
    /// A chain without payloads cannot be stored.
    #[error("the file has pruned payloads; this store keeps whole blocks, nothing imported")]
    Pruned,
    /// A block to store has no payload.
    #[error("block {seq} has no payload")]
    NoPayload {
        /// The seq.
        seq: u64,
    },
    /// A format-1 directory could not be migrated (nothing was lost).
    #[error("migrating format 1")]
    Migrate(#[source] Box<ChainFileError>),
    /// Committed blocks the image no longer mounts with: its session record
    /// (`chain.img.state`) names heads that are gone.
    #[error(
        "{}: damaged flash image: it holds {} only up to seq {} but seq {} was committed{}; \
         run `glitter fsck --repair` (it keeps a copy and lists what it cannot keep)",
        path.display(),
        first.author,
        first.held,
        first.committed,
        if *more == 0 { String::new() } else { format!(" (and {more} more authors lost blocks)") }
    )]
    Damaged {
        /// The image.
        path: PathBuf,
        /// The first author found short.
        first: Shortfall,
        /// How many more authors are short.
        more: usize,
    },
    /// One's own chain lost committed blocks in a repair or reformat: extending it now
    /// would fork it for followers who hold them.
    #[error(
        "your chain holds blocks up to seq {held}, but blocks up to seq {floor} were \
         committed and then lost in a repair: get them back first (`glitter import` a copy \
         exported by a follower), or followers who hold them will see your chain fork"
    )]
    OwnBlocksLost {
        /// The own chain's head seq now.
        held: u64,
        /// The highest seq once committed.
        floor: u64,
    },
    /// The image has no valid first page header although it was created and formatted
    /// here (its size was recorded): damage, not a new image.
    #[error(
        "{}: damaged flash image: no valid glitter page header (the first page's header is \
         damaged, or the image was overwritten); run `glitter fsck --repair`",
        path.display()
    )]
    NoLog {
        /// The image.
        path: PathBuf,
    },
    /// The image's session record is not one.
    #[error(
        "{}: malformed session record (not written by glitter); move it away to use the \
         image without its committed-blocks check",
        path.display()
    )]
    BadState {
        /// The record.
        path: PathBuf,
    },
    /// A path without a parent directory.
    #[error("{}: path has no parent", path.display())]
    NoParent {
        /// The path.
        path: PathBuf,
    },
}

/// A committed block that a mount no longer holds: an author's head is below the one
/// the image's session record names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shortfall {
    /// Whose chain.
    pub author: PublicKey,
    /// The head seq the image mounts with now (0: none).
    pub held: u64,
    /// The head seq recorded as committed.
    pub committed: u64,
}

/// Why a chain file's framing is invalid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Shorter than the file header.
    #[error("file too short for the chain file header")]
    TooShort,
    /// Not a chain file.
    #[error("not a glitter chain file (bad magic)")]
    BadMagic,
    /// Another format version.
    #[error("unsupported chain file version {found} (this build reads {reads})")]
    Version {
        /// The version in the file.
        found: u16,
        /// The version this build reads.
        reads: u16,
    },
    /// The count cannot fit the file.
    #[error("file claims {count} blocks but can hold at most {max}")]
    Count {
        /// Blocks claimed.
        count: u64,
        /// Blocks the bytes could hold.
        max: usize,
    },
    /// A block is cut short.
    #[error("block #{index}: truncated {what}")]
    Truncated {
        /// Position in the file.
        index: usize,
        /// "header", "flag" or "payload".
        what: &'static str,
    },
    /// A payload longer than any block may carry.
    #[error("block #{index}: payload length {len} exceeds {max}")]
    PayloadLen {
        /// Position in the file.
        index: usize,
        /// Length claimed.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// The payload flag is neither 0 nor 1.
    #[error("block #{index}: invalid payload flag {flag}")]
    Flag {
        /// Position in the file.
        index: usize,
        /// The flag.
        flag: u8,
    },
    /// Bytes after the last block.
    #[error("{0} trailing bytes after the last block")]
    Trailing(usize),
    /// Longer than the block count in the header allows.
    #[error("file is {len} bytes, longer than its block count allows ({max} bytes)")]
    TooLong {
        /// Bytes in the file (or read before giving up).
        len: u64,
        /// The most the header's count allows.
        max: u64,
    },
}

/// Why a chain file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ChainFileError {
    /// The file could not be read.
    #[error("{}: cannot read", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The framing is invalid.
    #[error("{}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: ParseError,
    },
    /// Not a regular file (a FIFO, a device, a directory): refused unread.
    #[error("{}: {kind}, not a regular file; refusing to read it", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
        /// What it is ("a FIFO", "a character device", …).
        kind: &'static str,
    },
    /// Longer than its format allows.
    #[error("{}: {len} bytes, more than the {max} its format allows", path.display())]
    TooLong {
        /// The file.
        path: PathBuf,
        /// Bytes in the file (or read before giving up).
        len: u64,
        /// The bound.
        max: u64,
    },
    /// A block does not verify.
    #[error("{}", path.display())]
    Verify {
        /// The file.
        path: PathBuf,
        /// The failing block.
        #[source]
        source: BlockFailure,
    },
}

/// Why an account action's arguments are refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    /// Not 64 hex digits.
    #[error("{0:?} is not a 64-hex-digit author key")]
    NotAKey(String),
    /// 64 hex digits, but not a key that can author a chain.
    #[error("{given}: not a usable author key")]
    UnusableKey {
        /// The key as given.
        given: String,
        /// Why.
        #[source]
        source: SigError,
    },
    /// A reply is not `AUTHOR:SEQ`.
    #[error("--reply-to takes AUTHOR:SEQ")]
    ReplyForm,
    /// A reply's seq is not a number.
    #[error("--reply-to: SEQ must be a number")]
    ReplySeq,
    /// The block replied to is not stored here.
    #[error("--reply-to: block {author}:{seq} is not stored here")]
    ReplyUnknown {
        /// Its author.
        author: PublicKey,
        /// Its seq.
        seq: u64,
    },
    /// Following yourself means nothing (not even with --force).
    #[error("you cannot follow yourself; nothing appended")]
    FollowSelf,
    /// A second Follow of the same author.
    #[error("already following {0}; nothing appended (--force appends a Follow block anyway)")]
    AlreadyFollowing(PublicKey),
    /// An Unfollow of an author not followed.
    #[error("not following {0}; nothing appended (--force appends an Unfollow block anyway)")]
    NotFollowing(PublicKey),
    /// An empty or whitespace-only post.
    #[error("the post is empty (or only whitespace); nothing appended (--force posts it anyway)")]
    EmptyPost,
    /// Text over its bound.
    #[error("{field}")]
    Text {
        /// "post text" or "profile".
        field: &'static str,
        /// Why.
        #[source]
        source: WireError,
    },
}

/// Why a backup step (the owner's, a custodian's, or a custody file) failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The owner's chain is empty.
    #[error("nothing to back up: the chain is empty")]
    EmptyChain,
    /// The chain given is another author's.
    #[error("the chain is not the owner's")]
    NotOwners,
    /// The owner named themself.
    #[error("you cannot be your own custodian")]
    OwnCustodian,
    /// A custodian is named twice.
    #[error("custodian {0} is named twice")]
    DuplicateCustodian(PublicKey),
    /// Too few or too many custodians.
    #[error("a backup needs 2 to {max} custodians, not {given}")]
    CustodianCount {
        /// Custodians named.
        given: usize,
        /// The bound.
        max: usize,
    },
    /// The threshold is out of range.
    #[error("--threshold must be between 2 and the number of custodians ({custodians})")]
    Threshold {
        /// Custodians named.
        custodians: usize,
    },
    /// More ranges than a manifest holds.
    #[error("more than {0} ranges")]
    TooManyRanges(usize),
    /// A core backup step refused (splitting, sealing, sharding, erasure coding).
    #[error("{what}")]
    Core {
        /// The step.
        what: &'static str,
        /// The core error.
        #[source]
        source: BoxError,
    },
    /// The manifest block is not the owner's.
    #[error("manifest block is by another author")]
    ManifestAuthor,
    /// The block is not a manifest.
    #[error("block {seq} is a {kind}, not a backup manifest")]
    NotAManifest {
        /// The block's seq.
        seq: u64,
        /// Its kind.
        kind: &'static str,
    },
    /// The manifest block fails a chain rule.
    #[error("manifest block {seq}")]
    ManifestBlock {
        /// The block's seq.
        seq: u64,
        /// The rule.
        #[source]
        source: BoxError,
    },
    /// The manifest's payload does not decode.
    #[error("manifest block {seq}: undecodable payload")]
    ManifestPayload {
        /// The block's seq.
        seq: u64,
    },
    /// A package is not newer than what is held.
    #[error("package is backup version {package}, already holding version {held}")]
    NotNewer {
        /// The package's version.
        package: u64,
        /// The version held.
        held: u64,
    },
    /// A package lacks the shard of a range.
    #[error("no shard for seq {first}..={last} in the package")]
    NoShard {
        /// First seq of the range.
        first: u64,
        /// Last seq of the range.
        last: u64,
    },
    /// A stored share does not open (damaged storage).
    #[error("custody of {owner}")]
    Custody {
        /// The owner.
        owner: PublicKey,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// A custody file is missing, unreadable or malformed.
    #[error("{}: {what}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: &'static str,
        /// Why, when known.
        #[source]
        source: Option<BoxError>,
    },
    /// The own chain (a data directory, a node's store, a chain in memory) failed.
    #[error("own chain")]
    OwnChain(#[source] BoxError),
}

impl BackupError {
    /// Wraps a core step's error, naming the step.
    pub fn core<E: std::error::Error + Send + Sync + 'static>(
        what: &'static str,
    ) -> impl FnOnce(E) -> BackupError {
        move |e| BackupError::Core {
            what,
            source: Box::new(e),
        }
    }
}

/// Why the custodian's consent list (the owners its operator agreed to hold backups
/// for, [`crate::backup::consent`]) cannot be read, written or changed.
#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    /// The file cannot be read or written.
    #[error("{}: {what}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What failed.
        what: &'static str,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// A line is not an owner key.
    #[error("{}: line {line}: not an owner key", path.display())]
    Line {
        /// The file.
        path: PathBuf,
        /// The line number, from 1.
        line: usize,
        /// Why.
        #[source]
        source: AccountError,
    },
    /// The file names more owners than a custodian accepts.
    #[error("{}: names more than {max} owners", path.display())]
    TooMany {
        /// The file.
        path: PathBuf,
        /// The bound.
        max: usize,
    },
    /// The consent list is full.
    #[error(
        "custody is already accepted for {max} owners, the most a node keeps; revoke one \
         first (`glitter node custody revoke OWNER`)"
    )]
    Full {
        /// The bound.
        max: usize,
    },
    /// The operator named their own key.
    #[error("a node cannot be its own custodian")]
    OwnKey,
}

/// Why a custodian refuses a package for its custody quota (checked before anything
/// is written; [`crate::backup::consent::CustodyQuota`]).
#[derive(Debug, thiserror::Error)]
pub enum QuotaError {
    /// The owner's backup would take more than the per-owner quota.
    #[error(
        "holding this backup of {owner} would take {bytes} bytes, over the custodian's \
         per-owner custody quota of {quota} bytes"
    )]
    Owner {
        /// The owner.
        owner: PublicKey,
        /// The bytes the owner's backup would take once written.
        bytes: u64,
        /// The per-owner quota.
        quota: u64,
    },
    /// Every owner's backups together would take more than the total quota.
    #[error(
        "holding this backup of {owner} would bring the custodian's custody to {bytes} \
         bytes, over its total custody quota of {quota} bytes"
    )]
    Total {
        /// The owner.
        owner: PublicKey,
        /// The bytes all backups would take once written.
        bytes: u64,
        /// The total quota.
        quota: u64,
    },
}

/// Why a chain file does not verify: the block index (0-based in the file) and seq,
/// and the reason.
#[derive(Debug)]
pub struct BlockFailure {
    /// Position in the file, from 0.
    pub index: usize,
    /// The seq the block claims, if its header decoded.
    pub seq: Option<u64>,
    /// What is wrong.
    pub error: glitter_core::ChainError,
}

impl std::fmt::Display for BlockFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.seq {
            Some(s) => write!(f, "block #{} (seq {s}): {}", self.index, self.error),
            None => write!(f, "block #{}: {}", self.index, self.error),
        }
    }
}

impl std::error::Error for BlockFailure {}
