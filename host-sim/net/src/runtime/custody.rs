//! Backup and restore on a running node, over `/glitter/backup/1`
//! ([`crate::backup_proto`]).
//!
//! - **Who is who.** On every new connection the node asks the peer `Hello`; the
//!   answer names the peer's author key, signed over its peer id. Only such verified
//!   peers can be sent a backup package.
//! - **Owner.** `glitter node backup --custodian KEY … --threshold K` runs the one
//!   owner-backup flow of `glitter-host` ([`start_backup`]: the missing
//!   `Trust{Custodian}` blocks, then the `BackupManifest` block) on the node's chain
//!   once every custodian is connected and proven by `Hello`, sends each
//!   custodian its package and answers the control request when every custodian has
//!   answered: a receipt signed by the custodian's author key, a refusal, or a failure.
//! - **Custodian.** A package is checked by the same engine as offline
//!   (`Custody::receive`) and written to `<data-dir>/custody/<owner>/` in the same
//!   layout. A node keeps backups only for authors it follows. A share is released
//!   only to a device whose code the custodian's operator approved
//!   (`glitter node release OWNER CODE`), for a limited time.
//! - **Anyone** answers `Head` with its stored head of an author, so a restoring
//!   device learns the latest head before it writes anything.

use super::Runtime;
use super::fetch::{FETCH_PER_WINDOW_MAX, FetchCount};
use super::own::{NodeChain, own_blocks};
use crate::backup_proto::{
    BackupRequest, BackupResponse, REASON_LEN_MAX, check_hello, device_code, hello,
    parse_device_code, receipt_message,
};
use crate::control::Response;
use crate::error::{PackageError, RequestError, host_line, one_line};
use glitter_core::backup::seal::SealedShare;
use glitter_core::hash::Hash;
use glitter_core::sig::{PublicKey, Signature};
use glitter_core::sync::SyncStore;
use glitter_host::account::author_arg;
use glitter_host::backup::owner::check_plan;
use glitter_host::backup::{
    self, Custody, holds_custody, read_custody, start_backup, write_custody,
};
use glitter_host::os;
use libp2p::PeerId;
use libp2p::request_response::{self, OutboundRequestId};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Most device approvals held at once.
const APPROVALS_MAX: usize = 64;
/// Most owners a node keeps backups for.
const CUSTODIES_MAX: usize = 256;
/// Longest approval window.
pub const APPROVAL_MAX_S: u64 = 24 * 3600;

/// A device the operator allowed to receive an owner's share.
struct Approval {
    owner: PublicKey,
    code: String,
    until: Instant,
}

/// What an outbound backup request was for.
enum Outbound {
    Hello,
    Deliver { job: u64, index: usize },
}

/// A backup waiting for its custodians' answers.
struct Job {
    id: u64,
    reply: Option<oneshot::Sender<Response>>,
    lines: Vec<String>,
    custodians: Vec<PublicKey>,
    outcome: Vec<Option<std::result::Result<u64, String>>>,
    version: u64,
    manifest_seq: u64,
    manifest_id: Hash,
    threshold: u8,
}

/// The node's backup state.
#[derive(Default)]
pub(super) struct BackupState {
    /// Peers whose author key is proven by `Hello`.
    authors: HashMap<PeerId, PublicKey>,
    approvals: Vec<Approval>,
    outbound: HashMap<OutboundRequestId, Outbound>,
    jobs: Vec<Job>,
    next_job: u64,
    /// (owner, device code) pairs already reported to the operator.
    pub(super) reported: Vec<(PublicKey, String)>,
    /// Per peer: the start of its current [`FETCH_WINDOW`], its `Fetch` requests and
    /// the prompts it caused in that window.
    pub(super) fetches: HashMap<PeerId, FetchCount>,
    /// `Fetch` requests refused by the rate limit, and prompts not shown, for the
    /// status.
    pub(super) fetch_refused: u64,
    /// Prompts not shown because a peer exceeded [`PROMPTS_PER_WINDOW_MAX`].
    pub(super) prompts_suppressed: u64,
}

impl BackupState {
    /// The verified author of a connected peer.
    pub(super) fn author_of(&self, peer: &PeerId) -> Option<PublicKey> {
        self.authors.get(peer).copied()
    }
}

fn refused(reason: impl std::fmt::Display) -> BackupResponse {
    let mut r = reason.to_string();
    if r.len() > REASON_LEN_MAX {
        let mut cut = REASON_LEN_MAX - 3;
        while !r.is_char_boundary(cut) {
            cut -= 1;
        }
        r.truncate(cut);
        r.push_str("...");
    }
    BackupResponse::Refused { reason: r }
}

