//! The host bridge: microcontroller devices as peers of the node (`--device`).
//!
//! A device speaks the device link ([`glitter_core::sync::link`]): COBS frames with a
//! CRC-32 over a byte stream, a TCP connection to QEMU's serial socket or a serial
//! port. Each device has a link task ([`io`]) that connects, sends a delimiter and the
//! node's `Hello`, and moves bytes; everything else happens on the node's loop, here:
//!
//! - **Frames.** Received bytes go through the device's [`Deframer`]; frames with a
//!   bad CRC, broken COBS or too long are dropped and counted (`status`), never fatal.
//! - **Attach.** Every `Hello` from the device (at its boot, and in answer to ours;
//!   the node never answers one) registers it afresh as a core peer: its libp2p peer
//!   id is derived from its Ed25519 key, so the [`PeerTable`](super::peers) gives it
//!   a core id and keeps its ban across links as for a libp2p peer. The node then
//!   replicates the device's chain (interest only: no Follow block is written), tells
//!   the device to follow every `--device-follow` author, and sends it its heads.
//! - **Sync.** Any other frame is a core sync message, handled as one from a libp2p
//!   peer; whatever the core addresses to a device's core id goes over its link
//!   (`route`). At every tick each attached device also gets the node's heads. Heads
//!   and blocks for a device wait for the commit of the blocks stored before them,
//!   like every acknowledgement (`Held::Device`).
//! - **Bans.** The core scores a device like any peer. Once it is banned, the device's
//!   frames are dropped (counted) and nothing is sent to it until the ban ends; the
//!   ban holds for the link (`--device` spec), whatever key the device then claims.
//! - **Bounds.** At most [`DEVICES_MAX`] devices, [`DEVICE_QUEUE_FRAMES`] frames
//!   queued per device (more are dropped and counted; wants dropped so are asked
//!   again), the receive buffer of one frame (the deframer's), and
//!   [`EVENTS_QUEUE`] chunks of received bytes waiting for the loop.

mod bridge;
mod io;
mod spec;

pub use io::RETRY_MS as DEVICE_RETRY_MS;
pub use spec::{DeviceSpec, DeviceSpecError, SERIAL_BAUD_DEFAULT};

pub(super) use io::DeviceEvent;

use crate::error::NodeError;
use glitter_core::sig::PublicKey;
use glitter_core::sync::PeerId as CorePeer;
use glitter_core::sync::link::{
    BODY_MAX, Deframer, FRAME_ENCODED_MAX, HELLO_LEN, Hello, LINK_VERSION, encode_frame,
    encoded_len_max,
};
use libp2p::PeerId;
use tokio::sync::mpsc;

/// Most devices one node takes.
pub const DEVICES_MAX: usize = 16;
/// Most frames queued for one device; more are dropped (and counted).
pub const DEVICE_QUEUE_FRAMES: usize = 512;
/// Most events (chunks of received bytes, link changes) waiting for the loop, for
/// every device together; a link's reader waits while it is full.
pub const EVENTS_QUEUE: usize = 64;

const _: () = assert!(HELLO_LEN <= BODY_MAX);

/// Counters of one device's link (the deframer counts what it received and dropped).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct DeviceStats {
    /// Frames queued for the device.
    pub(super) frames_sent: u64,
    /// Frames not queued: the queue was full, the link down, or the frame longer than
    /// the device takes.
    pub(super) send_dropped: u64,
    /// Frames received while the device was banned, dropped.
    pub(super) dropped_banned: u64,
    /// Frames whose body is not a sync message nor a well-formed hello (or a hello
    /// with an unusable key).
    pub(super) bad_bodies: u64,
    /// Sync frames received before the device's first hello on the link, dropped.
    pub(super) before_hello: u64,
    /// Hellos received.
    pub(super) hellos: u64,
    /// Links that came up.
    pub(super) links: u64,
}

/// The core registration of an attached device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Attached {
    /// The libp2p peer id derived from the device's key (its key in the peer table).
    pub(super) pid: PeerId,
    /// Its core id.
    pub(super) id: CorePeer,
}

