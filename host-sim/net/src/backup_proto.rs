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
//! postcard. The length is checked against [`FRAME_LEN_MAX`] before anything is
//! allocated, and a message must decode exactly (no trailing bytes). Everything a
//! message carries (manifest block, sealed share, shard records) is checked again by
//! the receiver's backup engine; the transport is not trusted.

use async_trait::async_trait;
use futures::prelude::*;
use glitter_core::hash::Hash;
use glitter_core::sig::{KeyPair, PublicKey, SIGNATURE_LEN, Signature};
use libp2p::{PeerId, StreamProtocol};
use serde::{Deserialize, Serialize};
use std::io;

/// The protocol name.
pub const BACKUP_PROTOCOL: StreamProtocol = StreamProtocol::new("/glitter/backup/1");

/// The largest frame either way: a package or a release carries shard records, about
/// 1/k of the encrypted chain per range. A chain whose shards exceed this cannot be
/// backed up over the network (the offline `glitter backup create` has no such limit).
pub const FRAME_LEN_MAX: usize = 32 * 1024 * 1024;

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
        manifest_block: Vec<u8>,
        /// The share sealed to this custodian (140 bytes).
        share: Vec<u8>,
        /// The shard records of the new range (the custodian keeps older ones).
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
        sig: Vec<u8>,
    },
    /// The package passed every check and is stored; `receipt` (64 bytes) is the
    /// custodian's signature over [`receipt_message`].
    Stored {
        /// Bytes now held for the owner (share and shard records).
        bytes: u64,
        /// The signed receipt.
        receipt: Vec<u8>,
    },
    /// The request was refused, with a one-line reason.
    Refused {
        /// Why.
        reason: String,
    },
    /// The custodian holds a backup of the owner but has not approved this device.
    Pending,
    /// The custodian holds nothing for the owner.
    Nothing,
    /// The custodian's answer to an approved device.
    Release {
        /// The manifest block it holds (header ‖ payload).
        manifest_block: Vec<u8>,
        /// Its share re-sealed to the device (172 bytes).
        release: Vec<u8>,
        /// Its shard records, one per range.
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

/// The `/glitter/backup/1` codec (stateless).
#[derive(Clone, Copy, Debug, Default)]
pub struct BackupCodec;

fn invalid(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

/// Encodes one frame (length ‖ postcard).
///
/// # Errors
/// `InvalidData` if the message does not encode or exceeds [`FRAME_LEN_MAX`].
pub fn encode_frame<T: Serialize>(msg: &T) -> io::Result<Vec<u8>> {
    let body = postcard::to_allocvec(msg).map_err(|e| invalid(format!("glitter backup: {e}")))?;
    if body.len() > FRAME_LEN_MAX {
        return Err(invalid(format!(
            "glitter backup: a {} byte message exceeds the {FRAME_LEN_MAX} byte frame limit",
            body.len()
        )));
    }
    let mut out = (body.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decodes a frame body: the whole of `bytes` must be one message.
///
/// # Errors
/// `InvalidData` on malformed bytes or trailing data.
pub fn decode_body<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> io::Result<T> {
    let (msg, rest) = postcard::take_from_bytes::<T>(bytes)
        .map_err(|e| invalid(format!("glitter backup: malformed message: {e}")))?;
    if !rest.is_empty() {
        return Err(invalid("glitter backup: trailing bytes after the message"));
    }
    Ok(msg)
}

async fn read_frame<T, M>(io: &mut T) -> io::Result<M>
where
    T: AsyncRead + Unpin + Send,
    M: for<'de> Deserialize<'de>,
{
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_le_bytes(len) as usize;
    if len == 0 || len > FRAME_LEN_MAX {
        return Err(invalid("glitter backup: frame length out of range"));
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    decode_body(&buf)
}

async fn write_frame<T, M>(io: &mut T, msg: &M) -> io::Result<()>
where
    T: AsyncWrite + Unpin + Send,
    M: Serialize,
{
    let frame = encode_frame(msg)?;
    io.write_all(&frame).await?;
    io.close().await
}

#[async_trait]
impl libp2p::request_response::Codec for BackupCodec {
    type Protocol = StreamProtocol;
    type Request = BackupRequest;
    type Response = BackupResponse;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<BackupRequest>
    where
        T: AsyncRead + Unpin + Send,
    {
        let req: BackupRequest = read_frame(io).await?;
        if let BackupRequest::Deliver { records, .. } = &req
            && records.len() > RECORDS_MAX
        {
            return Err(invalid("glitter backup: too many shard records"));
        }
        Ok(req)
    }

    async fn read_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<BackupResponse>
    where
        T: AsyncRead + Unpin + Send,
    {
        let res: BackupResponse = read_frame(io).await?;
        match &res {
            BackupResponse::Release { records, .. } if records.len() > RECORDS_MAX => {
                Err(invalid("glitter backup: too many shard records"))
            }
            BackupResponse::Refused { reason } if reason.len() > REASON_LEN_MAX => {
                Err(invalid("glitter backup: refusal reason too long"))
            }
            _ => Ok(res),
        }
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: BackupRequest,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &req).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: BackupResponse,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &res).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libp2p::request_response::Codec;

    fn block_on<F: Future>(f: F) -> F::Output {
        futures::executor::block_on(f)
    }

    #[test]
    fn frames_round_trip_and_bounds_hold() {
        let mut c = BackupCodec;
        let req = BackupRequest::Deliver {
            manifest_block: vec![7; 300],
            share: vec![1; 140],
            records: vec![vec![2; 1000], vec![3; 10]],
        };
        let mut buf = Vec::new();
        block_on(c.write_request(&BACKUP_PROTOCOL, &mut buf, req.clone())).unwrap();
        let mut r = &buf[..];
        assert_eq!(
            block_on(c.read_request(&BACKUP_PROTOCOL, &mut r)).unwrap(),
            req
        );
        // Trailing bytes inside a frame, zero and oversized lengths, truncation.
        let mut body = postcard::to_allocvec(&BackupRequest::Hello).unwrap();
        body.push(0);
        let mut frame = (body.len() as u32).to_le_bytes().to_vec();
        frame.extend_from_slice(&body);
        assert!(block_on(c.read_request(&BACKUP_PROTOCOL, &mut &frame[..])).is_err());
        assert!(block_on(c.read_request(&BACKUP_PROTOCOL, &mut &[0u8, 0, 0, 0][..])).is_err());
        let huge = ((FRAME_LEN_MAX + 1) as u32).to_le_bytes();
        assert!(block_on(c.read_request(&BACKUP_PROTOCOL, &mut &huge[..])).is_err());
        assert!(block_on(c.read_request(&BACKUP_PROTOCOL, &mut &buf[..buf.len() - 1])).is_err());
        // Too many records.
        let many = BackupRequest::Deliver {
            manifest_block: vec![],
            share: vec![],
            records: vec![vec![]; RECORDS_MAX + 1],
        };
        let mut buf = Vec::new();
        block_on(c.write_request(&BACKUP_PROTOCOL, &mut buf, many)).unwrap();
        assert!(block_on(c.read_request(&BACKUP_PROTOCOL, &mut &buf[..])).is_err());
    }

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
