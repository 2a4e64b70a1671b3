//! The restoring device over the network (`glitter restore --custodian MULTIADDR …`).
//!
//! The device has no identity yet, so it does not run a node: it opens a short-lived
//! libp2p client with a random peer id and a one-time X25519 key, and
//!
//! 1. prints its **device code** (80 bits of the one-time key's hash), which the person
//!    restoring reads to each custodian out of band;
//! 2. asks every custodian for the owner's share (`Fetch` on `/glitter/backup/1`)
//!    every [`POLL_MS`] until k of them have approved the code and answered, and the
//!    engine ([`glitter_host::backup::restore`]) recovers the seed and the chain;
//! 3. asks every peer (custodians included) for the owner's head (`Head`) and fetches
//!    what is newer over `/glitter/sync/1` (`Want` → `Block`s), verifying every block,
//!    so the device knows the real head before it writes anything.
//!
//! Nothing is written here: the caller writes the chain and the identity at the end.

use super::backup_codec::BackupCodec;
use super::backup_proto::{BackupRequest, BackupResponse, check_hello, device_code};
use super::codec::SyncCodec;
use super::transport::{
    DialTargets, backup_behaviour, identify_behaviour, sync_behaviour, tcp_swarm,
};
use crate::error::{BoxError, RestoreError, SwarmError};
use futures::StreamExt;
use glitter_core::backup::seal::{RequesterKey, SealedRelease};
use glitter_core::hash::Hash;
use glitter_core::sig::PublicKey;
use glitter_core::sync::Message;
use glitter_core::sync::message::{MESSAGE_LEN_MAX, WANT_COUNT_MAX};
use glitter_core::wire::header::Header;
use glitter_host::backup::catch_up::{self, HeadReport, Standing};
use glitter_host::backup::{self, Block, Response as CustodianResponse, Restored, restore};
use glitter_host::{Sink, os};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, identify, ping};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// How often unanswered custodians are asked again.
pub const POLL_MS: u64 = 250;
/// How long the device waits for head reports once the backup is decoded.
pub const HEAD_WAIT_MS: u64 = 5_000;

#[derive(NetworkBehaviour)]
struct Client {
    backup: request_response::Behaviour<BackupCodec>,
    sync: request_response::Behaviour<SyncCodec>,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
}

/// What the network part of a restore produced.
pub struct NetRestore {
    /// The decoded backup.
    pub restored: Restored,
    /// The chain after catching up from peers (headers and payloads, seq 1..).
    pub chain: Vec<Block>,
    /// How many peers reported a head.
    pub consulted: usize,
    /// Progress and warnings, already printed.
    pub lines: Vec<String>,
}

/// Where each request went.
enum Asked {
    Hello,
    Fetch,
    Head,
}

struct Device<'o> {
    out: &'o mut dyn Sink,
    swarm: Swarm<Client>,
    owner: PublicKey,
    targets: DialTargets,
    connected: HashSet<PeerId>,
    authors: HashMap<PeerId, PublicKey>,
    asked: HashMap<OutboundRequestId, (PeerId, Asked)>,
    fetch_in_flight: HashSet<PeerId>,
    released: HashMap<PeerId, CustodianResponse>,
    said: HashSet<(PeerId, &'static str)>,
    lines: Vec<String>,
    /// Head reports: (peer, seq, id).
    heads: Vec<(PeerId, u64, Hash)>,
}

