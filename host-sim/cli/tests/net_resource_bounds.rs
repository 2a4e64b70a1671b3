//! Strangers cannot exhaust a node (issue 15): a swarm of unauthenticated clients
//! opening maximum-size `/glitter/backup/1` streams does not grow the node's memory
//! beyond a small bound, and the node keeps serving; two nodes that list each other
//! as `--peer` keep exactly one connection between them.

mod net_common;

use futures::{AsyncRead, AsyncWrite, AsyncWriteExt, StreamExt};
use glitter_net::Request;
use glitter_net::backup_proto::{BACKUP_PROTOCOL, FRAME_LEN_MAX};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, StreamProtocol};
use net_common::{NodeProc, wait_for};
use std::io;
use std::time::{Duration, Instant};

/// Concurrent streams the adversary opens, over `ATTACK_CONNECTIONS` connections
/// (each with its own fresh identity).
const ATTACK_STREAMS: usize = 100;
const ATTACK_CONNECTIONS: usize = 10;
/// Body bytes each stream tries to send (its frame declares the 32 MiB maximum); it
/// then holds the stream open without finishing the frame.
const ATTACK_BYTES_PER_STREAM: usize = 4 * 1024 * 1024;
/// The bound on the victim's peak memory growth.
const GROWTH_MAX_KIB: u64 = 64 * 1024;

/// The peak resident set (`VmHWM`) of a process, in KiB.
fn vm_hwm_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc status")
}

/// A codec that writes a `Deliver` frame declaring [`FRAME_LEN_MAX`] bytes whose
/// shard-record count claims the whole frame (empty records: the worst case for a
/// decoder that allocates before counting), sends `ATTACK_BYTES_PER_STREAM` of it,
/// and then holds the stream half-sent until `hold_until`.
#[derive(Clone)]
struct HalfSent {
    hold_until: tokio::time::Instant,
}

#[async_trait::async_trait]
impl request_response::Codec for HalfSent {
    type Protocol = StreamProtocol;
    type Request = ();
    type Response = ();

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
    ) -> io::Result<()> {
        Err(io::Error::other("the adversary serves nothing"))
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
    ) -> io::Result<()> {
        Err(io::Error::other("not expected"))
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        (): (),
    ) -> io::Result<()> {
        let mut head = (FRAME_LEN_MAX as u32).to_le_bytes().to_vec();
        // Deliver (variant 1), empty manifest block and share, then the record count
        // (postcard varint) of FRAME_LEN_MAX - 8 empty records.
        head.extend_from_slice(&[1, 0, 0]);
        let mut n = FRAME_LEN_MAX as u64 - 8;
        while n >= 0x80 {
            head.push((n as u8) | 0x80);
            n >>= 7;
        }
        head.push(n as u8);
        io.write_all(&head).await?;
        let chunk = vec![0u8; 64 * 1024];
        let mut sent = 0;
        while sent < ATTACK_BYTES_PER_STREAM {
            io.write_all(&chunk).await?;
            sent += chunk.len();
        }
        io.flush().await?;
        tokio::time::sleep_until(self.hold_until).await;
        Err(io::Error::other("held long enough"))
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
        (): (),
    ) -> io::Result<()> {
        Ok(())
    }
}

/// One adversary connection: `streams` concurrent half-sent maximum-size requests.
/// Returns how many of its streams failed before `hold_until` (refused by the node).
async fn attack_one(addr: Multiaddr, streams: usize, hold_until: tokio::time::Instant) -> usize {
    let key = libp2p::identity::Keypair::generate_ed25519();
    let behaviour = request_response::Behaviour::with_codec(
        HalfSent { hold_until },
        [(BACKUP_PROTOCOL, ProtocolSupport::Outbound)],
        request_response::Config::default()
            .with_request_timeout(Duration::from_secs(120))
            .with_max_concurrent_streams(streams + 1),
    );
    let mut swarm =
        glitter_net::transport::tcp_swarm(key, behaviour, Duration::from_secs(120)).unwrap();
    swarm.dial(addr).unwrap();
    let mut sent = false;
    let mut done = 0;
    let mut refused_early = 0;
    let deadline = hold_until + Duration::from_secs(5);
    while done < streams {
        let ev = tokio::select! {
            ev = swarm.select_next_some() => ev,
            () = tokio::time::sleep_until(deadline) => break,
        };
        match ev {
            SwarmEvent::ConnectionEstablished { peer_id, .. } if !sent => {
                sent = true;
                for _ in 0..streams {
                    swarm.behaviour_mut().send_request(&peer_id, ());
                }
            }
            SwarmEvent::Behaviour(request_response::Event::OutboundFailure { .. }) => {
                done += 1;
                if tokio::time::Instant::now() < hold_until {
                    refused_early += 1;
                }
            }
            SwarmEvent::OutgoingConnectionError { .. } => break,
            _ => {}
        }
    }
    refused_early
}

/// Runs the whole attack against `addr`; holds the streams for `hold`.
fn attack(addr: &str, hold: Duration) -> usize {
    let addr: Multiaddr = addr.parse().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let hold_until = tokio::time::Instant::now() + hold;
        let per = ATTACK_STREAMS / ATTACK_CONNECTIONS;
        let tasks: Vec<_> = (0..ATTACK_CONNECTIONS)
            .map(|_| tokio::spawn(attack_one(addr.clone(), per, hold_until)))
            .collect();
        let mut refused = 0;
        for t in tasks {
            refused += t.await.unwrap();
        }
        refused
    })
}

