//! `/glitter/backup/1`: backup and restore between processes.
//!
//! Four exchanges, each one request and one response (request-response over the same
//! libp2p connections as replication):
//!
//! | request | sent by | answered with |
//! | --- | --- | --- |
//! | [`BackupRequest::Hello`] | every node, on each new connection | [`BackupResponse::Hello`]: the author key and its signature over the answering peer id, so a node knows which connected peer holds which author key |
//! | [`BackupRequest::Deliver`] | the owner, to each custodian | [`BackupResponse::Stored`] with a receipt signed by the custodian's author key, or [`BackupResponse::Refused`] |
//! | [`BackupRequest::Fetch`] | a restoring device, to custodians | [`BackupResponse::Release`] once the custodian approved the device's code, else [`BackupResponse::Pending`] or [`BackupResponse::Nothing`] |
//! | [`BackupRequest::Head`] | a restoring device, to peers | [`BackupResponse::Head`]: the stored head of an author |
//!
//! Framing: a `u32` little-endian length, then that many bytes of the message in
//! postcard. A message must decode exactly (no trailing bytes). Everything a message
//! carries (manifest block, sealed share, shard records) is checked again by the
//! receiver's backup engine; the transport is not trusted.
//!
//! **Nothing is allocated on a stranger's say-so** (issue 15). The reader takes the
//! length and the message kind (the first body byte, postcard's variant index) before
//! anything else:
//!
//! - every message but a package (`Deliver`) and a release (`Release`) is at most
//!   [`SMALL_FRAME_MAX`] bytes;
//! - a larger `Deliver` is read only from a peer that proved, with `Hello`, an author
//!   key this node holds backups for (an owner its operator accepted)
//!   ([`BackupGate`](crate::backup_codec::BackupGate)), only [`LARGE_READS_MAX`]
//!   at a time, and only up to the per-owner custody quota; from anyone else, or over
//!   the quota, it is discarded unread in [`DRAIN_CHUNK`] pieces and answered with a
//!   refusal ([`BackupRequest::NotAnOwner`], [`BackupRequest::OverQuota`]);
//! - a larger `Release` is read only by a restoring device
//!   ([`BackupCodec::device`](crate::backup_codec::BackupCodec::device)), which asked
//!   for it;
//! - the buffer grows with the bytes that arrive, never to the declared length at once;
//! - lists and byte strings are counted against what the frame holds before they are
//!   decoded (at most [`RECORDS_MAX`] shard records, [`REASON_LEN_MAX`] bytes of
//!   reason), for requests and responses alike.

use glitter_core::hash::Hash;
use glitter_core::sig::{KeyPair, PublicKey, SIGNATURE_LEN, Signature};
use libp2p::{PeerId, StreamProtocol};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

/// The protocol name.
pub const BACKUP_PROTOCOL: StreamProtocol = StreamProtocol::new("/glitter/backup/1");

/// The largest frame either way: a package or a release carries shard records, about
/// 1/k of the encrypted chain per range. A chain whose shards exceed this cannot be
/// backed up over the network (the offline `glitter backup create` has no such limit).
pub const FRAME_LEN_MAX: usize = 32 * 1024 * 1024;

/// The largest frame of every message but a package or a release: `Hello`, `Fetch`
/// and `Head` requests are under 100 bytes, and every other answer under 700.
pub const SMALL_FRAME_MAX: usize = 4 * 1024;

/// Most large frames (packages) a node reads at once, from all its peers together.
pub const LARGE_READS_MAX: usize = 2;

/// Most concurrent `/glitter/backup/1` streams on one connection (libp2p drops the
/// streams beyond it).
pub const STREAMS_PER_CONNECTION_MAX: usize = 8;

/// The most bytes of a `Deliver` frame that are framing rather than stored data: the
/// kind byte and the length prefixes of the manifest block, the share, the record list
/// and at most [`RECORDS_MAX`] records (each a varint of at most 5 bytes) come to 56.
/// Everything else an honest package carries is written to disk, so a frame longer
/// than the per-owner custody quota plus this cannot fit the quota and is discarded
/// unread ([`BackupRequest::OverQuota`]).
pub const DELIVER_FRAMING_MAX: usize = 64;

/// The buffer a package from a peer that is not an admitted owner is discarded through.
pub const DRAIN_CHUNK: usize = 8 * 1024;

/// Most shard records in one package or release (a manifest lists at most 8 ranges).
pub const RECORDS_MAX: usize = 8;

/// Longest reason string in a refusal.
pub const REASON_LEN_MAX: usize = 512;

