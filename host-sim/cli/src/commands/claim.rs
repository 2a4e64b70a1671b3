//! `glitter claim …` (prove a claim and append it to your chain) and
//! `glitter verify-claim AUTHOR:SEQ` (check a stored claim block). Offline: both work
//! on the data directory and refuse while a node runs there.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use glitter_core::social::Payload;
use glitter_core::zk::{Claim, ClaimBackend, ClaimSet, ClaimStatement};
use glitter_host::account::author_arg;
use glitter_host::claims::{self, Chains, ClaimVerifier, Verdict};
use glitter_host::datadir::DataDir;
use glitter_host::os;
use rand_core::SeedableRng;

/// What a claim says (`glitter claim …`).
#[derive(Debug, Subcommand)]
pub enum ClaimCommand {
    /// "I know the secret key of this chain" (a Schnorr proof).
    Key(ClaimText),
    /// "I am one of the authors whose chain has at least N posts", in zero knowledge:
    /// the set is the authors you follow (and you) whose chain has an N-th post,
    /// as stored here; a verifier holding the same chains recomputes it.
    PostCount {
        /// The least number of posts (1 or more).
        #[arg(long, value_name = "N")]
        min_posts: u16,
        /// What the claim says and where it counts.
        #[command(flatten)]
        text: ClaimText,
        /// Who proves, and whether the claim is linkable.
        #[command(flatten)]
        proving: SetProving,
    },
    /// "I am one of these keys", in zero knowledge (the verifier gives the same set).
    Member {
        /// A member's key, 64 hex digits (repeat; your own key must be one).
        #[arg(long = "member", value_name = "KEY", required = true)]
        members: Vec<String>,
        /// What the claim says and where it counts.
        #[command(flatten)]
        text: ClaimText,
        /// Who proves, and whether the claim is linkable.
        #[command(flatten)]
        proving: SetProving,
    },
}

/// The options of a set claim (`post-count`, `member`): its tag and its prover.
#[derive(Debug, Args)]
pub struct SetProving {
    /// Leave out the linkable tag (then a second claim by you in this context
    /// cannot be told from another member's).
    #[arg(long)]
    pub unlinkable: bool,
    /// Prove with the identity of this data directory instead (your real one),
    /// publishing on --data-dir's chain (a pseudonym that follows the candidates):
    /// a claim on your own chain says who published it.
    #[arg(long, value_name = "DIR")]
    pub prove_with: Option<std::path::PathBuf>,
}

/// The context and message of a claim.
#[derive(Debug, Args)]
pub struct ClaimText {
    /// The context: who asks, and what for (at most 32 bytes). Linkable claims by one
    /// member in one context carry the same tag.
    #[arg(long, value_name = "C")]
    pub context: String,
    /// The message the proof vouches for (at most 32 bytes).
    #[arg(long, value_name = "M", default_value = "")]
    pub message: String,
}

/// `glitter verify-claim AUTHOR:SEQ [--member KEY…]`.
#[derive(Debug, Args)]
pub struct VerifyClaimArgs {
    /// The claim block, as AUTHOR:SEQ (stored here).
    #[arg(value_name = "AUTHOR:SEQ")]
    pub block: String,
    /// For a member claim, the set to check against (repeat).
    #[arg(long = "member", value_name = "KEY")]
    pub members: Vec<String>,
}

fn keys_arg(members: &[String]) -> Result<Vec<glitter_core::sig::PublicKey>> {
    let mut keys = members
        .iter()
        .map(|m| author_arg(m))
        .collect::<Result<Vec<_>, _>>()?;
    keys.sort();
    keys.dedup();
    Ok(keys)
}

/// A short description of a claim's statement.
pub fn statement_words(claim: &Claim) -> String {
    match &claim.statement {
        ClaimStatement::KnowsKey { .. } => "control of its key".into(),
        ClaimStatement::RingMember { members } => {
            format!("membership in a ring of {}", members.len())
        }
        ClaimStatement::PostCount { posts, .. } => format!("at least {posts} posts (placeholder)"),
        ClaimStatement::Member { n, linkable, .. } => {
            format!("one of a set of {n} keys{}", tag_words(*linkable))
        }
        ClaimStatement::PostCountMember {
            min_posts,
            n,
            linkable,
            ..
        } => format!(
            "one of the {n} authors whose chain has at least {min_posts} posts{}",
            tag_words(*linkable)
        ),
    }
}

