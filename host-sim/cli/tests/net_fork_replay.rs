//! Replayed fork proofs against a real node (issue 15): a client sends the same valid
//! fork proof (about an author the node follows) 4,000 times over `/glitter/sync/1`,
//! and, for comparison, 4,000 `Heads` requests of about the same size. The node's CPU
//! time per request is printed for both
//! (`cargo test -p glitter --test net_fork_replay -- --nocapture`); the node must
//! learn the fork, ban the replaying client, and answer every request.

mod net_common;

use futures::StreamExt;
use glitter_core::chain::{ChainState, HeaderSource};
use glitter_core::sync::Message;
use glitter_core::{BlockKind, ForkProof, Header, KeyPair};
use glitter_net::Request;
use glitter_net::transport::{sync_behaviour, tcp_swarm};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, identity};
use net_common::{NodeProc, wait_for};
use std::time::Duration;

const REQUESTS: usize = 4_000;
const IN_FLIGHT: usize = 16;

struct NoHeaders;

impl HeaderSource for NoHeaders {
    fn header_at(&mut self, _seq: u64) -> Option<Header> {
        None
    }
}

fn emit(m: &Message<'_>) -> Vec<u8> {
    let mut buf = [0u8; glitter_core::sync::message::MESSAGE_LEN_MAX];
    m.emit(&mut buf).expect("emit").to_vec()
}

/// A valid fork proof of `author`'s block 1, as a `Fork` message.
fn fork_message(author: &KeyPair) -> Vec<u8> {
    let block = |payload: &[u8]| {
        let mut st = ChainState::new(author.public()).expect("chain state");
        st.append(author, BlockKind::Post, 1_000, payload, &mut NoHeaders)
            .expect("block 1")
    };
    emit(&Message::Fork(
        ForkProof::new(block(b"one"), block(b"two")).expect("a fork"),
    ))
}

/// Sends `msg` `REQUESTS` times from one fresh client; returns how many were answered.
async fn send_all(addr: Multiaddr, msg: Vec<u8>) -> usize {
    let key = identity::Keypair::generate_ed25519();
    let mut swarm = tcp_swarm(
        key,
        sync_behaviour(ProtocolSupport::Outbound),
        Duration::from_secs(60),
    )
    .expect("a client swarm");
    swarm.dial(addr).expect("dial");
    let peer = loop {
        if let SwarmEvent::ConnectionEstablished { peer_id, .. } = swarm.select_next_some().await {
            break peer_id;
        }
    };
    let (mut sent, mut done, mut answered) = (0, 0, 0);
    while done < REQUESTS {
        while sent < REQUESTS && sent - done < IN_FLIGHT {
            swarm.behaviour_mut().send_request(&peer, msg.clone());
            sent += 1;
        }
        match swarm.select_next_some().await {
            SwarmEvent::Behaviour(request_response::Event::Message {
                message: request_response::Message::Response { .. },
                ..
            }) => {
                done += 1;
                answered += 1;
            }
            SwarmEvent::Behaviour(request_response::Event::OutboundFailure { .. }) => done += 1,
            _ => {}
        }
    }
    answered
}

/// The node's CPU time (ms) spent while `msg` is sent `REQUESTS` times.
fn cpu_for(node: &NodeProc, msg: Vec<u8>) -> (f64, usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let addr: Multiaddr = node.addr.parse().unwrap();
    let before = node.cpu_ms().unwrap_or(0.0);
    let answered = rt.block_on(send_all(addr, msg));
    (node.cpu_ms().unwrap_or(0.0) - before, answered)
}

#[test]
fn replayed_fork_proofs_are_cheap_and_cost_the_sender() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = NodeProc::new(dir.path(), "node", 0x81);
    node.start();
    let forker = KeyPair::from_seed([0x82; 32]).expect("seed");
    node.follow(&forker.public().to_string());
    // Heads of 6 strangers (435 bytes): about the size of a fork proof (425 bytes).
    let mut heads = vec![1u8, 0, 6];
    for i in 0..6u8 {
        let k = KeyPair::from_seed([0x90 + i; 32]).expect("seed");
        heads.extend_from_slice(&k.public().0);
        heads.extend_from_slice(&1u64.to_le_bytes());
        heads.extend_from_slice(&[i; 32]);
    }
    assert!(matches!(Message::parse(&heads), Ok(Message::Heads { .. })));
    let (heads_ms, heads_ok) = cpu_for(&node, heads);
    let (fork_ms, fork_ok) = cpu_for(&node, fork_message(&forker));
    let status = node.ctl(Request::Status).data;
    eprintln!(
        "node CPU per request: heads {:.1} µs ({heads_ok} answered), replayed fork proof {:.1} µs ({fork_ok} answered); core {}",
        heads_ms * 1e3 / REQUESTS as f64,
        fork_ms * 1e3 / REQUESTS as f64,
        status["core"]
    );
    assert_eq!(heads_ok, REQUESTS);
    assert_eq!(fork_ok, REQUESTS);
    wait_for("the node to hold the fork", Duration::from_secs(5), || {
        let r = node.ctl(Request::Status).data;
        (r["core"]["forks"].as_u64() >= Some(1)).then_some(())
    });
    let from_banned = status["core"]["from_banned"].as_u64().unwrap_or(0);
    assert!(
        from_banned >= (REQUESTS as u64) - 10,
        "the replaying client is banned: {from_banned} requests refused"
    );
}