/// What the loop keeps of one device.
pub(super) struct Device {
    pub(super) spec: DeviceSpec,
    /// Encoded frames for the link task.
    frames: mpsc::Sender<Vec<u8>>,
    pub(super) deframer: Box<Deframer<FRAME_ENCODED_MAX>>,
    /// The link is up.
    pub(super) connected: bool,
    /// The key of the device's last hello (kept after the link goes down).
    pub(super) key: Option<PublicKey>,
    /// The limits of its last hello: longest body, authors.
    pub(super) body_max: u16,
    pub(super) authors_max: u16,
    /// Set from its hello until the link goes down or the device says hello again.
    pub(super) attached: Option<Attached>,
    /// The key whose attach line was printed on this link (one line per link and
    /// key, however many hellos).
    pub(super) announced: Option<PublicKey>,
    /// A refused hello was reported on this link.
    pub(super) warned: bool,
    /// The device is banned until then (0: never was); frames are dropped meanwhile.
    pub(super) banned_until: u64,
    pub(super) stats: DeviceStats,
}

/// Every device and the authors they are told to follow.
pub(super) struct Devices {
    pub(super) list: Vec<Device>,
    /// `--device-follow`.
    pub(super) follow: Vec<PublicKey>,
    /// A delimiter and the node's hello: the start of every link.
    pub(super) greeting: Vec<u8>,
}

/// The libp2p peer id of a device's key (the key read as a libp2p Ed25519 public key),
/// or `None` if it is not a usable Ed25519 key.
pub(super) fn device_peer_id(key: &PublicKey) -> Option<PeerId> {
    let ed = libp2p::identity::ed25519::PublicKey::try_from_bytes(key.as_bytes()).ok()?;
    Some(PeerId::from_public_key(&libp2p::identity::PublicKey::from(
        ed,
    )))
}

/// `body` as one frame on the wire (delimiter included).
pub(super) fn frame(body: &[u8]) -> Option<Vec<u8>> {
    let mut out = vec![0u8; encoded_len_max(body.len())];
    let n = encode_frame(body, &mut out).ok()?;
    out.truncate(n);
    Some(out)
}

impl Devices {
    /// Starts a link task per device (the node's key `me` and limits in its hello)
    /// and returns the devices with the receiver of their events.
    ///
    /// # Errors
    /// [`NodeError::TooManyDevices`] over [`DEVICES_MAX`]; [`NodeError::Thread`] if a
    /// serial port's thread cannot be started.
    pub(super) fn start(
        specs: &[DeviceSpec],
        follow: Vec<PublicKey>,
        me: PublicKey,
        authors_max: u16,
    ) -> Result<(Devices, mpsc::Receiver<DeviceEvent>), NodeError> {
        if specs.len() > DEVICES_MAX {
            return Err(NodeError::TooManyDevices {
                count: specs.len(),
                max: DEVICES_MAX,
            });
        }
        let hello = Hello {
            version: LINK_VERSION,
            key: me,
            body_max: u16::try_from(BODY_MAX).unwrap_or(u16::MAX),
            authors_max,
        };
        // A leading delimiter ends whatever half frame the device holds.
        let mut greeting = vec![0u8];
        greeting.extend(frame(&hello.encode()).unwrap_or_default());
        let (tx, rx) = mpsc::channel(EVENTS_QUEUE);
        let mut list = Vec::with_capacity(specs.len());
        for (index, spec) in specs.iter().enumerate() {
            let (frames, frames_rx) = mpsc::channel(DEVICE_QUEUE_FRAMES);
            io::spawn(index, spec, greeting.clone(), frames_rx, tx.clone())?;
            list.push(Device {
                spec: spec.clone(),
                frames,
                deframer: Box::new(Deframer::new()),
                connected: false,
                key: None,
                body_max: 0,
                authors_max: 0,
                attached: None,
                announced: None,
                warned: false,
                banned_until: 0,
                stats: DeviceStats::default(),
            });
        }
        Ok((
            Devices {
                list,
                follow,
                greeting,
            },
            rx,
        ))
    }

