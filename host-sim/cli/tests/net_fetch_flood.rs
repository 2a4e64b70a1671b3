//! Issue 15 item 9 against a real custodian node: a stranger's flood of `Fetch`
//! requests, each with a fresh device key, costs no custody reads, shows the operator
//! at most two device codes (and one line saying the rest are hidden), is rate
//! limited, and does not bury the code of a real restoring device.

mod cli_common;
mod net_common;

use futures::StreamExt;
use glitter_net::Request;
use glitter_net::backup_codec::BackupCodec;
use glitter_net::backup_proto::{BackupRequest, BackupResponse};
use libp2p::Multiaddr;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use net_common::{NodeProc, wait_for};
use std::time::Duration;

const FLOOD: usize = 500;

/// Sends `FLOOD` `Fetch` requests for `owner`, each from a fresh device key, over one
/// connection; returns (pending, refused, other) answers.
/// Requests the flooding peer keeps in flight.
const IN_FLIGHT: usize = glitter_net::backup_proto::STREAMS_PER_CONNECTION_MAX - 2;

fn flood(addr: &str, owner: [u8; 32]) -> (usize, usize, usize) {
    let addr: Multiaddr = addr.parse().expect("address");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let key = libp2p::identity::Keypair::generate_ed25519();
        let behaviour = glitter_net::transport::backup_behaviour(
            BackupCodec::device(),
            ProtocolSupport::Outbound,
        );
        let mut swarm = glitter_net::transport::tcp_swarm(key, behaviour, Duration::from_secs(60))
            .expect("swarm");
        swarm.dial(addr).expect("dial");
        let (mut pending, mut refused, mut other, mut answered) = (0, 0, 0, 0);
        let mut sent = 0u64;
        let mut peer = None;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        // Keeps IN_FLIGHT requests in flight: fewer than the backup streams one connection
        // may hold at once (a stream still closing after its answer counts until it is
        // gone; one opened over the limit is reset).
        let mut send = |swarm: &mut libp2p::Swarm<_>, to| {
            sent += 1;
            let mut device = [0u8; 32];
            device[..8].copy_from_slice(&sent.to_le_bytes());
            let b: &mut request_response::Behaviour<BackupCodec> = swarm.behaviour_mut();
            b.send_request(&to, BackupRequest::Fetch { owner, device });
        };
        while answered < FLOOD {
            let ev = tokio::select! {
                ev = swarm.select_next_some() => ev,
                () = tokio::time::sleep_until(deadline) => break,
            };
            match ev {
                SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                    peer = Some(peer_id);
                    for _ in 0..IN_FLIGHT {
                        send(&mut swarm, peer_id);
                    }
                }
                SwarmEvent::Behaviour(request_response::Event::Message {
                    message: request_response::Message::Response { response, .. },
                    ..
                }) => {
                    answered += 1;
                    if let Some(p) = peer
                        && answered + IN_FLIGHT <= FLOOD
                    {
                        send(&mut swarm, p);
                    }
                    match response {
                        BackupResponse::Pending => pending += 1,
                        BackupResponse::Refused { .. } => refused += 1,
                        _ => other += 1,
                    }
                }
                SwarmEvent::Behaviour(request_response::Event::OutboundFailure {
                    error, ..
                }) => {
                    println!("net_fetch_flood: a Fetch failed: {error}");
                    answered += 1;
                    other += 1;
                }
                _ => {}
            }
        }
        (pending, refused, other)
    })
}

#[test]
fn a_fetch_flood_is_rate_limited_and_cannot_bury_the_real_device_code() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // The owner backs up to two custodian directories offline; one of them then runs
    // a node.
    let mut custodian = NodeProc::new(tmp.path(), "custodian", 0x61);
    let other = NodeProc::new(tmp.path(), "other", 0x62);
    let owner = NodeProc::new(tmp.path(), "owner", 0x63);
    cli_common::ok(&owner.data, &["post", "something worth keeping"]);
    let c = custodian.data.to_str().expect("utf-8").to_string();
    let o = other.data.to_str().expect("utf-8").to_string();
    cli_common::ok(
        &owner.data,
        &[
            "backup",
            "create",
            "--custodian",
            &c,
            "--custodian",
            &o,
            "--threshold",
            "2",
        ],
    );
    custodian.start();
    let owner_key: [u8; 32] = hex::decode(&owner.author)
        .expect("hex")
        .try_into()
        .expect("32 bytes");

    let (pending, refused, other_answers) = flood(&custodian.addr, owner_key);
    let status = custodian.ctl(Request::Status);
    let logs = custodian.logs();
    let prompts = logs.matches("asks for the backup of").count();
    println!(
        "net_fetch_flood: {FLOOD} Fetches with fresh device codes: {pending} pending, \
         {refused} refused, {other_answers} other; {prompts} prompts shown, {} suppressed, \
         {} rate-limited",
        status.data["prompts_suppressed"], status.data["fetch_refused"]
    );
    assert_eq!(
        pending + refused,
        FLOOD,
        "every Fetch answered: {other_answers} others"
    );
    assert!(
        refused >= FLOOD - 300,
        "at most 300 a minute served: {refused} refused"
    );
    assert_eq!(
        prompts, 2,
        "two codes from the flooding peer shown:\n{logs}"
    );
    assert_eq!(
        logs.matches("keeps asking with new device codes").count(),
        1,
        "{logs}"
    );

    // A real device (another peer) still gets its code in front of the operator.
    let phone = tmp.path().join("phone");
    let out = cli_common::command(
        &phone,
        &[
            "restore",
            "--owner",
            &owner.author,
            "--custodian",
            &custodian.addr,
            "--custodian",
            &o,
            "--wait",
            "2",
        ],
    )
    .output()
    .expect("run restore");
    let device_out = String::from_utf8_lossy(&out.stdout).to_string();
    let code = device_out
        .lines()
        .find_map(|l| l.split("device code: ").nth(1))
        .map(|c| c.trim().to_string())
        .unwrap_or_default();
    assert!(
        !code.is_empty(),
        "the device prints its code:\n{device_out}"
    );
    wait_for(
        "the custodian to show the real device's code",
        Duration::from_secs(10),
        || {
            custodian
                .logs()
                .contains(&format!("device code {code}"))
                .then_some(())
        },
    );
}