impl Device<'_> {
    fn say(&mut self, line: String) {
        self.out.line(&line);
        self.lines.push(line);
    }

    /// Says `line` once per peer and kind.
    fn say_once(&mut self, peer: PeerId, kind: &'static str, line: String) {
        if self.said.insert((peer, kind)) {
            self.say(line);
        }
    }

    fn name(&self, peer: &PeerId) -> String {
        match self.authors.get(peer) {
            Some(a) => format!("{a} (peer {peer})"),
            None => format!("peer {peer}"),
        }
    }

    fn redial(&mut self) {
        self.targets.redial(&mut self.swarm, &self.connected);
    }

    /// Handles one swarm event; returns a sync response when one arrives.
    fn on_event(
        &mut self,
        ev: SwarmEvent<ClientEvent>,
    ) -> Option<(OutboundRequestId, Vec<Vec<u8>>)> {
        match ev {
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                num_established,
                ..
            } => {
                self.connected.insert(peer_id);
                self.targets.connected(connection_id, &endpoint, peer_id);
                if num_established.get() == 1 {
                    let id = self
                        .swarm
                        .behaviour_mut()
                        .backup
                        .send_request(&peer_id, BackupRequest::Hello);
                    self.asked.insert(id, (peer_id, Asked::Hello));
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                self.connected.remove(&peer_id);
                self.fetch_in_flight.remove(&peer_id);
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                error,
                ..
            } => {
                self.targets.failed(connection_id);
                let line = format!("cannot connect: {error}");
                if !self.lines.contains(&line) {
                    self.say(line);
                }
            }
            SwarmEvent::Behaviour(ClientEvent::Backup(ev)) => self.on_backup(ev),
            SwarmEvent::Behaviour(ClientEvent::Sync(ev)) => match ev {
                request_response::Event::Message {
                    message:
                        request_response::Message::Response {
                            request_id,
                            response,
                        },
                    ..
                } => return Some((request_id, response)),
                request_response::Event::OutboundFailure { request_id, .. } => {
                    return Some((request_id, Vec::new()));
                }
                _ => {}
            },
            _ => {}
        }
        None
    }

    fn on_backup(&mut self, ev: request_response::Event<BackupRequest, BackupResponse>) {
        match ev {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                let Some((_, asked)) = self.asked.remove(&request_id) else {
                    return;
                };
                match (asked, response) {
                    (Asked::Hello, BackupResponse::Hello { author, sig }) => {
                        if let Ok(pk) = check_hello(&peer, &author, &sig) {
                            self.authors.insert(peer, pk);
                        }
                    }
                    (Asked::Fetch, r) => {
                        self.fetch_in_flight.remove(&peer);
                        self.on_fetch_answer(peer, r);
                    }
                    (Asked::Head, BackupResponse::Head { seq, id }) => {
                        self.heads.push((peer, seq, Hash(id)));
                    }
                    _ => {}
                }
            }
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if let Some((_, Asked::Fetch)) = self.asked.remove(&request_id) {
                    self.fetch_in_flight.remove(&peer);
                    let name = self.name(&peer);
                    self.say_once(
                        peer,
                        "fail",
                        format!("custodian {name}: no answer ({error})"),
                    );
                }
            }
            _ => {}
        }
    }

    fn on_fetch_answer(&mut self, peer: PeerId, r: BackupResponse) {
        let name = self.name(&peer);
        let owner = self.owner;
        match r {
            BackupResponse::Release {
                manifest_block,
                release,
                records,
            } => {
                let parsed = backup::parse_block(&manifest_block)
                    .ok()
                    .zip(SealedRelease::parse(&release).ok());
                let Some((block, release)) = parsed else {
                    self.say_once(peer, "bad", format!("custodian {name}: malformed release; ignored"));
                    return;
                };
                let from = self
                    .authors
                    .get(&peer)
                    .copied()
                    .unwrap_or(release.binding.custodian);
                self.released.insert(
                    peer,
                    CustodianResponse {
                        from,
                        manifest_block: block,
                        release,
                        records,
                    },
                );
                let n = self.released.len();
                self.say(format!("custodian {name}: released its share ({n} so far)"));
            }
            BackupResponse::Pending => self.say_once(
                peer,
                "pending",
                format!("custodian {name}: waiting for its approval (it runs: glitter node release {owner} <code>)"),
            ),
            BackupResponse::Nothing => self.say_once(
                peer,
                "nothing",
                format!("{name}: holds no backup of {owner}"),
            ),
            BackupResponse::Refused { reason } => {
                self.say_once(peer, "refused", format!("custodian {name}: refused: {reason}"));
            }
            other => self.say_once(peer, "odd", format!("custodian {name}: unexpected answer {other:?}")),
        }
    }
}

/// A client swarm with a one-time peer id (its key from the OS randomness).
fn build_client() -> Result<Swarm<Client>, RestoreError> {
    let key = libp2p::identity::Keypair::ed25519_from_bytes(os::random32()?)
        .map_err(SwarmError::Identity)?;
    let behaviour = Client {
        backup: backup_behaviour(BackupCodec::device(), ProtocolSupport::Outbound),
        sync: sync_behaviour(ProtocolSupport::Outbound),
        identify: identify_behaviour(&key),
        ping: ping::Behaviour::new(ping::Config::new()),
    };
    Ok(tcp_swarm(key, behaviour, Duration::from_secs(60))?)
}

