//! Backup and restore on a running node, over `/glitter/backup/1`
//! ([`super::super::backup_proto`]).
//!
//! - **Who is who.** On every new connection the node asks the peer `Hello`; the
//!   answer names the peer's author key, signed over its peer id. Only such verified
//!   peers can be sent a backup package.
//! - **Owner.** `glitter node backup --custodian KEY … --threshold K` appends the
//!   missing `Trust{Custodian}` blocks and the `BackupManifest` block, sends each
//!   custodian its package and answers the control request when every custodian has
//!   answered: a receipt signed by the custodian's author key, a refusal, or a failure.
//! - **Custodian.** A package is checked by the same engine as offline
//!   (`Custody::receive`) and written to `<data-dir>/custody/<owner>/` in the same
//!   layout. A node keeps backups only for authors it follows. A share is released
//!   only to a device whose code the custodian's operator approved
//!   (`glitter node release OWNER CODE`), for a limited time.
//! - **Anyone** answers `Head` with its stored head of an author, so a restoring
//!   device learns the latest head before it writes anything.

use crate::backup_proto::{
    BackupRequest, BackupResponse, REASON_LEN_MAX, check_hello, device_code, hello,
    parse_device_code, receipt_message,
};
use super::{Runtime, author_arg};
use glitter_host::backup::{
    self, Block, Custody, custodian_trust, latest_manifest, prepare_backup, read_custody,
    untrusted_custodians, write_custody,
};
use crate::control::Response;
use anyhow::{Context, Result, anyhow, bail};
use glitter_core::backup::seal::SealedShare;
use glitter_core::hash::Hash;
use glitter_core::sig::{PublicKey, Signature};
use glitter_core::social::Payload;
use glitter_core::sync::SyncStore;
use glitter_core::wire::header::PAYLOAD_LEN_MAX;
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
    reported: Vec<(PublicKey, String)>,
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
                                }
                                Err(e) => eprintln!("glitter node: peer {peer}: {e}"),
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
                    eprintln!("glitter node: refused a backup package from {peer}: {e:#}");
                    refused(format!("{e:#}"))
                }
            },
            BackupRequest::Fetch { owner, device } => self.release(peer, owner, device),
        }
    }

    /// A custodian receives a package (checked in full before anything is written).
    fn receive_package(
        &mut self,
        manifest_block: &[u8],
        share: &[u8],
        records: Vec<Vec<u8>>,
    ) -> Result<BackupResponse> {
        let me = self.keys.public();
        let block = backup::parse_block(manifest_block).context("manifest block")?;
        let owner = block.0.author;
        if owner == me {
            bail!("a node cannot be its own custodian");
        }
        if !self.follows.contains(&owner) {
            bail!("{me} keeps backups only for authors it follows, and does not follow {owner}");
        }
        let share = SealedShare::parse(share).map_err(|e| anyhow!("sealed share: {e}"))?;
        let old = read_custody(&self.data_dir, &owner).ok().flatten();
        if old.is_none() && custodies(&self.data_dir) >= CUSTODIES_MAX {
            bail!("{me} already keeps backups for {CUSTODIES_MAX} owners");
        }
        let c = Custody::receive(&self.keys, owner, block, share, records, old.as_ref())?;
        write_custody(&self.data_dir, &c).context("cannot store the backup")?;
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
        let custody = match read_custody(&self.data_dir, &owner) {
            Ok(Some(c)) => c,
            Ok(None) => return BackupResponse::Nothing,
            Err(e) => return refused(format!("the custodian's copy is damaged: {e:#}")),
        };
        if self.evil {
            return evil_release(&custody, &self.keys, &device);
        }
        let code = device_code(&device);
        let now = Instant::now();
        self.backup.approvals.retain(|a| a.until > now);
        let approved = self
            .backup
            .approvals
            .iter()
            .any(|a| a.owner == owner && a.code == code);
        if !approved {
            if !self.backup.reported.contains(&(owner, code.clone())) {
                if self.backup.reported.len() >= APPROVALS_MAX {
                    self.backup.reported.remove(0);
                }
                self.backup.reported.push((owner, code.clone()));
                self.out.line(&format!(
                    "custody: peer {peer} asks for the backup of {owner} with device code {code}. \
                     If the owner confirms that code to you, run: glitter node release {owner} {code}"
                ));
            }
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
            Err(e) => refused(format!("{e:#}")),
        }
    }

    /// `glitter node release OWNER CODE`: lets the device with that code fetch the
    /// owner's share for `valid_for_s` seconds.
    pub(super) fn approve(
        &mut self,
        owner: &str,
        code: &str,
        valid_for_s: u64,
    ) -> Result<Response> {
        let owner = author_arg(owner)?;
        let code = parse_device_code(code).map_err(|e| anyhow!(e))?;
        if !(1..=APPROVAL_MAX_S).contains(&valid_for_s) {
            bail!("--valid-for takes 1 to {APPROVAL_MAX_S} seconds");
        }
        let held = read_custody(&self.data_dir, &owner)?
            .with_context(|| format!("this node holds no backup of {owner}"))?;
        let now = Instant::now();
        self.backup
            .approvals
            .retain(|a| a.until > now && !(a.owner == owner && a.code == code));
        if self.backup.approvals.len() >= APPROVALS_MAX {
            bail!("{APPROVALS_MAX} approvals are already open; wait for some to expire");
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
    pub(super) fn custody_list(&mut self) -> Result<Response> {
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
                Err(e) => lines.push(format!("{owner}: DAMAGED: {e:#}")),
            }
        }
        if lines.is_empty() {
            lines.push("this node keeps no backups".into());
        }
        let now = Instant::now();
        for a in self.backup.approvals.iter().filter(|a| a.until > now) {
            lines.push(format!(
                "approved: device {} for {} ({} s left)",
                a.code,
                a.owner,
                (a.until - now).as_secs()
            ));
        }
        Ok(Response::ok(lines, serde_json::Value::Array(rows)))
    }

    /// The node's own chain with payloads, seq 1..=head.
    fn own_chain(&mut self) -> Result<Vec<Block>> {
        let me = self.keys.public();
        let head = self.node.store().head(&me).map_or(0, |h| h.seq);
        let mut buf = [0u8; PAYLOAD_LEN_MAX];
        let mut out = Vec::new();
        for seq in 1..=head {
            let h = self
                .node
                .store()
                .header(&me, seq)
                .with_context(|| format!("own block {seq} is missing"))?;
            let len = self
                .node
                .store()
                .payload(&me, seq, &mut buf)
                .with_context(|| format!("own block {seq} has no payload"))?;
            out.push((h, buf.get(..len).unwrap_or(&[]).to_vec()));
        }
        Ok(out)
    }

    /// Appends one of our own blocks and returns it with its encoded payload.
    fn append_own_block(&mut self, payload: &Payload) -> Result<Block> {
        let h = self.append_own(payload)?;
        let mut buf = [0u8; PAYLOAD_LEN_MAX];
        let bytes = payload
            .encode(&mut buf)
            .map_err(|e| anyhow!("payload: {e}"))?;
        Ok((h, bytes.to_vec()))
    }

    /// `glitter node backup-status`.
    pub(super) fn backup_status(&mut self) -> Result<Response> {
        let chain = self.own_chain()?;
        Ok(Response::ok(
            backup::status_lines(&chain),
            serde_json::Value::Null,
        ))
    }

    /// `glitter node backup`: starts a backup; the answer goes to `reply` once every
    /// custodian has answered (or at once, on an error before anything is sent).
    pub(super) fn start_backup(
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
                let _ = reply.send(Response::err(format!("{e:#}")));
            }
        }
    }

    fn begin_backup(&mut self, custodians: &[String], threshold: u8) -> Result<Job> {
        let me = self.keys.public();
        let mut keys = Vec::new();
        for c in custodians {
            let k = author_arg(c)?;
            if k == me {
                bail!("you cannot be your own custodian");
            }
            if keys.contains(&k) {
                bail!("custodian {k} is named twice");
            }
            keys.push(k);
        }
        let n = keys.len();
        if !(2..=16).contains(&n) {
            bail!("a backup needs 2 to 16 custodians, not {n}");
        }
        if !(2..=n).contains(&usize::from(threshold)) {
            bail!("--threshold must be between 2 and the number of custodians ({n})");
        }
        // Every custodian must be connected and have proven its key.
        let mut peers = Vec::new();
        for k in &keys {
            let peer = self
                .backup
                .authors
                .iter()
                .find(|(p, a)| *a == k && self.connected.contains(p))
                .map(|(p, _)| *p)
                .with_context(|| {
                    format!(
                        "custodian {k} is not connected (start its node and pass its address with --peer); nothing was appended"
                    )
                })?;
            peers.push(peer);
        }
        let mut lines = Vec::new();
        // Read the own chain once; the blocks appended below are added to it.
        let mut chain = self.own_chain()?;
        for c in untrusted_custodians(&chain, &keys) {
            let block = self.append_own_block(&custodian_trust(&c))?;
            lines.push(format!("trusted {c} as custodian (block {})", block.0.seq));
            chain.push(block);
        }
        let prev = latest_manifest(&chain).map(|(_, m)| m);
        let entropy = glitter_host::os::random32()?;
        let p = prepare_backup(&self.keys, &chain, prev.as_ref(), &keys, threshold, entropy)?;
        let mblock = self.append_own_block(&Payload::BackupManifest(p.manifest.clone()))?;
        let h = mblock.0;
        lines.push(format!(
            "backup version {} ({}) at block {}: any {threshold} of {n} custodians restore seq 1..={}",
            p.manifest.version,
            if p.full { "full" } else { "incremental" },
            h.seq,
            p.manifest.last_seq()
        ));
        self.announce();
        let id = self.backup.next_job;
        self.backup.next_job += 1;
        let block_bytes = backup::block_bytes(&mblock);
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
        Ok(Job {
            id,
            reply: None,
            lines,
            custodians: keys,
            outcome: vec![None; n],
            version: p.manifest.version,
            manifest_seq: h.seq,
            manifest_id: h.id(),
            threshold,
        })
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

/// Adversarial mode: answers every device at once, without approval, with a release
/// whose sealed share and shard records are corrupted (one bit each).
fn evil_release(
    custody: &Custody,
    keys: &glitter_core::sig::KeyPair,
    device: &[u8; 32],
) -> BackupResponse {
    let Ok(r) = custody.respond(keys, device) else {
        return BackupResponse::Nothing;
    };
    let mut release = r.release.to_bytes().to_vec();
    if let Some(b) = release.last_mut() {
        *b ^= 1;
    }
    let records = r
        .records
        .into_iter()
        .map(|mut rec| {
            if let Some(b) = rec.last_mut() {
                *b ^= 1;
            }
            rec
        })
        .collect();
    BackupResponse::Release {
        manifest_block: backup::block_bytes(&r.manifest_block),
        release,
        records,
    }
}
