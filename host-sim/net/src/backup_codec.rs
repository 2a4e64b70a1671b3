//! The `/glitter/backup/1` codec ([`crate::backup_proto`]): framing, and the checks
//! that keep a stranger from making a node allocate (see the protocol's module
//! documentation, "Nothing is allocated on a stranger's say-so").

use crate::backup_proto::{
    BackupRequest, BackupResponse, DRAIN_CHUNK, FRAME_LEN_MAX, LARGE_READS_MAX, SMALL_FRAME_MAX,
};
use async_trait::async_trait;
use futures::prelude::*;
use libp2p::{PeerId, StreamProtocol};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

// Postcard's variant indices of the message kinds the reader looks at before reading
// the rest of a frame (checked by a test against the encoder).
pub(crate) const REQ_DELIVER: u8 = 1;
pub(crate) const RES_RELEASE: u8 = 5;

/// What the node's backup codecs share: which peers may send large frames, how large,
/// and how many large frames are being read.
///
/// A codec learns the peer of its connection when libp2p clones it for the new
/// connection ([`GatedBackup`](crate::transport::GatedBackup) names the peer around
/// that call); the node keeps the owner set up to date as `Hello` answers, the
/// operator's custody consent and (under `--custody-policy follows`) follows change.
#[derive(Debug, Default)]
pub struct BackupGate {
    /// Connected peers whose `Hello` proved an author key this node holds backups for
    /// (at most one entry per connected peer).
    owners: Mutex<HashSet<PeerId>>,
    /// The peer of the connection whose handler is being built.
    next_peer: Mutex<Option<PeerId>>,
    large_reads: AtomicUsize,
    /// The longest package read (0: [`FRAME_LEN_MAX`]).
    package_max: AtomicUsize,
}

impl BackupGate {
    /// Replaces the set of peers allowed to send packages larger than
    /// [`SMALL_FRAME_MAX`].
    pub fn set_owners(&self, owners: impl IntoIterator<Item = PeerId>) {
        let mut o = self.owners.lock().unwrap_or_else(PoisonError::into_inner);
        o.clear();
        o.extend(owners);
    }

    /// Sets the longest package read from an owner (at most [`FRAME_LEN_MAX`]); a
    /// longer one is discarded unread and handed over as
    /// [`BackupRequest::OverQuota`].
    pub fn set_package_max(&self, max: usize) {
        self.package_max
            .store(max.min(FRAME_LEN_MAX), Ordering::Release);
    }

    /// The longest package read from an owner.
    pub fn package_max(&self) -> usize {
        match self.package_max.load(Ordering::Acquire) {
            0 => FRAME_LEN_MAX,
            m => m,
        }
    }

    /// True if `peer` may send a large package.
    pub fn is_owner(&self, peer: &PeerId) -> bool {
        self.owners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(peer)
    }

    /// Runs `f` (which builds a connection handler, cloning the codec) with `peer`
    /// named as the peer of the codecs cloned meanwhile.
    pub fn with_peer<R>(&self, peer: PeerId, f: impl FnOnce() -> R) -> R {
        *self
            .next_peer
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(peer);
        let r = f();
        *self
            .next_peer
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
        r
    }

    fn large_permit(self: &Arc<Self>) -> io::Result<LargeRead> {
        let taken = self.large_reads.fetch_add(1, Ordering::AcqRel);
        let permit = LargeRead(self.clone());
        if taken >= LARGE_READS_MAX {
            return Err(invalid(format!(
                "glitter backup: {LARGE_READS_MAX} packages are being received already"
            )));
        }
        Ok(permit)
    }
}

/// One of the [`LARGE_READS_MAX`] large reads, given back when dropped (also when the
/// stream fails or times out).
struct LargeRead(Arc<BackupGate>);