impl Runtime {
    /// Asks a newly connected peer which author it is.
    pub(super) fn send_hello(&mut self, peer: PeerId) {
        let id = self
            .swarm
            .behaviour_mut()
            .backup
            .send_request(&peer, BackupRequest::Hello);
        self.backup.outbound.insert(id, Outbound::Hello);
    }

    /// Forgets a disconnected peer's author.
    pub(super) fn forget_author(&mut self, peer: &PeerId) {
        self.backup.authors.remove(peer);
        self.refresh_owners();
    }

    /// Tells the backup codecs which connected peers are owners this node follows:
    /// only they may send packages larger than `SMALL_FRAME_MAX`.
    pub(super) fn refresh_owners(&mut self) {
        let owners = self
            .backup
            .authors
            .iter()
            .filter(|(_, a)| self.follows.contains(a))
            .map(|(p, _)| *p);
        self.swarm.behaviour().backup.gate().set_owners(owners);
    }

    /// Handles an event of the `/glitter/backup/1` behaviour.
    pub(super) fn on_backup(&mut self, ev: request_response::Event<BackupRequest, BackupResponse>) {
        match ev {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    let answer = self.serve_backup(peer, request);
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .backup
                        .send_response(channel, answer);
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => match self.backup.outbound.remove(&request_id) {
                    Some(Outbound::Hello) => {
                        if let BackupResponse::Hello { author, sig } = response {
                            match check_hello(&peer, &author, &sig) {
                                Ok(pk) => {
                                    self.backup.authors.insert(peer, pk);
                                    self.refresh_owners();
                                }
                                Err(e) => self.out.line(&format!("glitter node: peer {peer}: {e}")),
                            }
                        }
                    }
                    Some(Outbound::Deliver { job, index }) => {
                        let outcome = self.check_receipt(job, index, response);
                        self.job_answer(job, index, outcome);
                    }
                    None => {}
                },
            },
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => {
                if let Some(Outbound::Deliver { job, index }) =
                    self.backup.outbound.remove(&request_id)
                {
                    self.job_answer(job, index, Err(format!("no answer ({error})")));
                }
            }
            _ => {}
        }
    }

    fn serve_backup(&mut self, peer: PeerId, req: BackupRequest) -> BackupResponse {
        match req {
            BackupRequest::Hello => hello(&self.keys, self.swarm.local_peer_id()),
            BackupRequest::Head { author } => {
                let a = PublicKey(author);
                match self.node.store().head(&a) {
                    Some(h) => BackupResponse::Head {
                        seq: h.seq,
                        id: h.id.0,
                    },
                    None => BackupResponse::Head {
                        seq: 0,
                        id: [0; 32],
                    },
                }
            }
            BackupRequest::Deliver {
                manifest_block,
                share,
                records,
            } => match self.receive_package(&manifest_block, &share, records) {
                Ok(r) => r,
                Err(e) => {
                    let reason = one_line(&e);
                    self.out.line(&format!(
                        "glitter node: refused a backup package from {peer}: {reason}"
                    ));
                    refused(reason)
                }
            },
            BackupRequest::Fetch { owner, device } => self.release(peer, owner, device),
            BackupRequest::NotAnOwner { len } => {
                let me = self.keys.public();
                let reason = match self.backup.author_of(&peer) {
                    Some(a) => format!(
                        "{me} keeps backups only for authors it follows, and does not follow {a}"
                    ),
                    None => {
                        format!("{peer} has not proven an author key (Hello) that {me} follows")
                    }
                };
                self.out.line(&format!(
                    "glitter node: refused a {len} byte backup package from {peer} unread: {reason}"
                ));
                refused(reason)
            }
        }
    }

    /// A custodian receives a package (checked in full before anything is written).
    fn receive_package(
        &mut self,
        manifest_block: &[u8],
        share: &[u8],
        records: Vec<Vec<u8>>,
    ) -> Result<BackupResponse, PackageError> {
        let me = self.keys.public();
        let block = backup::parse_block(manifest_block)
            .map_err(|e| PackageError::ManifestBlock(e.into()))?;
        let owner = block.0.author;
        if owner == me {
            return Err(PackageError::OwnCustodian);
        }
        if !self.follows.contains(&owner) {
            return Err(PackageError::NotFollowed { me, owner });
        }
        let share = SealedShare::parse(share).map_err(PackageError::SealedShare)?;
        let old = read_custody(&self.data_dir, &owner).ok().flatten();
        if old.is_none() && custodies(&self.data_dir) >= CUSTODIES_MAX {
            return Err(PackageError::TooManyOwners {
                me,
                max: CUSTODIES_MAX,
            });
        }
        let c = Custody::receive(&self.keys, owner, block, share, records, old.as_ref())
            .map_err(|e| PackageError::Refused(e.into()))?;
        write_custody(&self.data_dir, &c).map_err(|e| PackageError::Store(e.into()))?;
        let bytes = (c.records.iter().map(Vec::len).sum::<usize>() + SealedShare::LEN) as u64;
        let receipt = self
            .keys
            .sign(&receipt_message(
                &me,
                &owner,
                c.manifest.version,
                &c.manifest_block.0.id(),
            ))
            .to_vec();
        self.out.line(&format!(
            "custody: holding backup version {} of {owner} ({bytes} bytes)",
            c.manifest.version
        ));
        Ok(BackupResponse::Stored { bytes, receipt })
    }

    /// A custodian answers a restoring device.
    fn release(&mut self, peer: PeerId, owner: [u8; 32], device: [u8; 32]) -> BackupResponse {
        let owner = PublicKey(owner);
        let now = os::instant();
        // Rate limit first: a flood costs a map lookup, no disk read and no prompt.
        let count = self.fetch_count(peer, now);
        if count.requests > FETCH_PER_WINDOW_MAX {
            self.backup.fetch_refused += 1;
            return refused(format!(
                "too many Fetch requests: at most {FETCH_PER_WINDOW_MAX} a minute"
            ));
        }
        if !holds_custody(&self.data_dir, &owner) {
            return BackupResponse::Nothing;
        }
        let code = device_code(&device);
        self.backup.approvals.retain(|a| a.until > now);
        let approved = self
            .backup
            .approvals
            .iter()
            .any(|a| a.owner == owner && a.code == code);
        if !approved && self.adversary.is_none() {
            self.prompt(peer, owner, &code, now);
            return BackupResponse::Pending;
        }
        // Only an approved device (or a test adversary) costs reading the custody.
        let custody = match read_custody(&self.data_dir, &owner) {
            Ok(Some(c)) => c,
            Ok(None) => return BackupResponse::Nothing,
            Err(e) => {
                return refused(format!("the custodian's copy is damaged: {}", host_line(e)));
            }
        };
        if let Some(adversary) = &self.adversary
            && let Some(forged) = adversary.release(&custody, &self.keys, &device)
        {
            return forged;
        }
        if !approved {
            self.prompt(peer, owner, &code, now);
            return BackupResponse::Pending;
        }
        match custody.respond(&self.keys, &device) {
            Ok(r) => {
                self.out.line(&format!(
                    "custody: released the share of {owner} to device {code}"
                ));
                BackupResponse::Release {
                    manifest_block: backup::block_bytes(&r.manifest_block),
                    release: r.release.to_bytes().to_vec(),
                    records: r.records,
                }
            }
            Err(e) => refused(host_line(e)),
        }
    }

    /// `glitter node release OWNER CODE`: lets the device with that code fetch the
    /// owner's share for `valid_for_s` seconds.
    pub(super) fn approve(
        &mut self,
        owner: &str,
        code: &str,
        valid_for_s: u64,
    ) -> Result<Response, RequestError> {
        let owner = author_arg(owner).map_err(RequestError::argument("owner"))?;
        let code = parse_device_code(code).map_err(RequestError::DeviceCode)?;
        if !(1..=APPROVAL_MAX_S).contains(&valid_for_s) {
            return Err(RequestError::ValidFor {
                max: APPROVAL_MAX_S,
            });
        }
        let held = read_custody(&self.data_dir, &owner)
            .map_err(RequestError::host("custody"))?
            .ok_or(RequestError::NoCustody { owner })?;
        let now = os::instant();
        self.backup
            .approvals
            .retain(|a| a.until > now && !(a.owner == owner && a.code == code));
        if self.backup.approvals.len() >= APPROVALS_MAX {
            return Err(RequestError::ApprovalsFull { max: APPROVALS_MAX });
        }
        self.backup.approvals.push(Approval {
            owner,
            code: code.clone(),
            until: now + Duration::from_secs(valid_for_s),
        });
        Ok(Response::ok(
            vec![format!(
                "device {code} may fetch the share of {owner} (backup version {}) for {valid_for_s} s",
                held.manifest.version
            )],
            serde_json::json!({"owner": owner.to_string(), "code": code, "valid_for_s": valid_for_s}),
        ))
    }

    /// `glitter node custody`: the backups this node keeps, and open approvals.
    pub(super) fn custody_list(&mut self) -> Response {
        let mut lines = Vec::new();
        let mut rows = Vec::new();
        let root = self.data_dir.join("custody");
        let mut owners: Vec<String> = match std::fs::read_dir(&root) {
            Ok(rd) => rd
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect(),
            Err(_) => Vec::new(),
        };
        owners.sort();
        for o in owners {
            let Ok(owner) = author_arg(&o) else { continue };
            match read_custody(&self.data_dir, &owner) {
                Ok(Some(c)) => {
                    let bytes = c.records.iter().map(Vec::len).sum::<usize>() + SealedShare::LEN;
                    lines.push(format!(
                        "{owner}: backup version {} (block {}), {} of {} restore, {bytes} bytes",
                        c.manifest.version,
                        c.manifest_block.0.seq,
                        c.manifest.threshold,
                        c.manifest.custodians.len()
                    ));
                    rows.push(serde_json::json!({
                        "owner": owner.to_string(),
                        "version": c.manifest.version,
                        "bytes": bytes,
                    }));
                }
                Ok(None) => {}
                Err(e) => lines.push(format!("{owner}: DAMAGED: {}", host_line(e))),
            }
        }
        if lines.is_empty() {
            lines.push("this node keeps no backups".into());
        }
        let now = os::instant();
        for a in self.backup.approvals.iter().filter(|a| a.until > now) {
            lines.push(format!(
                "approved: device {} for {} ({} s left)",
                a.code,
                a.owner,
                (a.until - now).as_secs()
            ));
        }
        Response::ok(lines, serde_json::Value::Array(rows))
    }

    /// `glitter node backup-status`.
    pub(super) fn backup_status(&mut self) -> Result<Response, RequestError> {
        let chain = own_blocks(&mut self.node, &self.keys.public())?;
        Ok(Response::ok(
            backup::status_lines(&chain),
            serde_json::Value::Null,
        ))
    }

    /// `glitter node backup`: starts a backup; the answer goes to `reply` once every
    /// custodian has answered (or at once, on an error before anything is sent).
    pub(super) fn on_backup_request(
        &mut self,
        custodians: &[String],
        threshold: u8,
        reply: oneshot::Sender<Response>,
    ) {
        match self.begin_backup(custodians, threshold) {
            Ok(mut job) => {
                // Park the reply until the custodians answer.
                job.reply = Some(reply);
                self.backup.jobs.push(job);
            }
            Err(e) => {
                let _ = reply.send(Response::err(one_line(&e)));
            }
        }
    }

    /// Runs the one owner-backup flow ([`start_backup`]) on the node's chain, once the
    /// plan passes and every custodian is connected and proven by `Hello` (nothing is
    /// appended otherwise), then sends each custodian its package.
    fn begin_backup(&mut self, custodians: &[String], threshold: u8) -> Result<Job, RequestError> {
        let me = self.keys.public();
        let keys = custodians
            .iter()
            .map(|c| author_arg(c).map_err(RequestError::argument("custodian")))
            .collect::<Result<Vec<PublicKey>, RequestError>>()?;
        // The plan's own checks first (start_backup runs them again), so that a bad plan
        // reads as it does offline, whether or not its custodians are connected.
        check_plan(&me, &keys, threshold).map_err(|e| RequestError::Backup(e.into()))?;
        let peers = keys
            .iter()
            .map(|k| self.custodian_peer(k))
            .collect::<Result<Vec<PeerId>, RequestError>>()?;
        let entropy = os::random32()?;
        let mut chain = NodeChain {
            node: &mut self.node,
            keys: &self.keys,
        };
        let started = start_backup(&mut chain, &self.keys, &keys, threshold, entropy)
            .map_err(|e| RequestError::Backup(e.into()))?;
        let mut lines: Vec<String> = started
            .trusted
            .iter()
            .map(|(c, seq)| format!("trusted {c} as custodian (block {seq})"))
            .collect();
        lines.push(started.summary());
        self.announce();
        let id = self.backup.next_job;
        self.backup.next_job += 1;
        let p = &started.prepared;
        let block_bytes = backup::block_bytes(&started.manifest_block);
        for (i, peer) in peers.iter().enumerate() {
            let (Some(share), Some(records)) = (p.shares.get(i), p.new_records.get(i)) else {
                continue;
            };
            let req = BackupRequest::Deliver {
                manifest_block: block_bytes.clone(),
                share: share.to_bytes().to_vec(),
                records: records.clone(),
            };
            let rid = self.swarm.behaviour_mut().backup.send_request(peer, req);
            self.backup
                .outbound
                .insert(rid, Outbound::Deliver { job: id, index: i });
        }
        let h = started.manifest_block.0;
        Ok(Job {
            id,
            reply: None,
            lines,
            outcome: vec![None; keys.len()],
            custodians: keys,
            version: p.manifest.version,
            manifest_seq: h.seq,
            manifest_id: h.id(),
            threshold,
        })
    }

    /// The connected peer that proved (by `Hello`) to hold custodian `k`'s key.
    fn custodian_peer(&self, k: &PublicKey) -> Result<PeerId, RequestError> {
        self.backup
            .authors
            .iter()
            .find(|(p, a)| *a == k && self.connected.contains(p))
            .map(|(p, _)| *p)
            .ok_or(RequestError::NotConnected { custodian: *k })
    }

    /// Checks a custodian's answer to a package: a receipt signed by that custodian
    /// over this very backup.
    fn check_receipt(
        &self,
        job: u64,
        index: usize,
        response: BackupResponse,
    ) -> std::result::Result<u64, String> {
        let Some(j) = self.backup.jobs.iter().find(|j| j.id == job) else {
            return Err("unknown backup".into());
        };
        let Some(custodian) = j.custodians.get(index) else {
            return Err("unknown custodian".into());
        };
        match response {
            BackupResponse::Stored { bytes, receipt } => {
                let sig: &Signature = receipt
                    .as_slice()
                    .try_into()
                    .map_err(|_| "the receipt is not a signature".to_string())?;
                let me = self.keys.public();
                custodian
                    .verify(
                        &receipt_message(custodian, &me, j.version, &j.manifest_id),
                        sig,
                    )
                    .map_err(|e| format!("the receipt does not verify ({e})"))?;
                Ok(bytes)
            }
            BackupResponse::Refused { reason } => Err(format!("refused: {reason}")),
            other => Err(format!("unexpected answer {other:?}")),
        }
    }

    fn job_answer(&mut self, job: u64, index: usize, outcome: std::result::Result<u64, String>) {
        let Some(pos) = self.backup.jobs.iter().position(|j| j.id == job) else {
            return;
        };
        let done = {
            let Some(j) = self.backup.jobs.get_mut(pos) else {
                return;
            };
            if let Some(slot) = j.outcome.get_mut(index) {
                *slot = Some(outcome);
            }
            j.outcome.iter().all(Option::is_some)
        };
        if done {
            let j = self.backup.jobs.swap_remove(pos);
            finish_job(j);
        }
    }
}