/// Domain of the signature in [`BackupResponse::Hello`].
pub const HELLO_DOMAIN: &[u8] = b"glitter/backup/hello/v1";
/// Domain of the signed receipt in [`BackupResponse::Stored`].
pub const RECEIPT_DOMAIN: &[u8] = b"glitter/backup/receipt/v1";
/// Domain of the device code hash ([`device_code`]).
pub const DEVICE_CODE_DOMAIN: &[u8] = b"glitter/backup/device-code/v1";
/// Bytes of the device code (80 bits, 20 hex digits).
pub const DEVICE_CODE_LEN: usize = 10;

/// A request on `/glitter/backup/1`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BackupRequest {
    /// "Which author key are you?"
    Hello,
    /// The owner hands a custodian its part of a backup.
    Deliver {
        /// The `BackupManifest` block: 212 header bytes, then the payload.
        #[serde(deserialize_with = "bytes")]
        manifest_block: Vec<u8>,
        /// The share sealed to this custodian (140 bytes).
        #[serde(deserialize_with = "bytes")]
        share: Vec<u8>,
        /// The shard records of the new range (the custodian keeps older ones).
        #[serde(deserialize_with = "records")]
        records: Vec<Vec<u8>>,
    },
    /// A restoring device asks for `owner`'s share, sealed to its one-time key.
    Fetch {
        /// The identity being restored.
        owner: [u8; 32],
        /// The device's one-time X25519 public key.
        device: [u8; 32],
    },
    /// "What is the head of `author` that you store?"
    Head {
        /// Whose chain.
        author: [u8; 32],
    },
    /// Never on the wire: what the codec hands the node instead of a package larger
    /// than [`SMALL_FRAME_MAX`] from a peer that is not an owner this node holds
    /// backups for. The package was discarded unread; the node answers with a refusal.
    #[serde(skip)]
    NotAnOwner {
        /// The declared frame length.
        len: u32,
    },
    /// Never on the wire: what the codec hands the node instead of an owner's package
    /// longer than the per-owner custody quota plus [`DELIVER_FRAMING_MAX`]. The package
    /// was discarded unread; the node answers with a refusal naming the quota.
    #[serde(skip)]
    OverQuota {
        /// The declared frame length.
        len: u32,
    },
}

/// A response on `/glitter/backup/1`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BackupResponse {
    /// The answering node's author key, and its signature (64 bytes) over
    /// [`HELLO_DOMAIN`] ‖ the answering peer id's bytes.
    Hello {
        /// The author key.
        author: [u8; 32],
        /// The signature.
        #[serde(deserialize_with = "bytes")]
        sig: Vec<u8>,
    },
    /// The package passed every check and is stored; `receipt` (64 bytes) is the
    /// custodian's signature over [`receipt_message`].
    Stored {
        /// Bytes now held for the owner: the manifest block, the share and the shard
        /// records (what counts against the custodian's quotas).
        bytes: u64,
        /// The signed receipt.
        #[serde(deserialize_with = "bytes")]
        receipt: Vec<u8>,
    },
    /// The request was refused, with a one-line reason.
    Refused {
        /// Why.
        #[serde(deserialize_with = "reason")]
        reason: String,
    },
    /// The custodian holds a backup of the owner but has not approved this device.
    Pending,
    /// The custodian holds nothing for the owner.
    Nothing,
    /// The custodian's answer to an approved device.
    Release {
        /// The manifest block it holds (header ‖ payload).
        #[serde(deserialize_with = "bytes")]
        manifest_block: Vec<u8>,
        /// Its share re-sealed to the device (172 bytes).
        #[serde(deserialize_with = "bytes")]
        release: Vec<u8>,
        /// Its shard records, one per range.
        #[serde(deserialize_with = "records")]
        records: Vec<Vec<u8>>,
    },
    /// The stored head of the asked author (seq 0 and a zero id if none).
    Head {
        /// Head seq.
        seq: u64,
        /// Head block id.
        id: [u8; 32],
    },
}

/// The message a custodian signs to acknowledge backup `version` of `owner`, whose
/// manifest block has id `manifest_id`.
pub fn receipt_message(
    custodian: &PublicKey,
    owner: &PublicKey,
    version: u64,
    manifest_id: &Hash,
) -> Vec<u8> {
    let mut m = RECEIPT_DOMAIN.to_vec();
    m.extend_from_slice(&custodian.0);
    m.extend_from_slice(&owner.0);
    m.extend_from_slice(&version.to_le_bytes());
    m.extend_from_slice(&manifest_id.0);
    m
}

fn hello_message(peer: &PeerId) -> Vec<u8> {
    let mut m = HELLO_DOMAIN.to_vec();
    m.extend_from_slice(&peer.to_bytes());
    m
}

/// The `Hello` answer of the node with chain keys `keys` and peer id `me`.
pub fn hello(keys: &KeyPair, me: &PeerId) -> BackupResponse {
    BackupResponse::Hello {
        author: keys.public().0,
        sig: keys.sign(&hello_message(me)).to_vec(),
    }
}

