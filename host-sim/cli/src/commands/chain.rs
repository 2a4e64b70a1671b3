//! `glitter feed`, `export`, `import`, `verify` and `fsck`: the chains a data
//! directory holds, chain files, and the image's health.

use anyhow::{Context, Result, bail};
use glitter_host::account::author_arg;
use glitter_host::chainfile::{ChainFile, read_verified};
use glitter_host::datadir::{DataDir, IMAGE_FILE, ImportOutcome, write_atomic};
use glitter_host::feed;
use glitter_host::image_state::Session;
use std::path::Path;

/// `glitter feed`: every stored chain, oldest block first, forks flagged.
///
/// # Errors
/// If the image cannot be read.
pub fn feed(data: &DataDir) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut chains = Vec::new();
    for a in data.authors()? {
        chains.push(data.chain(&a)?);
    }
    if chains.is_empty() {
        out.push("(no chains yet: glitter keygen, glitter post, glitter import)".into());
    }
    for (author, seq) in data.forks()? {
        out.push(format!(
            "!! {author} FORKED at seq {seq}: blocks from there on are disputed"
        ));
    }
    out.extend(feed::render(&chains));
    Ok(out)
}

/// `glitter export FILE [--author KEY]`.
///
/// # Errors
/// A bad key, no chain stored, or a write failure.
pub fn export(data: &DataDir, file: &Path, author: Option<String>) -> Result<Vec<String>> {
    let a = match author {
        Some(a) => author_arg(&a)?,
        None => data.identity()?.public(),
    };
    let chain = data.chain(&a)?;
    if chain.headers.is_empty() {
        bail!("no chain stored for {a}");
    }
    write_atomic(file, &ChainFile::from_chain(&chain).to_bytes(), false)?;
    Ok(vec![format!(
        "exported {} blocks of {a} to {}",
        chain.headers.len(),
        file.display()
    )])
}

/// `glitter import FILE`: verifies, then stores (an invalid file changes nothing).
///
/// # Errors
/// The file's framing or first invalid block, or a fork with the stored chain.
pub fn import(data: &DataDir, file: &Path) -> Result<Vec<String>> {
    let chain = read_verified(file)?;
    let outcome = data
        .import(&chain)
        .with_context(|| format!("{}", file.display()))?;
    Ok(vec![match outcome {
        ImportOutcome::New { blocks } => format!("imported {blocks} blocks of {}", chain.author),
        ImportOutcome::Extended { added } => format!("added {added} blocks to {}", chain.author),
        ImportOutcome::UpToDate => format!("{} already up to date", chain.author),
    }])
}

/// `glitter verify FILE`: author, length and head, or the failing block.
///
/// # Errors
/// The file's framing or first invalid block.
pub fn verify(file: &Path) -> Result<Vec<String>> {
    let chain = read_verified(file)?;
    Ok(vec![
        format!("ok: {}", file.display()),
        format!("author: {}", chain.author),
        format!("blocks: {}", chain.headers.len()),
        match chain.head() {
            Some(h) => format!("head: seq {} id {}", h.seq, h.id()),
            None => "head: (empty chain)".to_string(),
        },
    ])
}

/// `glitter fsck` flags.
#[derive(Debug, Default, clap::Args)]
pub struct FsckArgs {
    /// Repair a damaged image: keep a copy (`chain.img.damaged-<n>`), keep every
    /// block that still verifies, and say exactly which blocks could not be kept.
    #[arg(long, conflicts_with = "reformat")]
    pub repair: bool,
    /// Replace the image with an empty one (a copy is kept). Needs `--yes`.
    #[arg(long)]
    pub reformat: bool,
    /// Confirm `--reformat`.
    #[arg(long, requires = "reformat")]
    pub yes: bool,
}

/// `glitter fsck`: what a read-only mount finds and the usage figures; with
/// `--repair` or `--reformat --yes`, the explicit ways to rewrite a damaged image.
///
/// # Errors
/// If the image cannot be opened, or is damaged (the error names the damage).
pub fn fsck(data: &DataDir, args: &FsckArgs) -> Result<Vec<String>> {
    let image = data.root().join(IMAGE_FILE);
    if args.reformat {
        if !args.yes {
            let blocks = data
                .fsck()
                .ok()
                .flatten()
                .map_or("an unknown number of".to_string(), |h| {
                    h.report.records.to_string()
                });
            bail!(
                "refusing to reformat {}: it would destroy {blocks} stored blocks \
                 (a copy is kept); run `glitter fsck --reformat --yes` to confirm",
                image.display()
            );
        }
        let backup = data.reformat()?;
        return Ok(vec![
            format!("kept a copy of the old image: {}", backup.display()),
            format!("reformatted {}: empty", image.display()),
            "posting to your own chain is refused until its old blocks are back \
             (`glitter import` a copy): a new block 1 would fork it"
                .into(),
        ]);
    }
    if args.repair {
        if !image.exists() {
            bail!("{}: no flash image to repair", image.display());
        }
        let r = data.repair()?;
        let mut out = vec![format!(
            "kept a copy of the damaged image: {}",
            r.backup.display()
        )];
        for (author, n) in &r.kept {
            out.push(format!("kept {author}: seq 1..={n}"));
        }
        for l in &r.lost {
            out.push(format!(
                "LOST {}: seq {}..={} (no intact, verifying chain reaches them)",
                l.author, l.from_seq, l.to_seq
            ));
        }
        let me = data.identity().ok().map(|k| k.public());
        if r.lost.iter().any(|l| Some(l.author) == me) {
            out.push(
                "!! your own chain lost blocks: posting is refused until they are back \
                 (`glitter import` a copy exported by a follower), or followers who hold \
                 them would see your chain fork"
                    .into(),
            );
        }
        out.push(if r.lost.is_empty() {
            "repaired: every intact block was kept".to_string()
        } else {
            format!(
                "repaired: {} authors lost blocks (listed above)",
                r.lost.len()
            )
        });
        return Ok(out);
    }
    let Some(health) = data.fsck()? else {
        return Ok(vec![
            format!("image: {} (none yet)", image.display()),
            "ok".into(),
        ]);
    };
    let (m, u) = (health.report, health.usage);
    Ok(vec![
        format!("image: {}", image.display()),
        format!(
            "records: {} blocks by {} authors, {} pages in use",
            m.records, m.authors, m.pages_in_use
        ),
        // (While a node runs, the binary refuses offline commands before this.)
        match health.session {
            Some(Session::Clean) => "last session: ended cleanly".into(),
            Some(Session::Open) => "last session: did NOT end cleanly (a crash, kill or power \
                 cut); every block committed before it is present"
                .into(),
            None => "last session: not recorded (an image from an older glitter; the next \
                 writing command records it)"
                .into(),
        },
        match m.torn_tail {
            Some(t) => format!(
                "torn tail: an interrupted append at offset {} was discarded (the next \
                 writing command moves on past it)",
                t.offset
            ),
            None => "torn tail: none".to_string(),
        },
        format!(
            "space: {} of {} bytes used, {} free; {} bytes of blocks stored",
            u.flash_bytes_used, u.flash_bytes, u.flash_bytes_free, u.stored_bytes
        ),
        format!(
            "index: {} of {} blocks, {} of {} authors ({} bytes of RAM)",
            u.blocks, u.blocks_max, u.authors, u.authors_max, u.index_bytes
        ),
        "ok".into(),
    ])
}
