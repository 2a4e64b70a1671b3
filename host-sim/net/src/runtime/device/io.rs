//! The byte side of a device link: one task per device that connects (TCP, tokio) or
//! opens the port (serial, a blocking thread), says hello, and moves bytes.
//!
//! It knows nothing of frames beyond the greeting it was given: received bytes go to
//! the node's loop in chunks ([`IoEvent::Bytes`]), and what the loop queued (whole
//! encoded frames) goes out in order. After a failure or the end of the stream it
//! tries again every [`RETRY_MS`], telling the loop only of state changes (up, down,
//! and the first failure since), never of each retry. Frames still queued when a link
//! goes down, or when a new one comes up, are discarded: they were meant for the
//! device as the last link knew it, and the new link starts with the greeting.
//!
//! Both sides are bounded: the loop's queue of frames per device
//! ([`super::DEVICE_QUEUE_FRAMES`]), and the events (chunks of at most
//! [`READ_CHUNK`] bytes) in one channel of [`super::EVENTS_QUEUE`]: a reader waits
//! while it is full.

use super::DeviceSpec;
use crate::error::NodeError;
use std::io::{Read, Write};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// How long a device link waits before it connects (or opens the port) again.
pub const RETRY_MS: u64 = 1_000;
/// Most bytes read at once, and so in one [`IoEvent::Bytes`].
pub(super) const READ_CHUNK: usize = 4096;
/// How long a TCP connect may take.
const CONNECT_TIMEOUT_MS: u64 = 5_000;
/// How long a serial read waits for bytes before the thread looks at its queue.
const SERIAL_POLL_MS: u64 = 10;
/// How long a serial write may block (a device that reads nothing).
const SERIAL_WRITE_TIMEOUT_MS: u64 = 2_000;

/// What happened on a device's link.
#[derive(Debug)]
pub(in crate::runtime) enum IoEvent {
    /// The link is up (connected, or the port opened) and the greeting is on its way.
    Up,
    /// The link went down: why.
    Down(String),
    /// Connecting (or opening) failed, the first time since the link was last up.
    Unreachable(String),
    /// Bytes received.
    Bytes(Vec<u8>),
}

/// An [`IoEvent`] of device number `index` (its place in `--device` order).
#[derive(Debug)]
pub(in crate::runtime) struct DeviceEvent {
    pub(super) index: usize,
    pub(super) event: IoEvent,
}

/// How a session on one link ended.
enum Ended {
    /// The link failed or closed: try again.
    Down(String),
    /// The node is gone (its end of a channel closed): stop.
    Stopped,
}

/// Starts the link of device `index`: `greeting` (a delimiter and the host's hello
/// frame) is the first thing sent on every new link.
pub(super) fn spawn(
    index: usize,
    spec: &DeviceSpec,
    greeting: Vec<u8>,
    frames: mpsc::Receiver<Vec<u8>>,
    events: mpsc::Sender<DeviceEvent>,
) -> Result<(), NodeError> {
    let link = Link {
        index,
        greeting,
        frames,
        events,
    };
    match spec.clone() {
        DeviceSpec::Tcp { host, port } => {
            tokio::spawn(link.tcp(host, port));
            Ok(())
        }
        DeviceSpec::Serial { path, baud } => std::thread::Builder::new()
            .name(format!("glitter-device-{index}"))
            .spawn(move || link.serial(&path, baud))
            .map(|_| ())
            .map_err(NodeError::Thread),
    }
}

/// One device's link, across reconnections.
struct Link {
    index: usize,
    greeting: Vec<u8>,
    frames: mpsc::Receiver<Vec<u8>>,
    events: mpsc::Sender<DeviceEvent>,
}

impl Link {
    fn event(&self, event: IoEvent) -> DeviceEvent {
        DeviceEvent {
            index: self.index,
            event,
        }
    }

    /// Drops the frames queued for an earlier link.
    fn discard(&mut self) {
        // Bounded by the queue's capacity: nothing is added while this runs on the
        // loop's thread (TCP), and at most that many are waiting (serial).
        while self.frames.try_recv().is_ok() {}
    }

