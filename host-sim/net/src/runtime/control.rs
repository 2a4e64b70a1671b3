//! The node's side of the control socket ([`crate::control`]): accepting connections,
//! reading one request each, and answering it from the node's state.
//!
//! Post, follow and unfollow are account actions ([`Action`]): the same payloads and
//! answer lines as the offline CLI's, plus the node's own steps (its follow table,
//! an announcement, the JSON data of the answer).

use super::Runtime;
use super::own::append_own;
use crate::control::{INFO_NAME, REQUEST_LEN_MAX, Request, Response, socket_path};
use crate::error::{NodeError, RequestError, host_line, one_line};
use glitter_core::sig::PublicKey;
use glitter_core::store::BlockLog;
use glitter_core::sync::SyncStore;
use glitter_core::wire::header::Header;
use glitter_host::account::{Action, Context, author_arg};
use glitter_host::datadir::{chain_from_log, write_atomic};
use glitter_host::feed;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};

/// Most posts one `post_many` request appends.
const POST_MANY_MAX: u32 = 100_000;

/// A request with the channel its answer goes back on.
pub(super) type ControlMsg = (Request, oneshot::Sender<Response>);

/// The socket's path, a sender for in-process requests, and the requests as they
/// arrive.
pub(super) type Listening = (
    PathBuf,
    mpsc::Sender<ControlMsg>,
    mpsc::Receiver<ControlMsg>,
);

/// Creates the control socket of `data_dir` (mode 0600 from creation; a stale one is replaced: the
/// caller holds the node lock) and accepts connections on it in the background.
pub(super) fn listen(data_dir: &Path) -> Result<Listening, NodeError> {
    let sock = socket_path(data_dir);
    let _ = std::fs::remove_file(&sock); // stale: we hold the lock, so no node uses it
    // The socket is created under umask 0177, so it is 0600 from the moment it
    // exists (a chmod afterwards would leave a window, 0777 under `umask 000`).
    #[cfg(unix)]
    let old_mask = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
    let bound = tokio::net::UnixListener::bind(&sock);
    #[cfg(unix)]
    nix::sys::stat::umask(old_mask);
    let listener = match bound {
        Ok(l) => l,
        Err(source) => return Err(NodeError::Socket { path: sock, source }),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Err(source) = std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600))
        {
            return Err(NodeError::SocketMode { path: sock, source });
        }
    }
    let (tx, rx) = mpsc::channel::<ControlMsg>(64);
    tokio::spawn(accept(listener, tx.clone()));
    Ok((sock, tx, rx))
}

async fn accept(listener: tokio::net::UnixListener, tx: mpsc::Sender<ControlMsg>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let tx = tx.clone();
        tokio::spawn(async move {
            let _ = serve(stream, tx).await;
        });
    }
}

/// One exchange: a request line in, the node's response line out.
async fn serve(
    stream: tokio::net::UnixStream,
    tx: mpsc::Sender<ControlMsg>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read.take(REQUEST_LEN_MAX as u64));
    let read = tokio::time::timeout(Duration::from_secs(10), reader.read_line(&mut line)).await;
    let response = match read {
        Err(_) => Response::err("control: no request within 10 s"),
        Ok(Err(e)) => Response::err(format!("control: cannot read the request: {e}")),
        Ok(Ok(_)) => match serde_json::from_str::<Request>(line.trim()) {
            Err(e) => Response::err(format!("control: not a request: {e}")),
            Ok(req) => {
                let (reply_tx, reply_rx) = oneshot::channel();
                if tx.send((req, reply_tx)).await.is_err() {
                    Response::err("control: the node is shutting down")
                } else {
                    reply_rx
                        .await
                        .unwrap_or_else(|_| Response::err("control: the node is shutting down"))
                }
            }
        },
    };
    let mut out = serde_json::to_string(&response).unwrap_or_else(|_| {
        r#"{"ok":false,"error":"control: cannot encode the response","lines":[],"data":null}"#
            .to_string()
    });
    out.push('\n');
    write.write_all(out.as_bytes()).await?;
    write.shutdown().await
}

impl Runtime {
    /// Handles a control request; a backup answers later, when its custodians have.
    pub(super) fn on_control_msg(&mut self, req: Request, reply: oneshot::Sender<Response>) {
        if let Request::Backup {
            custodians,
            threshold,
        } = &req
        {
            let (c, k) = (custodians.clone(), *threshold);
            self.on_backup_request(&c, k, reply);
            return;
        }
        let r = self
            .control(req)
            .unwrap_or_else(|e| Response::err(one_line(&e)));
        // What the request appended is durable before the answer says it is done.
        let r = match self.commit() {
            Ok(()) => r,
            Err(e) => {
                let r = Response::err(one_line(&e));
                self.fatal = Some(e);
                r
            }
        };
        let _ = reply.send(r);
    }

