//! The custodian's consent and quotas on a running node: whom it holds backups for
//! (the one rule, [`CustodyPolicy::admits`], over the accepted owners and the follow
//! table), `glitter node custody accept|revoke`, the listing, and the backup codecs'
//! gate (large packages only from connected owners the node admits, and none larger
//! than the per-owner quota).

use super::{CUSTODIES_MAX, Runtime};
use crate::backup_proto::{DELIVER_FRAMING_MAX, FRAME_LEN_MAX};
use crate::control::Response;
use crate::error::{PackageError, RequestError, host_line};
use glitter_core::sig::PublicKey;
use glitter_host::account::author_arg;
use glitter_host::backup::{
    CustodyPolicy, custody_usage, delete_custody, holds_custody, read_custody,
};
use glitter_host::os;

impl Runtime {
    /// Whether this node holds backups for `owner`: accepted by the operator, or
    /// followed under `--custody-policy follows`.
    pub(super) fn admits(&self, owner: &PublicKey) -> bool {
        self.backup
            .policy
            .admits(&self.backup.accepted, &self.follows, owner)
    }

    /// The refusal for an owner this node does not hold backups for.
    pub(super) fn not_accepted(&self, owner: PublicKey) -> PackageError {
        PackageError::NotAccepted {
            me: self.keys.public(),
            owner,
            follows: self.backup.policy == CustodyPolicy::Follows,
        }
    }

    /// Tells the backup codecs which connected peers are owners this node admits: only
    /// they may send packages larger than `SMALL_FRAME_MAX`.
    pub(in crate::runtime) fn refresh_owners(&mut self) {
        let owners = self
            .backup
            .authors
            .iter()
            .filter(|(_, a)| self.admits(a))
            .map(|(p, _)| *p);
        self.swarm.behaviour().backup.gate().set_owners(owners);
    }

    /// At start: no package larger than the per-owner quota (and its framing) is read,
    /// and the operator is told the custody rules.
    pub(in crate::runtime) fn start_custody(&mut self) {
        let q = self.backup.quota;
        let max = usize::try_from(q.per_owner)
            .unwrap_or(usize::MAX)
            .saturating_add(DELIVER_FRAMING_MAX)
            .min(FRAME_LEN_MAX);
        self.swarm.behaviour().backup.gate().set_package_max(max);
        let line = format!(
            "custody: policy {}, {} owner(s) accepted, quota {} bytes per owner and {} in total",
            self.backup.policy.name(),
            self.backup.accepted.owners().len(),
            q.per_owner,
            q.total
        );
        self.out.line(&line);
    }

    /// `glitter node custody accept OWNER`: holds `owner`'s backups from now on (the
    /// consent list is written before the answer).
    pub(in crate::runtime) fn custody_accept(
        &mut self,
        owner: &str,
    ) -> Result<Response, RequestError> {
        let owner = author_arg(owner).map_err(RequestError::argument("owner"))?;
        let me = self.keys.public();
        let added = self
            .backup
            .accepted
            .accept(&self.data_dir, &me, owner)
            .map_err(RequestError::host("custody accept"))?;
        self.refresh_owners();
        let q = self.backup.quota;
        let line = if added {
            format!(
                "accepted custody of {owner}: its backups are kept, up to {} bytes (of {} in total)",
                q.per_owner, q.total
            )
        } else {
            format!("custody of {owner} was already accepted")
        };
        Ok(Response::ok(
            vec![line],
            serde_json::json!({"owner": owner.to_string(), "added": added}),
        ))
    }

