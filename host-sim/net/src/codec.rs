//! The request-response wire codec of `/glitter/sync/1`.
//!
//! A request is one encoded glitter message (normally a `Want`); the response is the
//! list of messages the receiving node addressed to the requester while handling it
//! (normally the wanted `Block`s). Framing (integers little-endian):
//!
//! | frame | layout | bound |
//! | --- | --- | --- |
//! | request | len u16, then `len` bytes of one message | `len` ≤ [`MESSAGE_LEN_MAX`] |
//! | response | count u8, then `count` × (len u16, `len` bytes) | `count` ≤ [`RESPONSE_MESSAGES_MAX`] |
//!
//! Lengths and counts are checked before anything is read, so a peer cannot make a node
//! allocate more than one bounded frame. The message bytes themselves are parsed
//! strictly by `glitter_core::sync::Message::parse` when the node handles them.

use async_trait::async_trait;
use futures::prelude::*;
use glitter_core::sync::message::MESSAGE_LEN_MAX;
use libp2p::StreamProtocol;
use std::io;

/// The protocol name.
pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/glitter/sync/1");

/// Most messages in one response: a `Want` asks for at most 16 blocks; a few more
/// leave room for a fork proof or two.
pub const RESPONSE_MESSAGES_MAX: usize = 24;

/// The largest response frame in bytes.
pub const RESPONSE_LEN_MAX: usize = 1 + RESPONSE_MESSAGES_MAX * (2 + MESSAGE_LEN_MAX);

/// The `/glitter/sync/1` codec (stateless).
#[derive(Clone, Copy, Debug, Default)]
pub struct SyncCodec;

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

async fn read_message<T: AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    io.read_exact(&mut len).await?;
    let len = usize::from(u16::from_le_bytes(len));
    if len == 0 || len > MESSAGE_LEN_MAX {
        return Err(invalid("glitter sync frame: message length out of range"));
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    Ok(buf)
}

async fn write_message<T: AsyncWrite + Unpin + Send>(io: &mut T, msg: &[u8]) -> io::Result<()> {
    let len = u16::try_from(msg.len())
        .ok()
        .filter(|l| *l > 0 && usize::from(*l) <= MESSAGE_LEN_MAX)
        .ok_or_else(|| invalid("glitter sync frame: message length out of range"))?;
    io.write_all(&len.to_le_bytes()).await?;
    io.write_all(msg).await
}

/// Encodes a response frame (for tests and the adversarial mode).
///
/// # Errors
/// `InvalidData` if there are too many messages or one is empty or too long.
pub fn encode_response(msgs: &[Vec<u8>]) -> io::Result<Vec<u8>> {
    let count = u8::try_from(msgs.len())
        .ok()
        .filter(|c| usize::from(*c) <= RESPONSE_MESSAGES_MAX)
        .ok_or_else(|| invalid("glitter sync frame: too many messages"))?;
    let mut out = vec![count];
    for m in msgs {
        let len = u16::try_from(m.len())
            .ok()
            .filter(|l| *l > 0 && usize::from(*l) <= MESSAGE_LEN_MAX)
            .ok_or_else(|| invalid("glitter sync frame: message length out of range"))?;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(m);
    }
    Ok(out)
}

#[async_trait]
impl libp2p::request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<Vec<u8>>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_message(io).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<Vec<u8>>>
    where
        T: AsyncRead + Unpin + Send,
    {
        let mut count = [0u8; 1];
        io.read_exact(&mut count).await?;
        let count = usize::from(count[0]);
        if count > RESPONSE_MESSAGES_MAX {
            return Err(invalid("glitter sync frame: too many messages"));
        }
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            out.push(read_message(io).await?);
        }
        Ok(out)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_message(io, &req).await?;
        io.close().await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<Vec<u8>>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        let frame = encode_response(&res)?;
        io.write_all(&frame).await?;
        io.close().await
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
    fn request_and_response_roundtrip() {
        let mut c = SyncCodec;
        let mut buf = Vec::new();
        block_on(c.write_request(&SYNC_PROTOCOL, &mut buf, vec![2; 42])).unwrap();
        let mut r = &buf[..];
        assert_eq!(
            block_on(c.read_request(&SYNC_PROTOCOL, &mut r)).unwrap(),
            vec![2; 42]
        );
        let msgs = vec![vec![3; 214], vec![3; 300]];
        let mut buf = Vec::new();
        block_on(c.write_response(&SYNC_PROTOCOL, &mut buf, msgs.clone())).unwrap();
        let mut r = &buf[..];
        assert_eq!(
            block_on(c.read_response(&SYNC_PROTOCOL, &mut r)).unwrap(),
            msgs
        );
    }

    #[test]
    fn bounds_are_checked_before_reading() {
        let mut c = SyncCodec;
        // A length beyond the largest message.
        let too_long = ((MESSAGE_LEN_MAX + 1) as u16).to_le_bytes();
        let mut r = &too_long[..];
        assert!(block_on(c.read_request(&SYNC_PROTOCOL, &mut r)).is_err());
        // Zero length.
        let mut r = &[0u8, 0][..];
        assert!(block_on(c.read_request(&SYNC_PROTOCOL, &mut r)).is_err());
        // Too many messages.
        let mut r = &[(RESPONSE_MESSAGES_MAX + 1) as u8][..];
        assert!(block_on(c.read_response(&SYNC_PROTOCOL, &mut r)).is_err());
        // Truncated.
        let mut r = &[1u8, 10, 0, 1, 2][..];
        assert!(block_on(c.read_response(&SYNC_PROTOCOL, &mut r)).is_err());
        assert!(encode_response(&vec![vec![1]; RESPONSE_MESSAGES_MAX + 1]).is_err());
        assert!(encode_response(&[vec![]]).is_err());
    }
}