    fn control(&mut self, req: Request) -> Result<Response, RequestError> {
        match req {
            Request::Status => Ok(self.status()),
            Request::Post {
                text,
                reply_to,
                force,
            } => {
                let action = Action::Post {
                    text,
                    reply_to,
                    force,
                };
                let h = self.append_action(&action, "post")?;
                self.announce();
                Ok(Response::ok(
                    vec![action.done(&h)],
                    serde_json::json!({"seq": h.seq, "id": h.id().to_string()}),
                ))
            }
            Request::Profile { name, about } => {
                let action = Action::Profile { name, about };
                let h = self.append_action(&action, "profile")?;
                self.announce();
                Ok(Response::ok(
                    vec![action.done(&h)],
                    serde_json::json!({"seq": h.seq}),
                ))
            }
            Request::PostMany { count } => self.post_many(count),
            Request::Follow { author, force } => {
                let action = Action::Follow { author, force };
                // Checked first (yourself, already following), so a refused follow
                // leaves the follow table as it was.
                let payload = self.action_payload(&action, "follow")?;
                let a = match &payload {
                    glitter_core::social::Payload::Follow(f) => PublicKey(f.author),
                    _ => return Err(RequestError::FollowSelf),
                };
                if !self.node.follow(a) {
                    return Err(RequestError::FollowTableFull);
                }
                let h = append_own(&mut self.node, &self.keys, &payload)?.0;
                if !self.follows.contains(&a) {
                    self.follows.push(a);
                }
                self.refresh_owners();
                self.announce();
                Ok(Response::ok(
                    vec![action.done(&h)],
                    serde_json::json!({"seq": h.seq}),
                ))
            }
            Request::Unfollow { author, force } => {
                let a = author_arg(&author).map_err(RequestError::argument("unfollow"))?;
                let action = Action::Unfollow { author, force };
                let h = self.append_action(&action, "unfollow")?;
                self.node.unfollow(&a);
                self.follows.retain(|f| *f != a);
                self.refresh_owners();
                Ok(Response::ok(
                    vec![action.done(&h)],
                    serde_json::json!({"seq": h.seq}),
                ))
            }
            Request::Feed => self.feed(),
            Request::Head { author, seq } => self.head(&author, seq),
            Request::Peers => Ok(self.peers()),
            Request::Backup { .. } => Err(RequestError::Asynchronous),
            Request::BackupStatus => self.backup_status(),
            Request::Release {
                owner,
                code,
                valid_for_s,
            } => self.approve(&owner, &code, valid_for_s.unwrap_or(900)),
            Request::Custody => Ok(self.custody_list()),
            Request::CustodyAccept { owner } => self.custody_accept(&owner),
            Request::CustodyRevoke { owner, delete } => self.custody_revoke(&owner, delete),
            Request::Timeline { before, limit } => self.timeline(before.as_deref(), limit),
            Request::ShowPost { author, seq } => self.show_post(&author, seq),
            Request::Account => Ok(self.account()),
            Request::Author { author } => self.author(&author),
            Request::Claims => Ok(self.claims()),
            Request::Claim {
                kind,
                members,
                context,
                message,
            } => self.publish_claim(kind, &members, &context, &message),
            Request::Stop => {
                self.stop = true;
                Ok(Response::ok(
                    vec!["stopping".into()],
                    serde_json::Value::Null,
                ))
            }
        }
    }

    /// Appends the block of an account action (its payload built the one way,
    /// [`Action::payload`]; a reply looked up in the node's store).
    fn append_action(
        &mut self,
        action: &Action,
        what: &'static str,
    ) -> Result<Header, RequestError> {
        let payload = self.action_payload(action, what)?;
        Ok(append_own(&mut self.node, &self.keys, &payload)?.0)
    }

    /// The payload of an account action, checked against the node's own chain (its
    /// key and follow list) by the one rule, [`Action::payload`].
    fn action_payload(
        &mut self,
        action: &Action,
        what: &'static str,
    ) -> Result<glitter_core::social::Payload, RequestError> {
        let ctx = Context {
            me: self.keys.public(),
            follows: &self.follows,
        };
        let store = self.node.store();
        action
            .payload(ctx, |a, seq| store.header(a, seq))
            .map_err(RequestError::argument(what))
    }