/// Restores `owner` from custodians at `custodians` (and `local`, responses already
/// read from custodian directories), then catches up from `custodians` and `peers`.
/// Waits at most `wait` for k approvals.
///
/// # Errors
/// [`RestoreError`]: no approval in time (with the engine's last failure), or a
/// transport that cannot start.
pub fn run(job: RestoreJob<'_>, out: &mut dyn Sink) -> Result<NetRestore, RestoreError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(RestoreError::Tokio)?;
    rt.block_on(run_async(job, out))
}

/// What a network restore is asked to do.
pub struct RestoreJob<'a> {
    /// The identity to restore.
    pub owner: PublicKey,
    /// The device's one-time key (shares are sealed to it).
    pub requester: &'a RequesterKey,
    /// Responses already read from custodian directories.
    pub local: Vec<CustodianResponse>,
    /// Custodians to ask, by address.
    pub custodians: &'a [Multiaddr],
    /// Peers to learn the head from, by address.
    pub peers: &'a [Multiaddr],
    /// How long to wait for k approvals.
    pub wait: Duration,
}

async fn run_async(job: RestoreJob<'_>, out: &mut dyn Sink) -> Result<NetRestore, RestoreError> {
    let RestoreJob {
        owner,
        requester,
        local,
        custodians,
        peers,
        wait,
    } = job;
    let mut d = Device {
        out,
        swarm: build_client()?,
        owner,
        targets: DialTargets::new(custodians.iter().chain(peers)),
        connected: HashSet::new(),
        authors: HashMap::new(),
        asked: HashMap::new(),
        fetch_in_flight: HashSet::new(),
        released: HashMap::new(),
        said: HashSet::new(),
        lines: Vec::new(),
        heads: Vec::new(),
    };
    let code = device_code(&requester.public());
    d.say(format!("device code: {code}"));
    d.say(format!(
        "ask each custodian to confirm this code with you, then to run: glitter node release {owner} {code}"
    ));
    d.redial();
    let deadline = os::instant() + wait;
    let mut poll = tokio::time::interval(Duration::from_millis(POLL_MS));
    let mut last_try = 0usize;
    // The engine's last refusal (none while no custodian has answered).
    let mut last_failure: Option<BoxError> = None;
    // 1. Shares and shards, until the engine restores or the wait ends.
    let restored = loop {
        if d.released.len() + local.len() > last_try {
            last_try = d.released.len() + local.len();
            let mut all = local.clone();
            all.extend(d.released.values().cloned());
            match restore(owner, requester, &all) {
                Ok(r) => break r,
                Err(e) => last_failure = Some(e.into()),
            }
        }
        if os::instant() >= deadline {
            let secs = wait.as_secs();
            return Err(match last_failure {
                None => RestoreError::NoAnswer { secs },
                Some(source) => RestoreError::NotRestored { secs, source },
            });
        }
        tokio::select! {
            ev = d.swarm.select_next_some() => { let _ = d.on_event(ev); }
            _ = poll.tick() => {
                d.redial();
                let ask: Vec<PeerId> = d
                    .connected
                    .iter()
                    .filter(|p| !d.released.contains_key(p) && !d.fetch_in_flight.contains(p))
                    .copied()
                    .collect();
                for p in ask {
                    let id = d.swarm.behaviour_mut().backup.send_request(
                        &p,
                        BackupRequest::Fetch { owner: owner.0, device: requester.public() },
                    );
                    d.asked.insert(id, (p, Asked::Fetch));
                    d.fetch_in_flight.insert(p);
                }
            }
        }
    };
    for r in &restored.rejected {
        d.say(format!("refused: {r}"));
    }
    if let Some(why) = &restored.fell_back {
        d.say(format!(
            "the newest backup could not be restored ({why}); used an older version"
        ));
    }
    d.say(format!(
        "recovered the identity {owner} from backup version {} ({} of {} custodians)",
        restored.manifest.version,
        restored.manifest.threshold,
        restored.manifest.custodians.len()
    ));
    d.say(format!(
        "restored and verified blocks 1..={}",
        restored.chain.len()
    ));
    // 2. Heads from every connected peer, then the blocks past ours.
    let mut chain = restored.chain.clone();
    let consulted = catch_up(&mut d, &mut chain).await?;
    Ok(NetRestore {
        restored,
        chain,
        consulted,
        lines: d.lines,
    })
}

