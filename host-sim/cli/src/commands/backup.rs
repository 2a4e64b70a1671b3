//! `glitter backup …` and `glitter restore`: backups to custodians given as data
//! directories or node addresses, over the shared engine in `glitter_host::backup`.

use anyhow::{Context, Result, bail};
use glitter_core::backup::seal::{RequesterKey, SealedShare};
use glitter_core::sig::PublicKey;
use glitter_core::wire::header::{HEADER_LEN, Header};
use glitter_host::account::parse_author;
use glitter_host::backup::OwnDir;
use glitter_host::backup::catch_up::{self, HeadReport, NotYet, Standing};
use glitter_host::backup::{
    Custody, OwnChain, Response, read_custody, restore, start_backup, status_lines, write_custody,
};
use glitter_host::chainfile::VerifiedChain;
use glitter_host::datadir::DataDir;
use glitter_host::os;
use std::path::{Path, PathBuf};

/// `glitter backup …` subcommands (embed in the top-level clap enum).
#[derive(Debug, clap::Subcommand)]
pub enum BackupCommand {
    /// Back up your identity and chain to custodians (k of them restore you).
    ///
    /// Each custodian is given as its data directory (a stand-in for sending the
    /// package over the network). Custodians not yet trusted get a Trust block.
    Create {
        /// A custodian's data directory (repeat for each; 2 to 16).
        #[arg(long = "custodian", value_name = "DIR", required = true)]
        custodians: Vec<PathBuf>,
        /// How many custodians are needed to restore (2 ≤ k ≤ n).
        #[arg(long, value_name = "K")]
        threshold: u8,
    },
    /// Show the latest backup: version, threshold, ranges, and what is not yet backed up.
    Status,
}

/// Arguments of `glitter restore`.
#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// The public key of the identity to restore (64 hex digits).
    #[arg(long, value_name = "AUTHOR")]
    pub owner: String,
    /// A custodian (repeat; at least k must answer): a running node's address
    /// (`/ip4/…/tcp/…`, the device then prints a code for the custodians to approve), or
    /// a custodian's data directory.
    #[arg(long = "custodian", value_name = "MULTIADDR|DIR", required = true)]
    pub custodians: Vec<String>,
    /// A peer holding a copy of the chain (repeat): a node's address or a data
    /// directory. The restored device learns the latest head from these (and from
    /// custodians given by address) before anything can be appended.
    #[arg(long = "peer", value_name = "MULTIADDR|DIR")]
    pub peers: Vec<String>,
    /// How long to wait for custodians to approve the device code, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 900)]
    pub wait: u64,
}

/// A network address rather than a directory: a multiaddr starting with `/ip4/`,
/// `/ip6/`, `/dns/`, `/dns4/` or `/dns6/`.
fn as_multiaddr(s: &str) -> Option<Result<libp2p::Multiaddr>> {
    ["/ip4/", "/ip6/", "/dns/", "/dns4/", "/dns6/"]
        .iter()
        .any(|p| s.starts_with(p))
        .then(|| {
            s.parse::<libp2p::Multiaddr>()
                .with_context(|| format!("{s}: not a valid address"))
        })
}

/// Fails unless `dir` is an existing directory (a typo must not create one).
fn existing_dir(dir: &Path) -> Result<()> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => bail!("{}: not a directory", dir.display()),
        Err(e) => Err(e).with_context(|| format!("{}: no such data directory", dir.display())),
    }
}

/// Splits `glitter restore` targets into addresses and directories.
fn split_targets(all: &[String]) -> Result<(Vec<libp2p::Multiaddr>, Vec<PathBuf>)> {
    let mut addrs = Vec::new();
    let mut dirs = Vec::new();
    for s in all {
        match as_multiaddr(s) {
            Some(a) => addrs.push(a?),
            None => dirs.push(PathBuf::from(s)),
        }
    }
    Ok((addrs, dirs))
}

