//! Backup and restore on a running node, over `/glitter/backup/1`
//! ([`crate::backup_proto`]).
//!
//! - **Who is who.** On every new connection the node asks the peer `Hello`; the
//!   answer names the peer's author key, signed over its peer id. Only such verified
//!   peers can be sent a backup package.
//! - **Owner** (`owner`). `glitter node backup --custodian KEY … --threshold K` runs
//!   the one owner-backup flow of `glitter-host` (`start_backup`: the missing
//!   `Trust{Custodian}` blocks, then the `BackupManifest` block) on the node's chain
//!   once every custodian is connected and proven by `Hello`, sends each
//!   custodian its package and answers the control request when every custodian has
//!   answered: a receipt signed by the custodian's author key, a refusal, or a failure.
//! - **Custodian.** A node holds backups only for owners its operator accepted
//!   (`glitter node custody accept OWNER`, kept in the data directory), or also for
//!   the authors it follows under `--custody-policy follows` (`consent`), and within
//!   its custody quotas (per owner and in total). A package is checked by the same
//!   engine as offline (`Custody::receive`), measured against the quotas, and only
//!   then written to `<data-dir>/custody/<owner>/` in the same layout. A share is
//!   released only to a device whose code the custodian's operator approved
//!   (`glitter node release OWNER CODE`), for a limited time.
//! - **Anyone** answers `Head` with its stored head of an author, so a restoring
//!   device learns the latest head before it writes anything.
//!
//! The package is written (and synced) on the event loop: at most one package a
//! time, each at most the per-owner quota.

mod consent;
mod owner;

use super::Runtime;
use super::fetch::{FETCH_PER_WINDOW_MAX, FetchCount};
use crate::backup_proto::{
    BackupRequest, BackupResponse, REASON_LEN_MAX, check_hello, device_code, hello,
    parse_device_code, receipt_message,
};
use crate::control::Response;
use crate::error::{NodeError, PackageError, RequestError, host_line, one_line};
use glitter_core::backup::seal::SealedShare;
use glitter_core::sig::PublicKey;
use glitter_core::sync::SyncStore;
use glitter_host::account::author_arg;
use glitter_host::backup::{
    self, Accepted, Custody, CustodyPolicy, CustodyQuota, custody_usage, holds_custody,
    read_custody, stored_bytes, write_custody,
};
use glitter_host::os;
use libp2p::PeerId;
use libp2p::request_response::{self, OutboundRequestId};
use owner::Job;
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// Most device approvals held at once.
const APPROVALS_MAX: usize = 64;
/// Most owners a node keeps backups for.
const CUSTODIES_MAX: usize = glitter_host::backup::consent::ACCEPTED_MAX;
/// Longest approval window.
pub const APPROVAL_MAX_S: u64 = 24 * 3600;

/// A device the operator allowed to receive an owner's share.
struct Approval {
    owner: PublicKey,
    code: String,
    until: Instant,
}

/// How often a node asks a connected peer `Hello` before it gives up.
const HELLO_TRIES_MAX: u8 = 4;
/// How long a node waits for a `Hello` answer before it asks again: well under the
/// protocol's request timeout, so that a request lost with a closing duplicate
/// connection, or stuck behind a busy peer, does not leave the peer unproven for good.
const HELLO_RETRY_MS: u64 = 3_000;

/// A `Hello` a node asked a connected peer and has no verified answer to yet.
#[derive(Clone, Copy)]
struct HelloAsk {
    /// When it last asked.
    at_ms: u64,
    /// How often it asked.
    tries: u8,
}

/// What an outbound backup request was for.
enum Outbound {
    Hello,
    Deliver { job: u64, index: usize },
}

/// The node's backup state.
#[derive(Default)]
pub(super) struct BackupState {
    /// Peers whose author key is proven by `Hello`.
    authors: HashMap<PeerId, PublicKey>,
    /// Connected peers asked `Hello` and not yet proven (at most one entry per
    /// connected peer: removed on an answer, a give-up or a disconnection).
    hellos: HashMap<PeerId, HelloAsk>,
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
    /// The owners the operator accepted (`<data-dir>/custody.accepted`).
    accepted: Accepted,
    /// Whom else the node holds backups for.
    policy: CustodyPolicy,
    /// How much it holds.
    quota: CustodyQuota,
}