/// Answers the control request of a finished backup.
fn finish_job(mut j: Job) {
    let n = j.custodians.len();
    let mut held = 0;
    for (i, (c, o)) in j.custodians.iter().zip(&j.outcome).enumerate() {
        match o {
            Some(Ok(bytes)) => {
                held += 1;
                j.lines.push(format!(
                    "custodian #{} {c}: holds {bytes} bytes (signed receipt checked)",
                    i + 1
                ));
            }
            Some(Err(e)) => j.lines.push(format!("custodian #{} {c}: {e}", i + 1)),
            None => {}
        }
    }
    let data = serde_json::json!({
        "version": j.version,
        "seq": j.manifest_seq,
        "held": held,
        "custodians": n,
        "threshold": j.threshold,
    });
    let response = if held == n {
        j.lines.push(format!(
            "all {n} custodians hold backup version {}",
            j.version
        ));
        Response::ok(j.lines, data)
    } else if held >= usize::from(j.threshold) {
        j.lines.push(format!(
            "WARNING: only {held} of {n} custodians hold backup version {} ({} are needed to restore); run the backup again when the others are online",
            j.version, j.threshold
        ));
        Response::ok(j.lines, data)
    } else {
        let mut r = Response::err(format!(
            "only {held} of {n} custodians hold backup version {}, fewer than the {} needed to restore it \
             (a restore falls back to the previous version where its custodians still hold it); \
             run the backup again when they are online: {}",
            j.version,
            j.threshold,
            j.lines.join("; ")
        ));
        r.data = data;
        r
    };
    if let Some(reply) = j.reply {
        let _ = reply.send(response);
    }
}

/// How many owners `data_dir` keeps backups for.
fn custodies(data_dir: &std::path::Path) -> usize {
    std::fs::read_dir(data_dir.join("custody")).map_or(0, |rd| rd.count())
}
