//! A fake microcontroller for the host-bridge tests: a TCP server (as QEMU's
//! `-chardev socket,...,server=on` is), or the far end of a pty standing in for a
//! serial port, speaking the device link (`glitter_core::sync::link`), with a real
//! core `Node` on an in-memory store behind it. The test thread drives it: `pump`
//! moves bytes and ticks for a while.

#![allow(dead_code)]

use glitter_core::chain::Ed25519Check;
use glitter_core::sig::{KeyPair, PublicKey};
use glitter_core::social::Payload;
use glitter_core::sync::link::{
    BODY_MAX, Body, Deframer, FRAME_ENCODED_MAX, Hello, LINK_VERSION, encode_frame,
    encoded_len_max, parse_body,
};
use glitter_core::sync::{Config, Message, Node, SyncStore};
use glitter_core::wire::header::{BlockKind, Header};
use glitter_host::outbox::VecOutbox;
use glitter_sim::store::MemStore;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpListener;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

/// The device's core node: 4 peers, 16 authors, 64 wants, 4 fork proofs, 64 parked.
pub type DeviceNode = Node<MemStore, Ed25519Check, 4, 16, 64, 4, 64>;

/// The host's core id on the device (it has one peer).
pub const HOST: u32 = 1;
/// How often the device's node ticks.
pub const TICK_MS: u64 = 100;

/// What the device saw on its link.
#[derive(Clone, Copy, Debug, Default)]
pub struct Seen {
    pub host_hellos: u64,
    pub follows: u64,
    pub sync_in: u64,
    pub frames_out: u64,
    pub bad_frames: u64,
}

/// A byte stream to the node.
pub trait Conn: Read + Write {}
impl<T: Read + Write> Conn for T {}

/// The fake device.
pub struct FakeDevice {
    pub keys: KeyPair,
    pub node: Box<DeviceNode>,
    pub port: u16,
    listener: Option<TcpListener>,
    stream: Option<Box<dyn Conn>>,
    /// A pty's slave side, held open so the master never reads end-of-file; its path
    /// is the `serial:` spec.
    pty: Option<(OwnedFd, String)>,
    deframer: Box<Deframer<FRAME_ENCODED_MAX>>,
    rng: ChaCha8Rng,
    last_tick: Instant,
    pub host_key: Option<PublicKey>,
    pub seen: Seen,
    /// Answer host hellos (a device always does; off to test a silent one).
    pub answer_hellos: bool,
}

pub fn now_ms() -> u64 {
    glitter_host::os::now_ms()
}

/// `body` as one frame (delimiter included).
pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; encoded_len_max(body.len())];
    let n = encode_frame(body, &mut out).expect("frame");
    out.truncate(n);
    out
}

impl FakeDevice {
    /// A device with identity seed 32 × `seed`, listening on a free loopback port.
    pub fn new(seed: u8) -> FakeDevice {
        let keys = KeyPair::from_seed([seed; 32]).expect("seed");
        let config = Config {
            want_window: 4,
            ..Config::default()
        };
        let node = Box::new(DeviceNode::new(
            keys.public(),
            MemStore::default(),
            Ed25519Check,
            config,
        ));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        FakeDevice {
            keys,
            node,
            port,
            listener: Some(listener),
            stream: None,
            pty: None,
            deframer: Box::new(Deframer::new()),
            rng: ChaCha8Rng::seed_from_u64(u64::from(seed)),
            last_tick: Instant::now(),
            host_key: None,
            seen: Seen::default(),
            answer_hellos: true,
        }
    }

    pub fn key(&self) -> String {
        self.keys.public().to_string()
    }