impl BackupState {
    /// The backup state of a node starting on `data_dir`: its consent list read from
    /// disk, nothing else yet.
    pub(super) fn load(
        data_dir: &Path,
        policy: CustodyPolicy,
        quota: CustodyQuota,
    ) -> Result<BackupState, NodeError> {
        Ok(BackupState {
            accepted: Accepted::load(data_dir).map_err(NodeError::host("custody consent"))?,
            policy,
            quota,
            ..BackupState::default()
        })
    }

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
        self.ask_hello(peer, 1);
    }

    fn ask_hello(&mut self, peer: PeerId, tries: u8) {
        let id = self
            .swarm
            .behaviour_mut()
            .backup
            .send_request(&peer, BackupRequest::Hello);
        self.backup.outbound.insert(id, Outbound::Hello);
        let at_ms = self.now_ms();
        self.backup.hellos.insert(peer, HelloAsk { at_ms, tries });
    }

    /// Asks again every connected peer whose `Hello` went unanswered for
    /// [`HELLO_RETRY_MS`], up to [`HELLO_TRIES_MAX`] times; called on every tick.
    pub(super) fn retry_hellos(&mut self) {
        let now = self.now_ms();
        let due: Vec<(PeerId, u8)> = self
            .backup
            .hellos
            .iter()
            .filter(|(_, a)| now.saturating_sub(a.at_ms) >= HELLO_RETRY_MS)
            .map(|(p, a)| (*p, a.tries))
            .collect();
        for (peer, tries) in due {
            if !self.connected.contains(&peer) {
                self.backup.hellos.remove(&peer);
            } else if tries >= HELLO_TRIES_MAX {
                self.backup.hellos.remove(&peer);
                self.out.line(&format!(
                    "glitter node: peer {peer} did not answer Hello ({tries} tries); it cannot hold or send backups here until it reconnects"
                ));
            } else {
                self.ask_hello(peer, tries + 1);
            }
        }
    }

    /// Forgets a disconnected peer's author.
    pub(super) fn forget_author(&mut self, peer: &PeerId) {
        self.backup.authors.remove(peer);
        self.backup.hellos.remove(peer);
        self.refresh_owners();
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
                            // A wrong answer is final: asking again would not fix it.
                            self.backup.hellos.remove(&peer);
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
                let e = match self.backup.author_of(&peer) {
                    Some(owner) => self.not_accepted(owner),
                    None => PackageError::Unproven { peer, me },
                };
                self.refuse_unread(peer, len, &e)
            }
            BackupRequest::OverQuota { len } => {
                let e = PackageError::FrameOverQuota {
                    len,
                    quota: self.backup.quota.per_owner,
                };
                self.refuse_unread(peer, len, &e)
            }
        }
    }

    /// Tells the operator and the sender that a package was discarded unread.
    fn refuse_unread(&mut self, peer: PeerId, len: u32, e: &PackageError) -> BackupResponse {
        let reason = one_line(e);
        self.out.line(&format!(
            "glitter node: refused a {len} byte backup package from {peer} unread: {reason}"
        ));
        refused(reason)
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
        if !self.admits(&owner) {
            return Err(self.not_accepted(owner));
        }
        let share = SealedShare::parse(share).map_err(PackageError::SealedShare)?;
        // What is held now, measured on disk (a bounded number of `stat`s).
        let usage = custody_usage(&self.data_dir).map_err(|e| PackageError::Usage(e.into()))?;
        let old = read_custody(&self.data_dir, &owner).ok().flatten();
        if old.is_none() && usage.owners.len() >= CUSTODIES_MAX {
            return Err(PackageError::TooManyOwners {
                me,
                max: CUSTODIES_MAX,
            });
        }
        let c = Custody::receive(&self.keys, owner, block, share, records, old.as_ref())
            .map_err(|e| PackageError::Refused(e.into()))?;
        // The whole new version (which replaces the held one) within both quotas,
        // before anything is written.
        self.backup.quota.check(&usage, &owner, stored_bytes(&c))?;
        write_custody(&self.data_dir, &c).map_err(|e| PackageError::Store(e.into()))?;
        let bytes = stored_bytes(&c);
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
}
