//! The owner's side of `/glitter/backup/1`: `glitter node backup` runs the one
//! owner-backup flow ([`start_backup`]) on the node's chain, sends each custodian its
//! package, checks the signed receipts and answers the control request when every
//! custodian has answered.

use super::Outbound;
use crate::backup_proto::{BackupRequest, BackupResponse, receipt_message};
use crate::control::Response;
use crate::error::{RequestError, one_line};
use crate::runtime::Runtime;
use crate::runtime::own::{NodeChain, own_blocks};
use glitter_core::hash::Hash;
use glitter_core::sig::{PublicKey, Signature};
use glitter_host::account::author_arg;
use glitter_host::backup::owner::check_plan;
use glitter_host::backup::{self, start_backup};
use glitter_host::os;
use libp2p::PeerId;
use tokio::sync::oneshot;

/// A backup waiting for its custodians' answers.
pub(super) struct Job {
    pub(super) id: u64,
    reply: Option<oneshot::Sender<Response>>,
    lines: Vec<String>,
    custodians: Vec<PublicKey>,
    outcome: Vec<Option<std::result::Result<u64, String>>>,
    version: u64,
    manifest_seq: u64,
    manifest_id: Hash,
    threshold: u8,
}

impl Runtime {
    /// `glitter node backup-status`.
    pub(in crate::runtime) fn backup_status(&mut self) -> Result<Response, RequestError> {
        let chain = own_blocks(&mut self.node, &self.keys.public())?;
        Ok(Response::ok(
            backup::status_lines(&chain),
            serde_json::Value::Null,
        ))
    }

    /// `glitter node backup`: starts a backup; the answer goes to `reply` once every
    /// custodian has answered (or at once, on an error before anything is sent).
    pub(in crate::runtime) fn on_backup_request(
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
    pub(super) fn check_receipt(
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

    pub(super) fn job_answer(
        &mut self,
        job: u64,
        index: usize,
        outcome: std::result::Result<u64, String>,
    ) {
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