#[test]
fn unauthenticated_backup_streams_cannot_pin_memory() {
    let dir = tempfile::tempdir().unwrap();
    let mut victim = NodeProc::new(dir.path(), "victim", 0x51);
    victim.extra = vec!["--tick-ms".into(), "200".into()];
    victim.start();
    let mut follower = NodeProc::new(dir.path(), "follower", 0x52);
    follower.extra = vec!["--tick-ms".into(), "200".into()];
    follower.peers = vec![victim.addr.clone()];
    follower.start();
    let a = victim.author.clone();
    follower.follow(&a);
    let (seq, _) = victim.post("before the attack");
    wait_for("the follower to replicate", Duration::from_secs(20), || {
        (follower.head_of(&a) >= seq).then_some(())
    });
    let pid = victim.pid().unwrap();
    let before = vm_hwm_kib(pid);
    let t0 = Instant::now();
    let refused = attack(&victim.addr, Duration::from_secs(8));
    let after = vm_hwm_kib(pid);
    let growth = after.saturating_sub(before);
    eprintln!(
        "victim VmHWM {before} KiB -> {after} KiB (+{growth} KiB) under {ATTACK_STREAMS} \
         half-sent {} MiB-declared backup streams ({} MiB sent each at most); \
         {refused} refused before the hold ended; attack took {:?}",
        FRAME_LEN_MAX >> 20,
        ATTACK_BYTES_PER_STREAM >> 20,
        t0.elapsed()
    );
    // The node still serves: a new post reaches the follower.
    let (seq, _) = victim.post("after the attack");
    wait_for(
        "the follower to replicate after the attack",
        Duration::from_secs(20),
        || (follower.head_of(&a) >= seq).then_some(()),
    );
    assert!(
        growth <= GROWTH_MAX_KIB,
        "the victim's peak memory grew by {growth} KiB (bound {GROWTH_MAX_KIB} KiB)\n{}",
        victim.logs()
    );
}

#[test]
fn two_nodes_that_dial_each_other_keep_one_connection() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = NodeProc::new(dir.path(), "a", 0x61);
    let mut b = NodeProc::new(dir.path(), "b", 0x62);
    // Fixed ports learned from a first start, so each can list the other.
    a.start();
    b.start();
    a.kill9();
    b.kill9();
    a.peers = vec![b.addr.clone()];
    b.peers = vec![a.addr.clone()];
    a.start();
    b.start();
    std::thread::sleep(Duration::from_secs(5));
    let count = |n: &NodeProc| n.ctl(Request::Status).data["connections"].as_u64();
    let (ca, cb) = (count(&a), count(&b));
    eprintln!("established connections after 5 s: a {ca:?}, b {cb:?}");
    assert_eq!((ca, cb), (Some(1), Some(1)));
    // Both still exchange: a post of each reaches the other.
    a.follow(&b.author);
    b.follow(&a.author);
    let (sa, _) = a.post("from a");
    let (sb, _) = b.post("from b");
    wait_for("both to replicate", Duration::from_secs(20), || {
        (b.head_of(&a.author) >= sa && a.head_of(&b.author) >= sb).then_some(())
    });
    let (ca, cb) = (count(&a), count(&b));
    assert_eq!((ca, cb), (Some(1), Some(1)));
}

#[test]
fn an_accepted_owner_still_delivers_a_large_package_and_a_stranger_is_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = net_common::start_nodes(dir.path(), &["owner", "bob", "carol", "erin"], 0x71, None);
    let owner = &nodes[0];
    for n in &nodes[1..] {
        net_common::wait_authors_known(n, 1);
    }
    net_common::wait_authors_known(owner, 3);
    let a = owner.author.clone();
    // Bob's and Carol's operators accept custody of the owner's backups; Erin's does
    // not.
    nodes[1].accept_custody(&a);
    nodes[2].accept_custody(&a);
    // 300 posts: each package is far above the 4 KiB small-frame limit.
    owner.ctl(Request::PostMany { count: 300 });
    let backup = |custodians: &[&NodeProc]| {
        glitter_net::control_request(
            &owner.data,
            &Request::Backup {
                custodians: custodians.iter().map(|c| c.author.clone()).collect(),
                threshold: 2,
            },
        )
        .expect("the owner answers")
    };
    // Erin never reads the package (it comes from a peer that is not an owner she
    // accepted) and refuses it; the owner is told.
    let r = backup(&[&nodes[1], &nodes[3]]);
    let err = r.error.clone().unwrap_or_default();
    assert!(!r.ok && err.contains("has not accepted"), "{r:?}");
    assert!(
        nodes[3].logs().contains("backup package from") && nodes[3].logs().contains("unread"),
        "{}",
        nodes[3].logs()
    );
    // Bob and Carol read it in full: the large-frame path for accepted owners works
    // through real connections (the codec knows its peer).
    let r = backup(&[&nodes[1], &nodes[2]]);
    assert!(r.ok, "{r:?}\n{}", nodes[1].logs());
    for c in &nodes[1..3] {
        let listed = c.ctl(Request::Custody);
        let bytes = listed.data["held"][0]["bytes"].as_u64().unwrap_or(0);
        assert!(bytes > 4096, "{}: holds {bytes} bytes: {listed:?}", c.name);
    }
}