impl Drop for LargeRead {
    fn drop(&mut self) {
        self.0.large_reads.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The `/glitter/backup/1` codec.
#[derive(Debug)]
pub struct BackupCodec {
    gate: Arc<BackupGate>,
    /// The remote peer of this codec's connection, once known.
    peer: Option<PeerId>,
    /// A restoring device reads large `Release` answers (from the custodians it asked).
    device: bool,
}

impl Clone for BackupCodec {
    fn clone(&self) -> Self {
        let next = *self
            .gate
            .next_peer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        BackupCodec {
            gate: self.gate.clone(),
            peer: self.peer.or(next),
            device: self.device,
        }
    }
}

impl BackupCodec {
    /// A node's codec: large packages only from the owners in `gate`, no large answers.
    pub fn node(gate: Arc<BackupGate>) -> BackupCodec {
        BackupCodec {
            gate,
            peer: None,
            device: false,
        }
    }

    /// A restoring device's codec: it serves nothing and reads large releases.
    pub fn device() -> BackupCodec {
        BackupCodec {
            gate: Arc::default(),
            peer: None,
            device: true,
        }
    }

    /// The remote peer this codec reads from, if known.
    pub fn peer(&self) -> Option<PeerId> {
        self.peer
    }
}

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

/// Reads a frame's length and its first body byte (the message kind).
async fn read_head<T: AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<(usize, u8)> {
    let mut head = [0u8; 5];
    io.read_exact(&mut head).await?;
    let [a, b, c, d, kind] = head;
    let len = u32::from_le_bytes([a, b, c, d]) as usize;
    if len == 0 || len > FRAME_LEN_MAX {
        return Err(invalid("glitter backup: frame length out of range"));
    }
    Ok((len, kind))
}

/// Reads the rest of a frame whose first byte was `kind`, growing the buffer with the
/// bytes that arrive, and decodes it.
async fn read_rest<T, M>(io: &mut T, len: usize, kind: u8) -> io::Result<M>
where
    T: AsyncRead + Unpin + Send,
    M: for<'de> Deserialize<'de>,
{
    let mut buf = Vec::with_capacity(len.min(64 * 1024));
    buf.push(kind);
    io.take(len as u64 - 1).read_to_end(&mut buf).await?;
    if buf.len() != len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    decode_body(&buf)
}

/// Reads and discards `n` bytes through a [`DRAIN_CHUNK`] buffer.
async fn drain<T: AsyncRead + Unpin + Send>(io: &mut T, mut n: usize) -> io::Result<()> {
    let mut chunk = [0u8; DRAIN_CHUNK];
    while n > 0 {
        let want = n.min(DRAIN_CHUNK);
        let got = io.read(&mut chunk[..want]).await?;
        if got == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        n -= got;
    }
    Ok(())
}

fn too_large(len: usize) -> io::Error {
    invalid(format!(
        "glitter backup: a {len} byte frame exceeds the {SMALL_FRAME_MAX} byte limit of its kind"
    ))
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
        let (len, kind) = read_head(io).await?;
        if len <= SMALL_FRAME_MAX {
            return read_rest(io, len, kind).await;
        }
        if kind != REQ_DELIVER {
            return Err(too_large(len));
        }
        if !self.peer.is_some_and(|p| self.gate.is_owner(&p)) {
            drain(io, len - 1).await?;
            return Ok(BackupRequest::NotAnOwner { len: len as u32 });
        }
        if len > self.gate.package_max() {
            drain(io, len - 1).await?;
            return Ok(BackupRequest::OverQuota { len: len as u32 });
        }
        let _permit = self.gate.large_permit()?;
        read_rest(io, len, kind).await
    }

    async fn read_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<BackupResponse>
    where
        T: AsyncRead + Unpin + Send,
    {
        let (len, kind) = read_head(io).await?;
        if len > SMALL_FRAME_MAX && !(self.device && kind == RES_RELEASE) {
            return Err(too_large(len));
        }
        read_rest(io, len, kind).await
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
    use crate::backup_proto::{BACKUP_PROTOCOL, REASON_LEN_MAX, RECORDS_MAX};
    use libp2p::request_response::Codec;

    fn block_on<F: Future>(f: F) -> F::Output {
        futures::executor::block_on(f)
    }

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut f = (body.len() as u32).to_le_bytes().to_vec();
        f.extend_from_slice(body);
        f
    }

    fn package(records: usize, bytes: usize) -> BackupRequest {
        BackupRequest::Deliver {
            manifest_block: vec![7; bytes],
            share: vec![1; 140],
            records: vec![vec![2; 10]; records],
        }
    }

    /// A node codec for a connection from `peer`, as libp2p clones it.
    fn codec_for(gate: &Arc<BackupGate>, peer: PeerId) -> BackupCodec {
        let base = BackupCodec::node(gate.clone());
        gate.with_peer(peer, || base.clone()).clone()
    }

    #[test]
    fn the_kinds_the_reader_peeks_at_are_postcards_variant_indices() {
        let body = postcard::to_allocvec(&package(1, 1)).unwrap();
        assert_eq!(body[0], REQ_DELIVER);
        let rel = BackupResponse::Release {
            manifest_block: vec![],
            release: vec![],
            records: vec![],
        };
        assert_eq!(postcard::to_allocvec(&rel).unwrap()[0], RES_RELEASE);
        // The in-process marker never goes on the wire.
        assert!(postcard::to_allocvec(&BackupRequest::NotAnOwner { len: 9 }).is_err());
    }

    #[test]
    fn frames_round_trip_and_bounds_hold() {
        let gate = Arc::new(BackupGate::default());
        let mut c = codec_for(&gate, PeerId::random());
        let req = package(2, 300);
        let mut buf = Vec::new();
        block_on(c.write_request(&BACKUP_PROTOCOL, &mut buf, req.clone())).unwrap();
        assert!(buf.len() <= SMALL_FRAME_MAX);
        assert_eq!(
            block_on(c.read_request(&BACKUP_PROTOCOL, &mut &buf[..])).unwrap(),
            req
        );
        // Trailing bytes inside a frame, zero and oversized lengths, truncation.
        let mut body = postcard::to_allocvec(&BackupRequest::Hello).unwrap();
        body.push(0);
        assert!(block_on(c.read_request(&BACKUP_PROTOCOL, &mut &frame(&body)[..])).is_err());
        assert!(block_on(c.read_request(&BACKUP_PROTOCOL, &mut &[0u8, 0, 0, 0, 0][..])).is_err());
        let mut huge = ((FRAME_LEN_MAX + 1) as u32).to_le_bytes().to_vec();
        huge.push(REQ_DELIVER);
        assert!(block_on(c.read_request(&BACKUP_PROTOCOL, &mut &huge[..])).is_err());
        assert!(block_on(c.read_request(&BACKUP_PROTOCOL, &mut &buf[..buf.len() - 1])).is_err());
    }

    #[test]
    fn counts_and_lengths_are_checked_before_decoding() {
        let gate = Arc::new(BackupGate::default());
        let mut c = codec_for(&gate, PeerId::random());
        // Too many records, honestly encoded.
        let mut buf = Vec::new();
        block_on(c.write_request(&BACKUP_PROTOCOL, &mut buf, package(RECORDS_MAX + 1, 1))).unwrap();
        assert!(block_on(c.read_request(&BACKUP_PROTOCOL, &mut &buf[..])).is_err());
        // A 9-byte frame claiming 2^28 records, and one claiming a 2^28 byte block:
        // refused at the count, not after allocating for it.
        for body in [
            vec![REQ_DELIVER, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x01],
            vec![REQ_DELIVER, 0x80, 0x80, 0x80, 0x80, 0x01, 0, 0],
        ] {
            assert!(block_on(c.read_request(&BACKUP_PROTOCOL, &mut &frame(&body)[..])).is_err());
        }
        // Responses too: a refusal reason over the limit.
        let long = BackupResponse::Refused {
            reason: "x".repeat(REASON_LEN_MAX + 1),
        };
        let mut buf = Vec::new();
        block_on(c.write_response(&BACKUP_PROTOCOL, &mut buf, long)).unwrap();
        assert!(block_on(c.read_response(&BACKUP_PROTOCOL, &mut &buf[..])).is_err());
    }

    #[test]
    fn large_packages_are_read_only_from_admitted_owners() {
        let gate = Arc::new(BackupGate::default());
        let (owner, stranger) = (PeerId::random(), PeerId::random());
        gate.set_owners([owner]);
        let big = package(1, SMALL_FRAME_MAX + 1);
        let mut buf = Vec::new();
        let mut c = codec_for(&gate, owner);
        block_on(c.write_request(&BACKUP_PROTOCOL, &mut buf, big.clone())).unwrap();
        assert_eq!(
            block_on(c.read_request(&BACKUP_PROTOCOL, &mut &buf[..])).unwrap(),
            big
        );
        // A stranger's is read through the drain buffer and never decoded.
        let mut s = codec_for(&gate, stranger);
        assert_eq!(
            block_on(s.read_request(&BACKUP_PROTOCOL, &mut &buf[..])).unwrap(),
            BackupRequest::NotAnOwner {
                len: (buf.len() - 4) as u32
            }
        );
        // A codec that does not know its peer treats it as a stranger.
        let mut unknown = BackupCodec::node(gate.clone());
        assert!(matches!(
            block_on(unknown.read_request(&BACKUP_PROTOCOL, &mut &buf[..])),
            Ok(BackupRequest::NotAnOwner { .. })
        ));
        // Any other kind is refused above the small limit, from anyone.
        let mut head = ((SMALL_FRAME_MAX + 1) as u32).to_le_bytes().to_vec();
        head.push(3);
        assert!(block_on(c.read_request(&BACKUP_PROTOCOL, &mut &head[..])).is_err());
        // At most LARGE_READS_MAX at once.
        let permits: Vec<_> = (0..LARGE_READS_MAX)
            .map(|_| gate.large_permit().unwrap())
            .collect();
        assert!(block_on(c.read_request(&BACKUP_PROTOCOL, &mut &buf[..])).is_err());
        drop(permits);
        assert!(block_on(c.read_request(&BACKUP_PROTOCOL, &mut &buf[..])).is_ok());
    }

    #[test]
    fn an_owners_package_over_the_quota_is_discarded_unread() {
        let gate = Arc::new(BackupGate::default());
        let owner = PeerId::random();
        gate.set_owners([owner]);
        assert_eq!(gate.package_max(), FRAME_LEN_MAX);
        let big = package(1, SMALL_FRAME_MAX + 100);
        let mut buf = Vec::new();
        let mut c = codec_for(&gate, owner);
        block_on(c.write_request(&BACKUP_PROTOCOL, &mut buf, big.clone())).unwrap();
        let len = buf.len() - 4;
        gate.set_package_max(len - 1);
        assert_eq!(
            block_on(c.read_request(&BACKUP_PROTOCOL, &mut &buf[..])).unwrap(),
            BackupRequest::OverQuota { len: len as u32 }
        );
        gate.set_package_max(len);
        assert_eq!(
            block_on(c.read_request(&BACKUP_PROTOCOL, &mut &buf[..])).unwrap(),
            big
        );
        // Small frames are not the quota's business.
        gate.set_package_max(1);
        let small = package(1, 10);
        let mut buf = Vec::new();
        block_on(c.write_request(&BACKUP_PROTOCOL, &mut buf, small.clone())).unwrap();
        assert_eq!(
            block_on(c.read_request(&BACKUP_PROTOCOL, &mut &buf[..])).unwrap(),
            small
        );
        assert!(postcard::to_allocvec(&BackupRequest::OverQuota { len: 9 }).is_err());
    }

    #[test]
    fn only_a_device_reads_large_releases() {
        let rel = BackupResponse::Release {
            manifest_block: vec![1; SMALL_FRAME_MAX],
            release: vec![2; 172],
            records: vec![vec![3; 100]],
        };
        let mut dev = BackupCodec::device();
        let mut buf = Vec::new();
        block_on(dev.write_response(&BACKUP_PROTOCOL, &mut buf, rel.clone())).unwrap();
        assert_eq!(
            block_on(dev.read_response(&BACKUP_PROTOCOL, &mut &buf[..])).unwrap(),
            rel
        );
        let mut node = BackupCodec::node(Arc::default());
        assert!(block_on(node.read_response(&BACKUP_PROTOCOL, &mut &buf[..])).is_err());
    }
}