fn tag_words(linkable: bool) -> &'static str {
    if linkable { ", linkable" } else { "" }
}

/// `glitter claim …`: proves the claim and appends it to your chain.
///
/// # Errors
/// No identity, bad arguments, you are not in the set, or a store error.
pub fn run(data: &DataDir, cmd: ClaimCommand) -> Result<Vec<String>> {
    let own = data.identity()?;
    let me = own.public();
    // The key that proves: the publisher's own, or another directory's identity.
    let prover = |dir: &Option<std::path::PathBuf>| -> Result<glitter_core::KeyPair> {
        match dir {
            Some(d) => Ok(DataDir::open_existing(d)
                .with_context(|| format!("--prove-with {}", d.display()))?
                .identity()?),
            None => Ok(own.clone()),
        }
    };
    let mut rng = rand_chacha::ChaCha20Rng::from_seed(os::random32()?);
    let (claim, note) = match cmd {
        ClaimCommand::Key(text) => (
            Claim::knows_key(
                ClaimBackend::Dalek,
                &me,
                &own,
                text.context.as_bytes(),
                text.message.as_bytes(),
                &mut rng,
            )?,
            String::new(),
        ),
        ClaimCommand::PostCount {
            min_posts,
            text,
            proving,
        } => {
            let keys = prover(&proving.prove_with)?;
            let chains = Chains::load(data)?;
            let (claim, snapshot) = claims::prove_post_count(
                &chains,
                &me,
                &keys,
                min_posts,
                !proving.unlinkable,
                text.context.as_bytes(),
                text.message.as_bytes(),
                &mut rng,
            )?;
            (claim, format!(", a set of {}", snapshot.members.len()))
        }
        ClaimCommand::Member {
            members,
            text,
            proving,
        } => {
            let keys = prover(&proving.prove_with)?;
            let members = keys_arg(&members)?;
            let claim = claims::prove_set(
                &ClaimSet::Members(&members),
                !proving.unlinkable,
                &me,
                &keys,
                text.context.as_bytes(),
                text.message.as_bytes(),
                &mut rng,
            )?;
            (claim, format!(", a set of {}", members.len()))
        }
    };
    let words = statement_words(&claim);
    let proof_len = claim.proof.len();
    let h = data.append_own(&Payload::Claim(claim), os::now_ms())?;
    Ok(vec![format!(
        "claimed {words} as block {} ({proof_len}-byte proof{note})",
        h.seq
    )])
}

/// `glitter verify-claim AUTHOR:SEQ`: the verdict on a stored claim block, with every
/// stored claim before it checked (double claims) and post-count sets recomputed.
///
/// # Errors
/// A malformed AUTHOR:SEQ, no such claim block, or any verdict but valid (the error
/// says which).
pub fn verify(data: &DataDir, args: VerifyClaimArgs) -> Result<Vec<String>> {
    let (author, seq) = args
        .block
        .split_once(':')
        .context("the claim block must be given as AUTHOR:SEQ")?;
    let author = author_arg(author)?;
    let seq: u64 = seq.parse().context("SEQ must be a number")?;
    let chains = Chains::load(data)?;
    let mut verifier = if args.members.is_empty() {
        ClaimVerifier::new()
    } else {
        ClaimVerifier::with_members(keys_arg(&args.members)?)
    };
    let verdict = claims::verify_stored(&chains, &mut verifier, &author, seq)?;
    let line = format!("claim {author}:{seq}: {}", verdict.describe());
    match &verdict {
        Verdict::Valid { claim, .. } => Ok(vec![
            format!("claim {author}:{seq}: {}", statement_words(claim)),
            format!(
                "context {:?}, message {:?}",
                String::from_utf8_lossy(&claim.context),
                String::from_utf8_lossy(&claim.message)
            ),
            line,
        ]),
        _ => anyhow::bail!(line),
    }
}