/// Checks a `Hello` answer received from peer `from`: the author key must have signed
/// that peer id.
///
/// # Errors
/// A one-line reason.
pub fn check_hello(from: &PeerId, author: &[u8; 32], sig: &[u8]) -> Result<PublicKey, String> {
    let sig: &Signature = sig
        .try_into()
        .map_err(|_| format!("hello: signature is not {SIGNATURE_LEN} bytes"))?;
    let pk = PublicKey(*author);
    pk.verify(&hello_message(from), sig)
        .map_err(|e| format!("hello: {e}"))?;
    Ok(pk)
}

/// The device code of a restoring device's one-time key: the first 80 bits of
/// SHA-256([`DEVICE_CODE_DOMAIN`] ‖ key), as `xxxxx-xxxxx-xxxxx-xxxxx` (hex). The
/// person restoring reads it to each custodian out of band; a custodian releases only
/// to the device whose key has the code it approved.
pub fn device_code(device: &[u8; 32]) -> String {
    let h = Hash::of_parts(&[DEVICE_CODE_DOMAIN, device]);
    let hexed = hex::encode(h.0.get(..DEVICE_CODE_LEN).unwrap_or(&[]));
    let mut out = String::new();
    for (i, c) in hexed.chars().enumerate() {
        if i > 0 && i % 5 == 0 {
            out.push('-');
        }
        out.push(c);
    }
    out
}

/// Normalises a device code typed by a person (dashes and spaces dropped, case
/// folded) to the form [`device_code`] prints.
///
/// # Errors
/// If it is not 20 hex digits.
pub fn parse_device_code(s: &str) -> Result<String, String> {
    let digits: String = s
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\t'))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if digits.len() != 2 * DEVICE_CODE_LEN || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "{s:?} is not a device code (20 hex digits, as xxxxx-xxxxx-xxxxx-xxxxx)"
        ));
    }
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && i % 5 == 0 {
            out.push('-');
        }
        out.push(c);
    }
    Ok(out)
}

/// A byte string, taken as bytes: postcard checks the length against what the frame
/// holds before anything is copied (the wire form is that of a `Vec<u8>`).
fn bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a byte string")
        }
        fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }
    }
    d.deserialize_bytes(V)
}

/// One shard record inside [`records`].
struct Record(Vec<u8>);

impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Record, D::Error> {
        bytes(d).map(Record)
    }
}

/// At most [`RECORDS_MAX`] shard records: the count is checked before any is decoded.
fn records<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<Vec<u8>>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            write!(f, "at most {RECORDS_MAX} shard records")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let n = seq.size_hint().unwrap_or(RECORDS_MAX + 1);
            if n > RECORDS_MAX {
                return Err(de::Error::invalid_length(n, &self));
            }
            let mut out = Vec::with_capacity(n);
            while let Some(Record(r)) = seq.next_element()? {
                if out.len() == RECORDS_MAX {
                    return Err(de::Error::invalid_length(RECORDS_MAX + 1, &self));
                }
                out.push(r);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(V)
}

/// A refusal reason of at most [`REASON_LEN_MAX`] bytes, checked before it is copied.
fn reason<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = String;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            write!(f, "a reason of at most {REASON_LEN_MAX} bytes")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            if v.len() > REASON_LEN_MAX {
                return Err(E::invalid_length(v.len(), &self));
            }
            Ok(v.to_string())
        }
    }
    d.deserialize_str(V)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_binds_the_author_to_the_peer_id() {
        let keys = KeyPair::from_seed([9; 32]).unwrap();
        let me = PeerId::random();
        let BackupResponse::Hello { author, sig } = hello(&keys, &me) else {
            panic!("not a hello");
        };
        assert_eq!(check_hello(&me, &author, &sig), Ok(keys.public()));
        // Replayed by another peer: refused.
        assert!(check_hello(&PeerId::random(), &author, &sig).is_err());
        assert!(check_hello(&me, &author, &sig[..63]).is_err());
    }

    #[test]
    fn device_codes_are_stable_and_parse_back() {
        let code = device_code(&[5; 32]);
        assert_eq!(code.len(), 23);
        assert_eq!(code, device_code(&[5; 32]));
        assert_ne!(code, device_code(&[6; 32]));
        assert_eq!(parse_device_code(&code.to_uppercase()), Ok(code.clone()));
        assert_eq!(parse_device_code(&code.replace('-', " ")), Ok(code.clone()));
        assert!(parse_device_code("abc").is_err());
        assert!(parse_device_code("zzzzz-zzzzz-zzzzz-zzzzz").is_err());
    }
}