/// Asks every connected peer for the owner's head, then fetches and verifies blocks
/// past `chain`'s end from the peers ahead of it. Returns how many peers reported.
async fn catch_up(d: &mut Device<'_>, chain: &mut Vec<Block>) -> Result<usize, RestoreError> {
    let owner = d.owner;
    let peers: Vec<PeerId> = d.connected.iter().copied().collect();
    for p in &peers {
        let id = d
            .swarm
            .behaviour_mut()
            .backup
            .send_request(p, BackupRequest::Head { author: owner.0 });
        d.asked.insert(id, (*p, Asked::Head));
    }
    let until = os::instant() + Duration::from_millis(HEAD_WAIT_MS);
    while d.heads.len() < peers.len() && os::instant() < until {
        tokio::select! {
            ev = d.swarm.select_next_some() => { let _ = d.on_event(ev); }
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
    let reports: Vec<HeadReport<PeerId>> = d
        .heads
        .iter()
        .map(|&(from, seq, id)| HeadReport { from, seq, id })
        .collect();
    let consulted = reports.len();
    // The restore engine verified every block it returned: continue from its end.
    let mut headers: Vec<Header> = chain.iter().map(|(h, _)| *h).collect();
    let mut payloads: Vec<Vec<u8>> = chain.iter().map(|(_, p)| p.clone()).collect();
    for report in catch_up::by_height(reports) {
        let (peer, seq, id) = (report.from, report.seq, report.id);
        let name = d.name(&peer);
        match catch_up::classify(&headers, &report) {
            Standing::Empty => {
                d.say(format!("{name}: stores no block of {owner}"));
                continue;
            }
            Standing::Conflicts => {
                d.say(format!(
                    "{name}: its block {seq} conflicts with ours (a fork); ignored"
                ));
                continue;
            }
            Standing::Covered => continue,
            Standing::Ahead(_) => {}
        }
        d.say(format!(
            "{name}: head {seq}, ahead of ours ({}); fetching",
            headers.len()
        ));
        while (headers.len() as u64) < seq {
            let from = headers.len() as u64 + 1;
            let count = u8::try_from((seq - from + 1).min(u64::from(WANT_COUNT_MAX)))
                .unwrap_or(WANT_COUNT_MAX);
            let mut buf = [0u8; MESSAGE_LEN_MAX];
            let want = Message::Want {
                author: owner,
                from_seq: from,
                count,
            }
            .emit(&mut buf)
            .map_err(RestoreError::Want)?
            .to_vec();
            let rid = d.swarm.behaviour_mut().sync.send_request(&peer, want);
            let response = loop {
                let ev = d.swarm.select_next_some().await;
                if let Some((id, r)) = d.on_event(ev)
                    && id == rid
                {
                    break r;
                }
            };
            let blocks: Vec<(&[u8], &[u8])> = response
                .iter()
                .filter_map(|bytes| match Message::parse(bytes) {
                    Ok(Message::Block {
                        header,
                        payload: Some(p),
                    }) => Some((&header[..], p)),
                    _ => None,
                })
                .collect();
            let before = headers.len();
            if let Err((bad, e)) = catch_up::extend(owner, &mut headers, &mut payloads, blocks) {
                d.say(format!(
                    "{name}: sent an invalid block {bad} ({e}); ignored"
                ));
            }
            if headers.len() == before {
                d.say(format!("{name}: no usable blocks past {before}; stopped"));
                break;
            }
        }
        if let Some(h) = usize::try_from(seq - 1).ok().and_then(|i| headers.get(i))
            && h.id() != id
        {
            d.say(format!(
                "{name}: announced block {seq} with another id than it sent (a fork?)"
            ));
        }
    }
    *chain = headers.into_iter().zip(payloads).collect();
    Ok(consulted)
}