/// `glitter backup create` and `glitter backup status` on the data directory `dir`.
///
/// # Errors
/// A one-line reason naming the directory or custodian at fault.
pub fn run_backup(dir: &Path, cmd: BackupCommand, now_ms: u64) -> Result<Vec<String>> {
    let data = DataDir::open(dir)?;
    let keys = data.identity()?;
    let owner = keys.public();
    let mut own = OwnDir { dir: &data, now_ms };
    let mut out = Vec::new();
    match cmd {
        BackupCommand::Status => out.extend(status_lines(
            &own.own_blocks().map_err(anyhow::Error::from_boxed)?,
        )),
        BackupCommand::Create {
            custodians,
            threshold,
        } => {
            let mut ckeys = Vec::new();
            for c in &custodians {
                existing_dir(c).with_context(|| format!("custodian {}", c.display()))?;
                let k = DataDir::open(c)
                    .and_then(|d| d.identity())
                    .with_context(|| format!("custodian {}", c.display()))?;
                ckeys.push(k);
            }
            let cpubs: Vec<PublicKey> = ckeys.iter().map(|k| k.public()).collect();
            let started = start_backup(&mut own, &keys, &cpubs, threshold, os::random32()?)?;
            for (c, seq) in &started.trusted {
                out.push(format!("trusted {c} as custodian (block {seq})"));
            }
            let p = &started.prepared;
            for (i, (ck, dirp)) in ckeys.iter().zip(&custodians).enumerate() {
                let old = read_custody(dirp, &owner).ok().flatten();
                let (Some(share), Some(records)) = (p.shares.get(i), p.new_records.get(i)) else {
                    continue;
                };
                let c = Custody::receive(
                    ck,
                    owner,
                    started.manifest_block.clone(),
                    *share,
                    records.clone(),
                    old.as_ref(),
                )
                .with_context(|| format!("custodian {} refused the package", dirp.display()))?;
                write_custody(dirp, &c)?;
                let bytes: usize = c.records.iter().map(Vec::len).sum::<usize>() + SealedShare::LEN;
                out.push(format!(
                    "custodian #{} {} holds {bytes} bytes",
                    i + 1,
                    dirp.display()
                ));
            }
            out.push(started.summary());
        }
    }
    Ok(out)
}