    /// `glitter node custody revoke OWNER [--delete]`: new versions from `owner` are
    /// refused; what is held is kept (and can still be released for a restore) unless
    /// `delete`.
    pub(in crate::runtime) fn custody_revoke(
        &mut self,
        owner: &str,
        delete: bool,
    ) -> Result<Response, RequestError> {
        let owner = author_arg(owner).map_err(RequestError::argument("owner"))?;
        let was = self.backup.accepted.contains(&owner);
        if !(was || delete && holds_custody(&self.data_dir, &owner)) {
            return Err(RequestError::NotAccepted { owner });
        }
        self.backup
            .accepted
            .revoke(&self.data_dir, &owner)
            .map_err(RequestError::host("custody revoke"))?;
        self.refresh_owners();
        let mut lines = Vec::new();
        if was {
            lines.push(format!(
                "revoked custody of {owner}: new backups from it are refused"
            ));
        }
        let deleted = delete
            && delete_custody(&self.data_dir, &owner).map_err(RequestError::host("custody"))?;
        if deleted {
            self.backup.approvals.retain(|a| a.owner != owner);
            lines.push(format!("deleted the backup of {owner} this node held"));
        } else if let Ok(Some(c)) = read_custody(&self.data_dir, &owner) {
            lines.push(format!(
                "the backup version {} held for {owner} is kept and can still be released \
                 for a restore (--delete removes it)",
                c.manifest.version
            ));
        }
        if self.admits(&owner) {
            lines.push(format!(
                "note: this node follows {owner} and runs with --custody-policy follows, so \
                 its backups are still accepted"
            ));
        }
        Ok(Response::ok(
            lines,
            serde_json::json!({"owner": owner.to_string(), "revoked": was, "deleted": deleted}),
        ))
    }

    /// `glitter node custody`: the custody rules, the backups this node keeps, the
    /// owners it accepted, and open approvals.
    pub(in crate::runtime) fn custody_list(&mut self) -> Response {
        let q = self.backup.quota;
        let mut lines = Vec::new();
        let (usage, total) = match custody_usage(&self.data_dir) {
            Ok(u) => {
                let t = u.total;
                (u, Some(t))
            }
            Err(e) => {
                lines.push(format!("cannot measure custody: {}", host_line(e)));
                (Default::default(), None)
            }
        };
        lines.insert(
            0,
            format!(
                "custody policy {}: {} owner(s) accepted; {} of {} bytes held (at most {} per owner)",
                self.backup.policy.name(),
                self.backup.accepted.owners().len(),
                total.map_or("?".to_string(), |t| t.to_string()),
                q.total,
                q.per_owner
            ),
        );
        let mut rows = Vec::new();
        let mut owners: Vec<PublicKey> = usage.owners.iter().map(|(o, _)| *o).collect();
        owners.sort_by_key(|o| o.0);
        owners.truncate(CUSTODIES_MAX);
        for owner in owners {
            let admitted = self.admits(&owner);
            let bytes = usage.of(&owner);
            match read_custody(&self.data_dir, &owner) {
                Ok(Some(c)) => {
                    lines.push(format!(
                        "{owner}: backup version {} (block {}), {} of {} restore, {bytes} bytes{}",
                        c.manifest.version,
                        c.manifest_block.0.seq,
                        c.manifest.threshold,
                        c.manifest.custodians.len(),
                        if admitted {
                            ""
                        } else {
                            "; not accepted: new versions are refused"
                        }
                    ));
                    rows.push(serde_json::json!({
                        "owner": owner.to_string(),
                        "version": c.manifest.version,
                        "bytes": bytes,
                        "accepted": admitted,
                    }));
                }
                Ok(None) => {}
                Err(e) => lines.push(format!("{owner}: DAMAGED: {}", host_line(e))),
            }
        }
        if rows.is_empty() {
            lines.push("this node keeps no backups".into());
        }
        for o in self.backup.accepted.owners() {
            if usage.of(o) == 0 {
                lines.push(format!("accepted: {o} (nothing held yet)"));
            }
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
        let accepted: Vec<String> = self
            .backup
            .accepted
            .owners()
            .iter()
            .map(ToString::to_string)
            .collect();
        Response::ok(
            lines,
            serde_json::json!({
                "policy": self.backup.policy.name(),
                "accepted": accepted,
                "held": rows,
                "bytes": total,
                "quota_per_owner": q.per_owner,
                "quota_total": q.total,
            }),
        )
    }
}