    /// The same device on a pty instead of TCP: the node opens the slave side as a
    /// serial port (`spec` names it). Nothing is sent before the node's hello (the
    /// device "booted" before anyone listened).
    pub fn on_pty(mut self) -> FakeDevice {
        use nix::fcntl::{FcntlArg, OFlag, fcntl};
        use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};
        let pty = nix::pty::openpty(None, None).expect("openpty");
        let mut t = tcgetattr(&pty.slave).expect("tcgetattr");
        cfmakeraw(&mut t);
        tcsetattr(&pty.slave, SetArg::TCSANOW, &t).expect("tcsetattr");
        let path = nix::unistd::ttyname(&pty.slave).expect("ttyname");
        fcntl(&pty.master, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).expect("nonblocking");
        self.listener = None;
        self.stream = Some(Box::new(std::fs::File::from(pty.master)));
        self.pty = Some((pty.slave, path.to_string_lossy().into_owned()));
        self
    }

    /// The `--device` spec that reaches it.
    pub fn spec(&self) -> String {
        match &self.pty {
            Some((_, path)) => format!("serial:{path}@115200"),
            None => format!("tcp:127.0.0.1:{}", self.port),
        }
    }

    pub fn connected(&self) -> bool {
        self.stream.is_some()
    }

    fn hello(&self) -> Vec<u8> {
        Hello {
            version: LINK_VERSION,
            key: self.keys.public(),
            body_max: BODY_MAX as u16,
            authors_max: 16,
        }
        .encode()
        .to_vec()
    }

    /// Writes raw bytes on the link (garbage, hand-made frames).
    pub fn write_raw(&mut self, bytes: &[u8]) {
        let Some(s) = self.stream.as_mut() else {
            return;
        };
        let mut at = 0;
        let start = Instant::now();
        while at < bytes.len() {
            match s.write(&bytes[at..]) {
                Ok(0) => break,
                Ok(n) => at += n,
                // A full pty buffer: the node reads it soon.
                Err(e)
                    if e.kind() == ErrorKind::WouldBlock
                        && start.elapsed() < Duration::from_secs(10) =>
                {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        if at < bytes.len() {
            self.stream = None;
        }
    }

    /// Sends one body as a frame.
    pub fn send_body(&mut self, body: &[u8]) {
        let f = frame(body);
        self.seen.frames_out += 1;
        self.write_raw(&f);
    }

    fn send_out(&mut self, out: VecOutbox) {
        for (_, bytes) in out.messages {
            self.send_body(&bytes);
        }
    }

    /// Closes the connection and stops listening (the socket is gone).
    pub fn close(&mut self) {
        self.stream = None;
        self.listener = None;
        self.deframer.reset();
    }

    /// Listens again on the same port.
    pub fn listen_again(&mut self) {
        let l = TcpListener::bind(("127.0.0.1", self.port)).expect("bind the same port again");
        l.set_nonblocking(true).expect("nonblocking");
        self.listener = Some(l);
    }

    /// Moves bytes and ticks the node for `d`.
    pub fn pump(&mut self, d: Duration) {
        let end = Instant::now() + d;
        loop {
            self.step();
            if Instant::now() >= end {
                return;
            }
        }
    }

    /// Pumps until `f` holds, or panics after `timeout` naming `what`.
    pub fn pump_until(
        &mut self,
        what: &str,
        timeout: Duration,
        mut f: impl FnMut(&mut Self) -> bool,
    ) {
        let start = Instant::now();
        while !f(self) {
            assert!(
                start.elapsed() < timeout,
                "timed out after {timeout:?} waiting for {what} (device saw {:?})",
                self.seen
            );
            self.pump(Duration::from_millis(20));
        }
    }

    fn step(&mut self) {
        if self.stream.is_none()
            && let Some(l) = &self.listener
        {
            match l.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(false).expect("blocking");
                    s.set_read_timeout(Some(Duration::from_millis(10)))
                        .expect("timeout");
                    s.set_nodelay(true).expect("nodelay");
                    self.stream = Some(Box::new(s));
                    self.deframer.reset();
                    // As a device does at boot: a delimiter, then its hello.
                    self.write_raw(&[0]);
                    let h = self.hello();
                    self.send_body(&h);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
        let mut buf = [0u8; 4096];
        let got = match self.stream.as_mut().map(|s| s.read(&mut buf)) {
            Some(Ok(0)) => {
                self.stream = None;
                0
            }
            Some(Ok(n)) => n,
            Some(Err(e)) if e.kind() == ErrorKind::WouldBlock => {
                // A pty master without bytes (TCP waits in its read timeout).
                std::thread::sleep(Duration::from_millis(2));
                0
            }
            Some(Err(e)) if e.kind() == ErrorKind::TimedOut => 0,
            Some(Err(_)) => {
                self.stream = None;
                0
            }
            None => 0,
        };
        for &b in buf.get(..got).unwrap_or_default() {
            let body = match self.deframer.feed(b) {
                Some(Ok(body)) => body.to_vec(),
                Some(Err(_)) => {
                    self.seen.bad_frames += 1;
                    continue;
                }
                None => continue,
            };
            self.on_body(&body);
        }
        if self.last_tick.elapsed() >= Duration::from_millis(TICK_MS) {
            self.last_tick = Instant::now();
            let mut out = VecOutbox::new(256);
            self.node.tick(now_ms(), &mut self.rng, &mut out);
            self.send_out(out);
        }
    }

    fn on_body(&mut self, body: &[u8]) {
        match parse_body(body) {
            Ok(Body::Hello(h)) => {
                self.seen.host_hellos += 1;
                self.host_key = Some(h.key);
                // The host (re)started its side: forget what we knew of it.
                self.node.peer_gone(HOST);
                self.node.add_peer(HOST);
                if self.answer_hellos {
                    let mine = self.hello();
                    self.send_body(&mine);
                }
            }
            Ok(Body::Follow(a)) => {
                self.seen.follows += 1;
                self.node.follow(a);
            }
            Ok(Body::Sync(bytes)) => {
                self.seen.sync_in += 1;
                let mut out = VecOutbox::new(256);
                let _ = self.node.handle(now_ms(), HOST, bytes, &mut out);
                self.send_out(out);
            }
            Err(_) => self.seen.bad_frames += 1,
        }
    }

    /// Appends a post to the device's own chain; returns its seq.
    pub fn post(&mut self, text: &str) -> u64 {
        let p = Payload::post(text, None).expect("payload");
        let mut buf = [0u8; 1024];
        let bytes = p.encode(&mut buf).expect("encode").to_vec();
        self.node
            .append_own(&self.keys, BlockKind::Post, now_ms(), &bytes)
            .expect("append")
            .seq
    }

    /// The block that would come next on the device's chain, with one signature byte
    /// flipped, as a framed `Block` body (the device's own chain is not changed).
    pub fn forged_next_block(&mut self, text: &str) -> Vec<u8> {
        let store = self.node.store_ref().clone();
        let mut scratch =
            DeviceNode::new(self.keys.public(), store, Ed25519Check, Config::default());
        let p = Payload::post(text, None).expect("payload");
        let mut buf = [0u8; 1024];
        let payload = p.encode(&mut buf).expect("encode").to_vec();
        let h: Header = scratch
            .append_own(&self.keys, BlockKind::Post, now_ms(), &payload)
            .expect("append");
        let mut header = h.to_bytes();
        let last = header.len() - 1;
        header[last] ^= 0x01;
        let mut out = [0u8; glitter_core::sync::message::MESSAGE_LEN_MAX];
        Message::block(&header, Some(&payload))
            .emit(&mut out)
            .expect("emit")
            .to_vec()
    }

    /// The device's stored head of `author`.
    pub fn head_of(&mut self, author: &PublicKey) -> u64 {
        self.node.store().head(author).map_or(0, |h| h.seq)
    }
}