/// `glitter restore`: restores an identity into the (identity-less) data directory
/// `dir` from custodians (running nodes by address, or data directories), then
/// catches up from peers (likewise) before writing anything.
///
/// # Errors
/// A one-line reason; refused shares are named with their custodian.
pub fn run_restore(dir: &Path, args: RestoreArgs) -> Result<Vec<String>> {
    let owner = parse_author(&args.owner)
        .with_context(|| format!("{:?} is not a 64-hex-digit key", args.owner))?;
    let (net_custodians, dir_custodians) = split_targets(&args.custodians)?;
    let (net_peers, dir_peers) = split_targets(&args.peers)?;
    let data = DataDir::open(dir)?;
    if data.identity().is_ok() {
        bail!(
            "{}: this data directory already has an identity; restore into an empty one",
            dir.display()
        );
    }
    let requester = RequesterKey::new(os::random32()?).context("device key")?;
    let mut out = Vec::new();
    let mut responses = Vec::new();
    for c in &dir_custodians {
        let answer = (|| -> Result<Option<Response>> {
            existing_dir(c)?;
            let me = DataDir::open_existing(c)?.identity()?;
            match read_custody(c, &owner)? {
                Some(cust) => Ok(Some(cust.respond(&me, &requester.public())?)),
                None => Ok(None),
            }
        })();
        match answer {
            Ok(Some(r)) => responses.push(r),
            Ok(None) => out.push(format!(
                "custodian {}: holds nothing for {owner}",
                c.display()
            )),
            Err(e) => out.push(format!("custodian {}: no answer ({e:#})", c.display())),
        }
    }
    let mut consulted = 0;
    let (restored, blocks) = if net_custodians.is_empty() && net_peers.is_empty() {
        if responses.is_empty() {
            // Say why each custodian gave nothing, rather than "no valid manifest".
            bail!(
                "restore failed: no custodian answered with a backup of {owner}: {}",
                out.join("; ")
            );
        }
        let restored = restore(owner, &requester, &responses).context("restore failed")?;
        for r in &restored.rejected {
            out.push(format!("refused: {r}"));
        }
        if let Some(why) = &restored.fell_back {
            out.push(format!(
                "the newest backup could not be restored ({why}); used an older version"
            ));
        }
        out.push(format!(
            "recovered the identity {owner} from backup version {} ({} of {} custodians)",
            restored.manifest.version,
            restored.manifest.threshold,
            restored.manifest.custodians.len()
        ));
        out.push(format!(
            "restored and verified blocks 1..={}",
            restored.chain.len()
        ));
        let blocks = restored.chain.clone();
        (restored, blocks)
    } else {
        // Lines are printed as they happen (the device code first of all).
        for l in out.drain(..) {
            let _ = crate::say(&l);
        }
        let net = glitter_net::restore_net::run(
            glitter_net::restore_net::RestoreJob {
                owner,
                requester: &requester,
                local: responses,
                custodians: &net_custodians,
                peers: &net_peers,
                wait: std::time::Duration::from_secs(args.wait),
            },
            &mut |l: &str| {
                let _ = crate::say(l);
            },
        )?;
        consulted += net.consulted;
        (net.restored, net.chain)
    };
    // Learn the latest head from peer directories, by the one catch-up rule: a peer
    // ahead of us supplies the blocks past ours, each verified before it is adopted.
    let mut headers: Vec<Header> = blocks.iter().map(|(h, _)| *h).collect();
    let mut payloads: Vec<Vec<u8>> = blocks.into_iter().map(|(_, p)| p).collect();
    for p in &dir_peers {
        let theirs = match existing_dir(p)
            .and_then(|()| Ok(DataDir::open_existing(p).and_then(|pd| pd.chain(&owner))?))
        {
            Ok(t) => t,
            Err(e) => {
                out.push(format!(
                    "peer {}: copy cannot be read ({e:#}); ignored",
                    p.display()
                ));
                continue;
            }
        };
        consulted += 1;
        let report = HeadReport {
            from: p,
            seq: theirs.headers.len() as u64,
            id: theirs.head().map(|h| h.id()).unwrap_or_default(),
        };
        let held = headers.len();
        let agrees = held == 0
            || theirs.headers.get(held - 1).map(|h| h.id()) == headers.last().map(|h| h.id());
        match catch_up::classify(&headers, &report) {
            Standing::Empty | Standing::Covered => {}
            Standing::Ahead(_) if agrees => {
                let incoming: Vec<([u8; HEADER_LEN], &[u8])> = theirs
                    .headers
                    .iter()
                    .zip(&theirs.payloads)
                    .skip(held)
                    .map_while(|(h, p)| Some((h.to_bytes(), p.as_deref()?)))
                    .collect();
                let (mut h2, mut p2) = (headers.clone(), payloads.clone());
                match catch_up::extend(
                    owner,
                    &mut h2,
                    &mut p2,
                    incoming.iter().map(|(h, p)| (&h[..], *p)),
                ) {
                    Ok(_) => {
                        out.push(format!(
                            "peer {}: newer head {} (was {held})",
                            p.display(),
                            h2.len()
                        ));
                        (headers, payloads) = (h2, p2);
                    }
                    Err((seq, e)) => out.push(format!(
                        "peer {}: block {seq} does not verify ({e}); ignored",
                        p.display()
                    )),
                }
            }
            Standing::Ahead(_) | Standing::Conflicts => out.push(format!(
                "peer {}: holds a conflicting chain (fork); ignored",
                p.display()
            )),
        }
    }
    if let Err(e @ NotYet::BelowManifest { .. }) =
        catch_up::may_append::<()>(&headers, restored.manifest_seq, &[], 0)
    {
        bail!("{e} (pass --peer); nothing written");
    }
    let chain = VerifiedChain {
        author: owner,
        headers,
        payloads: payloads.into_iter().map(Some).collect(),
    };
    if !data.import_into_new_image(&chain)? {
        data.import(&chain)?;
    }
    data.create_identity(restored.keys.seed())?;
    out.push(format!(
        "head is block {} after consulting {consulted} peer(s){}",
        chain.headers.len(),
        if consulted == 0 {
            "; WARNING: no peer consulted, newer blocks may exist: sync before posting"
        } else {
            ""
        }
    ));
    Ok(out)
}