    async fn tcp(mut self, host: String, port: u16) {
        let mut failing = false;
        // Bounded by the node's life: each round connects once and waits RETRY_MS;
        // it ends when the node's channels close.
        loop {
            let connect = tokio::net::TcpStream::connect((host.as_str(), port));
            let attempt =
                tokio::time::timeout(Duration::from_millis(CONNECT_TIMEOUT_MS), connect).await;
            let down = match attempt {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    self.discard();
                    if self.events.send(self.event(IoEvent::Up)).await.is_err() {
                        return;
                    }
                    failing = false;
                    let ended = self.tcp_session(stream).await;
                    self.discard();
                    match ended {
                        Ended::Stopped => return,
                        Ended::Down(why) => Some(IoEvent::Down(why)),
                    }
                }
                Ok(Err(e)) => (!failing).then(|| IoEvent::Unreachable(e.to_string())),
                Err(_) => (!failing).then(|| {
                    IoEvent::Unreachable(format!("no connection within {CONNECT_TIMEOUT_MS} ms"))
                }),
            };
            if let Some(ev) = down {
                failing = true;
                if self.events.send(self.event(ev)).await.is_err() {
                    return;
                }
            }
            if self.events.is_closed() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(RETRY_MS)).await;
        }
    }

    async fn tcp_session(&mut self, stream: tokio::net::TcpStream) -> Ended {
        let (mut rd, mut wr) = stream.into_split();
        if let Err(e) = wr.write_all(&self.greeting).await {
            return Ended::Down(e.to_string());
        }
        let (index, events, frames) = (self.index, &self.events, &mut self.frames);
        let reader = async {
            let mut buf = vec![0u8; READ_CHUNK];
            loop {
                match rd.read(&mut buf).await {
                    Ok(0) => return Ended::Down("the device closed the connection".into()),
                    Ok(n) => {
                        let chunk = buf.get(..n).unwrap_or_default().to_vec();
                        let ev = DeviceEvent {
                            index,
                            event: IoEvent::Bytes(chunk),
                        };
                        if events.send(ev).await.is_err() {
                            return Ended::Stopped;
                        }
                    }
                    Err(e) => return Ended::Down(e.to_string()),
                }
            }
        };
        let writer = async {
            loop {
                let Some(frame) = frames.recv().await else {
                    return Ended::Stopped;
                };
                if let Err(e) = wr.write_all(&frame).await {
                    return Ended::Down(e.to_string());
                }
            }
        };
        tokio::select! {
            ended = reader => ended,
            ended = writer => ended,
        }
    }

    fn serial(mut self, path: &std::path::Path, baud: u32) {
        let name = path.to_string_lossy().into_owned();
        let mut failing = false;
        // Bounded by the node's life, as `tcp`.
        loop {
            let opened = serialport::new(name.as_str(), baud)
                .timeout(Duration::from_millis(SERIAL_POLL_MS))
                .open();
            let down = match opened {
                Ok(port) => {
                    self.discard();
                    if self.events.blocking_send(self.event(IoEvent::Up)).is_err() {
                        return;
                    }
                    failing = false;
                    let ended = self.serial_session(port);
                    self.discard();
                    match ended {
                        Ended::Stopped => return,
                        Ended::Down(why) => Some(IoEvent::Down(why)),
                    }
                }
                Err(e) => (!failing).then(|| IoEvent::Unreachable(e.to_string())),
            };
            if let Some(ev) = down {
                failing = true;
                if self.events.blocking_send(self.event(ev)).is_err() {
                    return;
                }
            }
            if self.events.is_closed() {
                return;
            }
            std::thread::sleep(Duration::from_millis(RETRY_MS));
        }
    }

    /// One open port: reads with a short timeout, and between reads writes what the
    /// loop queued.
    fn serial_session(&mut self, mut port: Box<dyn serialport::SerialPort>) -> Ended {
        // USB CDC-ACM devices often send only while the host asserts DTR; a port
        // without modem lines (a pty) refuses, which changes nothing.
        let _ = port.write_data_terminal_ready(true);
        let write = |port: &mut Box<dyn serialport::SerialPort>, bytes: &[u8]| {
            let _ = port.set_timeout(Duration::from_millis(SERIAL_WRITE_TIMEOUT_MS));
            let r = port.write_all(bytes).and_then(|()| port.flush());
            let _ = port.set_timeout(Duration::from_millis(SERIAL_POLL_MS));
            r
        };
        if let Err(e) = write(&mut port, &self.greeting) {
            return Ended::Down(e.to_string());
        }
        let mut buf = vec![0u8; READ_CHUNK];
        // Bounded by the link's life: each round reads once (at most SERIAL_POLL_MS)
        // and writes at most the queue.
        loop {
            match port.read(&mut buf) {
                Ok(0) => return Ended::Down("the port was closed (end of file)".into()),
                Ok(n) => {
                    let chunk = buf.get(..n).unwrap_or_default().to_vec();
                    if self
                        .events
                        .blocking_send(self.event(IoEvent::Bytes(chunk)))
                        .is_err()
                    {
                        return Ended::Stopped;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Ended::Down(e.to_string()),
            }
            loop {
                match self.frames.try_recv() {
                    Ok(frame) => {
                        if let Err(e) = write(&mut port, &frame) {
                            return Ended::Down(e.to_string());
                        }
                    }
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => return Ended::Stopped,
                }
            }
        }
    }
}
