//! A node proves each connected peer's author key by asking it `Hello` on
//! `/glitter/backup/1`; without that answer the peer can never hold or send backups
//! there. A `Hello` lost once (its stream closed unanswered: a duplicate connection
//! closing, a peer too busy to answer) must not leave the peer unproven for as long
//! as it stays connected.
//!
//! The peer here is an in-process libp2p client that speaks `/glitter/backup/1` and
//! drops the first `Hello` it is asked without an answer, answering only the next one.
//! Before the node asked again (a clean-clone CI run failed waiting 20 s for a peer's
//! author), it never learned this peer's author.

mod net_common;

use futures::StreamExt;
use glitter_core::sig::KeyPair;
use glitter_net::Request;
use glitter_net::backup_codec::BackupCodec;
use glitter_net::backup_proto::{BackupRequest, hello};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, SwarmBuilder, noise, tcp, yamux};
use net_common::{NodeProc, wait_for};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// The peer's author seed.
const AUTHOR_SEED: [u8; 32] = [0x5a; 32];

/// Runs the peer until `done` is set or `stop` passes: connects to `node`, drops the
/// first `Hello` unanswered, answers the later ones, counting every `Hello` in `asked`.
async fn forgetful_peer(
    node: Multiaddr,
    asked: Arc<AtomicUsize>,
    done: Arc<AtomicBool>,
    stop: Duration,
) {
    let keys = KeyPair::from_seed(AUTHOR_SEED).expect("a nonzero seed");
    let mut swarm = SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .expect("a TCP transport")
        .with_behaviour(|_| {
            request_response::Behaviour::with_codec(
                BackupCodec::device(),
                [(
                    glitter_net::backup_proto::BACKUP_PROTOCOL,
                    ProtocolSupport::Full,
                )],
                request_response::Config::default(),
            )
        })
        .expect("infallible")
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    swarm.dial(node).expect("a dialable address");
    let me = *swarm.local_peer_id();
    let end = tokio::time::sleep(stop);
    tokio::pin!(end);
    let mut check = tokio::time::interval(Duration::from_millis(100));
    loop {
        let ev = tokio::select! {
            ev = swarm.select_next_some() => ev,
            () = &mut end => return,
            _ = check.tick() => {
                if done.load(Ordering::SeqCst) {
                    return;
                }
                continue;
            }
        };
        if let SwarmEvent::Behaviour(request_response::Event::Message {
            message:
                request_response::Message::Request {
                    request: BackupRequest::Hello,
                    channel,
                    ..
                },
            ..
        }) = ev
        {
            // The first one is dropped: its stream closes without an answer.
            if asked.fetch_add(1, Ordering::SeqCst) > 0 {
                let _ = swarm
                    .behaviour_mut()
                    .send_response(channel, hello(&keys, &me));
            }
        }
    }
}

#[test]
fn a_peer_whose_first_hello_went_unanswered_is_asked_again_and_proven() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = NodeProc::new(dir.path(), "node", 0x71);
    node.extra = vec!["--tick-ms".into(), "200".into()];
    node.start();
    let asked = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let addr: Multiaddr = node.addr.parse().expect("the node's address");
    let peer = std::thread::spawn({
        let (asked, done) = (asked.clone(), done.clone());
        move || {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("a tokio runtime")
                .block_on(forgetful_peer(addr, asked, done, Duration::from_secs(30)))
        }
    });
    let author = KeyPair::from_seed(AUTHOR_SEED)
        .unwrap()
        .public()
        .to_string();
    wait_for(
        "the node to prove the peer's author",
        Duration::from_secs(25),
        || {
            let r = node.ctl(Request::Peers);
            r.data
                .as_array()?
                .iter()
                .any(|p| p["author"].as_str() == Some(author.as_str()))
                .then_some(())
        },
    );
    let n = asked.load(Ordering::SeqCst);
    assert!(n >= 2, "the node proved the peer after {n} Hello requests");
    done.store(true, Ordering::SeqCst);
    node.kill9();
    let _ = peer.join();
}