    /// `post_many`: `count` posts at once (benchmarks), announced once.
    fn post_many(&mut self, count: u32) -> Result<Response, RequestError> {
        if count > POST_MANY_MAX {
            return Err(RequestError::TooManyPosts { max: POST_MANY_MAX });
        }
        if count == 0 {
            let head = self
                .node
                .store()
                .head(&self.keys.public())
                .map_or(0, |h| h.seq);
            return Ok(Response::ok(
                vec![format!("nothing posted: count is 0 (head stays at {head})")],
                serde_json::json!({"seq": head}),
            ));
        }
        let mut last = 0;
        for i in 0..count {
            let action = Action::Post {
                text: format!("bench post {i}"),
                reply_to: None,
                force: false,
            };
            last = self.append_action(&action, "post")?.seq;
        }
        self.announce();
        Ok(Response::ok(
            vec![format!("posted {count} blocks (head now {last})")],
            serde_json::json!({"seq": last}),
        ))
    }

    fn head(&mut self, author: &str, seq: Option<u64>) -> Result<Response, RequestError> {
        let a = author_arg(author).map_err(RequestError::argument("head"))?;
        let head = self.node.store().head(&a).map_or(0, |h| h.seq);
        let seq = seq.unwrap_or(head);
        let id = self
            .node
            .store()
            .header(&a, seq)
            .map(|h| h.id().to_string());
        Ok(Response::ok(
            vec![match &id {
                Some(id) => format!("{a}: seq {seq} id {id} (head {head})"),
                None => format!("{a}: block {seq} not stored (head {head})"),
            }],
            serde_json::json!({"seq": seq, "id": id, "head": head}),
        ))
    }

    fn feed(&mut self) -> Result<Response, RequestError> {
        let authors: Vec<PublicKey> = self.node.store_ref().log_ref().authors().collect();
        let mut chains = Vec::new();
        for a in authors {
            let chain =
                chain_from_log(self.node.store().log(), &a).map_err(RequestError::host("feed"))?;
            chains.push(chain);
        }
        let mut lines = Vec::new();
        for f in self.node.forks() {
            lines.push(format!(
                "!! {} FORKED at seq {}: blocks from there on are disputed",
                f.author(),
                f.seq()
            ));
        }
        if chains.is_empty() {
            lines.push("(no chains yet: glitter node post, glitter node follow)".into());
        }
        lines.extend(feed::render(&chains));
        let blocks: usize = chains.iter().map(|c| c.headers.len()).sum();
        Ok(Response::ok(lines, serde_json::json!({"blocks": blocks})))
    }