    /// The device attached with core id `id`.
    pub(super) fn of(&self, id: CorePeer) -> Option<usize> {
        self.list
            .iter()
            .position(|d| d.attached.is_some_and(|a| a.id == id))
    }

    /// The device attached as libp2p peer id `pid`.
    pub(super) fn by_peer(&self, pid: &PeerId) -> Option<&Device> {
        self.list
            .iter()
            .find(|d| d.attached.is_some_and(|a| a.pid == *pid))
    }

    /// True if `key` is the key of a device other than number `but` (attached, or
    /// remembered from its last hello when `attached_only` is false).
    pub(super) fn key_in_use(&self, key: &PublicKey, but: usize, attached_only: bool) -> bool {
        self.list.iter().enumerate().any(|(i, d)| {
            i != but && d.key.as_ref() == Some(key) && (!attached_only || d.attached.is_some())
        })
    }
}

impl Device {
    /// Queues an encoded frame for the link; false if it is not queued (counted).
    pub(super) fn queue(&mut self, frame: Vec<u8>) -> bool {
        if !self.connected || self.frames.try_send(frame).is_err() {
            self.stats.send_dropped += 1;
            return false;
        }
        self.stats.frames_sent += 1;
        true
    }

    /// The device's row in `status` (`head`: its chain's head as stored here, `score`
    /// and `banned` from the core).
    pub(super) fn status(
        &self,
        head: Option<u64>,
        score: Option<i32>,
        banned: bool,
    ) -> serde_json::Value {
        let rx = self.deframer.stats();
        let s = &self.stats;
        serde_json::json!({
            "spec": self.spec.to_string(),
            "key": self.key.map(|k| k.to_string()),
            "connected": self.connected,
            "attached": self.attached.is_some(),
            "core_id": self.attached.map(|a| a.id),
            "core_score": score,
            "banned": banned,
            "head": head,
            "body_max": self.key.map(|_| self.body_max),
            "authors_max": self.key.map(|_| self.authors_max),
            "frames_received": rx.frames,
            "frames_dropped": rx.dropped(),
            "dropped_oversized": rx.oversized,
            "dropped_cobs": rx.bad_cobs,
            "dropped_crc": rx.bad_crc,
            "dropped_banned": s.dropped_banned,
            "bad_bodies": s.bad_bodies,
            "before_hello": s.before_hello,
            "hellos": s.hellos,
            "links": s.links,
            "frames_sent": s.frames_sent,
            "send_dropped": s.send_dropped,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glitter_core::sig::KeyPair;
    use glitter_core::sync::link::{Body, parse_body};

    #[test]
    fn a_device_key_is_its_libp2p_identity() {
        let k = KeyPair::from_seed([9; 32]).unwrap();
        let pid = device_peer_id(&k.public()).expect("a usable key");
        let ed =
            libp2p::identity::ed25519::PublicKey::try_from_bytes(k.public().as_bytes()).unwrap();
        let again = libp2p::identity::PublicKey::from(ed).to_peer_id();
        assert_eq!(pid, again);
        assert_ne!(
            device_peer_id(&KeyPair::from_seed([8; 32]).unwrap().public()),
            Some(pid)
        );
    }

    #[test]
    fn the_greeting_is_a_delimiter_and_a_hello() {
        let me = KeyPair::from_seed([3; 32]).unwrap().public();
        let hello = Hello {
            version: LINK_VERSION,
            key: me,
            body_max: BODY_MAX as u16,
            authors_max: 256,
        };
        let f = frame(&hello.encode()).unwrap();
        let mut d: Deframer<FRAME_ENCODED_MAX> = Deframer::new();
        let mut got = None;
        for b in std::iter::once(0u8).chain(f) {
            if let Some(Ok(body)) = d.feed(b) {
                got = Some(parse_body(body).map(|b| match b {
                    Body::Hello(h) => Some(h),
                    _ => None,
                }));
            }
        }
        assert_eq!(got, Some(Ok(Some(hello))));
    }
}