    fn status(&mut self) -> Response {
        let me = self.keys.public();
        let mut heads = serde_json::Map::new();
        let mut authors = vec![me];
        authors.extend(self.follows.iter().copied());
        for a in &authors {
            let seq = self.node.store().head(a).map_or(0, |h| h.seq);
            heads.insert(a.to_string(), serde_json::json!(seq));
        }
        let s = *self.node.stats();
        let usage = self.node.store_ref().log_ref().usage();
        let group = self.node.store_ref().log_ref().flash().group_stats();
        let core = serde_json::json!({
            "blocks_stored": s.blocks_stored,
            "duplicates": s.duplicates,
            "out_of_order": s.out_of_order,
            "parked": s.parked,
            "invalid": s.invalid,
            "unsolicited": s.unsolicited,
            "from_banned": s.from_banned,
            "outbox_full": s.outbox_full,
            "store_full": s.store_full,
            "wants_sent": s.wants_sent,
            "forks": s.forks,
            "forks_ignored": s.forks_ignored,
            "forks_replayed": s.forks_replayed,
            "unbacked": s.unbacked,
            "peers": self.node.peer_count(),
        });
        let per_ip = self.swarm.behaviour().ip_limits.stats();
        let (device_lines, devices) = self.devices_status();
        let mut lines = vec![
            format!("author   {me}"),
            format!("peer id  {}", self.swarm.local_peer_id()),
            format!(
                "listen   {}",
                self.listen
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            format!("peers    {} connected", self.connected.len()),
            format!(
                "conns    {} established; inbound from {} addresses, at most {} from one \
                 (limit {}), {} refused by that limit",
                self.swarm
                    .network_info()
                    .connection_counters()
                    .num_established(),
                per_ip.ips,
                per_ip.busiest,
                per_ip.max,
                per_ip.denied
            ),
            format!(
                "store    {} blocks, {} authors, {} of {} flash bytes used",
                usage.blocks, usage.authors, usage.flash_bytes_used, usage.flash_bytes
            ),
            format!(
                "sync     {} blocks replicated, {} invalid, {} wants sent",
                s.blocks_stored, s.invalid, s.wants_sent
            ),
            match group {
                Some(g) => format!(
                    "durable  group commit: {} commits, {} pages, journal full {} times",
                    g.commits, g.pages, g.journal_wraps
                ),
                None => "durable  no fsync (a power cut may lose recent blocks)".into(),
            },
            format!(
                "quota    {} blocks per author; {} refused{}",
                self.node.store_ref().quota.blocks_per_author,
                self.node.store_ref().quota_refused,
                self.node
                    .store_ref()
                    .last_error
                    .as_deref()
                    .map(|e| format!(" (last: {})", feed::safe_text(e)))
                    .unwrap_or_default()
            ),
        ];
        lines.extend(device_lines);
        Response::ok(
            lines,
            serde_json::json!({
                "author": me.to_string(),
                "peer_id": self.swarm.local_peer_id().to_string(),
                "listen": self.listen.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                "connected": self.connected.len(),
                "connections": self.swarm.network_info().connection_counters().num_established(),
                "inbound_per_ip": per_ip,
                "heads": heads,
                "blocks": usage.blocks,
                "core": core,
                "net": self.stats,
                "store_errors": self.node.store_ref().append_errors,
                "group_commit": group.map(|g| serde_json::json!({
                    "commits": g.commits,
                    "pages": g.pages,
                    "journal_wraps": g.journal_wraps,
                })),
                "quota_refused": self.node.store_ref().quota_refused,
                "fetch_refused": self.backup.fetch_refused,
                "prompts_suppressed": self.backup.prompts_suppressed,
                "devices": devices,
            }),
        )
    }

    fn peers(&mut self) -> Response {
        let now = self.now_ms();
        let mut rows = Vec::new();
        let mut lines = Vec::new();
        let topic = self.topic.hash();
        let subscribed: std::collections::HashSet<libp2p::PeerId> = self
            .swarm
            .behaviour()
            .gossipsub
            .all_peers()
            .filter(|(_, topics)| topics.contains(&&topic))
            .map(|(p, _)| *p)
            .collect();
        let mesh: std::collections::HashSet<libp2p::PeerId> = self
            .swarm
            .behaviour()
            .gossipsub
            .mesh_peers(&topic)
            .copied()
            .collect();
        for (pid, id) in self.peers.connected() {
            let score = self.node.peer_score(id);
            let banned = self.node.is_banned(id, now);
            let gossip = self.swarm.behaviour().gossipsub.peer_score(&pid);
            // A device's row: its key, and its link's state.
            let device = self.devices.by_peer(&pid);
            let connected = device.map_or(self.connected.contains(&pid), |d| d.connected);
            let author = device
                .and_then(|d| d.key)
                .or_else(|| self.backup.author_of(&pid));
            lines.push(format!(
                "{pid} author {} core#{id} score {} gossipsub {} {}{}",
                author.map_or("?".to_string(), |a| a.to_string()),
                score.map_or("-".to_string(), |s| s.to_string()),
                gossip.map_or("-".to_string(), |s| format!("{s:.1}")),
                if connected {
                    "connected"
                } else {
                    "not connected"
                },
                if banned { " BANNED" } else { "" }
            ));
            rows.push(serde_json::json!({
                "peer_id": pid.to_string(),
                "author": author.map(|a| a.to_string()),
                "core_id": id,
                "core_score": score,
                "banned": banned,
                "gossipsub_score": gossip,
                "connected": connected,
                "gossip_subscribed": subscribed.contains(&pid),
                "gossip_mesh": mesh.contains(&pid),
                "device": device.map(|d| d.spec.to_string()),
            }));
        }
        Response::ok(lines, serde_json::Value::Array(rows))
    }

    /// Writes `<data-dir>/node.json` (author, peer id, listen addresses, control
    /// socket, pid); a failure is told to the operator, the node runs on.
    pub(super) fn write_info(&mut self) {
        let info = serde_json::json!({
            "author": self.keys.public().to_string(),
            "peer_id": self.swarm.local_peer_id().to_string(),
            "listen": self.listen.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            "control": socket_path(&self.data_dir),
            "pid": std::process::id(),
            "web_url": self.web_url,
        });
        let path = self.data_dir.join(INFO_NAME);
        if let Err(e) = write_atomic(&path, info.to_string().as_bytes(), false) {
            self.out.line(&format!("glitter node: {}", host_line(e)));
        }
    }
}
