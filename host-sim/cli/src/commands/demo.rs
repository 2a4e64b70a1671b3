//! The demo story: Alice, Bob and Charlie with real crypto, first as nodes on a
//! simulated network, then as people with data directories exchanging chain files.
//!
//! Deterministic: fixed seeds and a fixed clock, so its output can be asserted.

use anyhow::{Context, Result};
use glitter_core::social::{Follow, Payload};
use glitter_host::chainfile::{ChainFile, read_verified};
use glitter_host::datadir::DataDir;
use glitter_host::feed;
use std::path::PathBuf;

/// The demo clock's start: 2026-01-01T00:00:00Z.
const T0_MS: u64 = 1_767_225_600_000;

/// Runs the demo and returns its output lines.
///
/// # Errors
/// Only on I/O failure of the temporary directory; every check failing is an error too.
pub fn run() -> Result<Vec<String>> {
    let root = tempdir()?;
    let result = story(&root);
    let _ = std::fs::remove_dir_all(&root);
    result
}

fn tempdir() -> Result<PathBuf> {
    let p = std::env::temp_dir().join(format!("glitter-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).with_context(|| format!("{}: cannot create", p.display()))?;
    Ok(p)
}

/// Part 3: Alice proves she is one of the people Bob follows, without saying which;
/// then she publishes a claim on her chain that anyone can check from the chain.
fn zk_claim(
    out: &mut Vec<String>,
    alice_dir: &DataDir,
    keys: &[glitter_core::KeyPair],
    tick: &mut impl FnMut() -> u64,
) -> Result<()> {
    use glitter_core::zk::{
        self, Binding, Claim, ClaimBackend, Dalek, Proof, Prover, RingMember, RingProof, Verifier,
    };
    use rand_core::SeedableRng;
    // The caller owns randomness; the demo is deterministic, a real node uses the OS RNG.
    let mut rng = rand_chacha::ChaCha20Rng::from_seed([42; 32]);
    let alice = &keys[0];
    let followed = [keys[2].public(), alice.public()];
    let ring = RingMember { members: &followed };
    let binding = Binding::new(b"glitter/demo/v1", b"bob's fresh challenge 7");
    let proof = Dalek
        .prove(&ring, alice, &binding, &mut rng)
        .context("prove")?;
    let mut bytes = [0u8; RingProof::ENCODED_LEN_MAX];
    let len = proof.emit(&mut bytes).context("emit the proof")?;
    out.push(format!(
        "alice proves \"I am one of the {} people bob follows\" ({len}-byte ring proof)",
        followed.len()
    ));
    let ok = Dalek.verify(&ring, &proof, &binding);
    out.push(format!(
        "bob verifies it without learning which member: {}",
        if ok.is_ok() { "valid" } else { "INVALID" }
    ));
    anyhow::ensure!(ok.is_ok(), "honest proof rejected");
    bytes[40] ^= 1;
    let tampered = RingProof::parse(&bytes[..len]).and_then(|p| Dalek.verify(&ring, &p, &binding));
    out.push(format!(
        "a tampered proof: {}",
        match tampered {
            Ok(()) => "valid (this is a bug)".to_string(),
            Err(e) => format!("rejected ({e})"),
        }
    ));
    anyhow::ensure!(tampered.is_err(), "tampered proof accepted");
    let replay = Binding::new(b"glitter/demo/v1", b"bob's fresh challenge 8");
    anyhow::ensure!(
        Dalek.verify(&ring, &proof, &replay).is_err(),
        "replayed proof accepted"
    );
    out.push("the same proof replayed against a new challenge: rejected".into());
    let claim = Claim::knows_key(
        ClaimBackend::Dalek,
        &alice.public(),
        alice,
        b"glitter/demo",
        b"it is me",
        &mut rng,
    )
    .context("claim")?;
    let h = alice_dir.append_own(&Payload::Claim(claim), tick())?;
    let chain = alice_dir.chain(&alice.public())?;
    let payload = chain.payloads.last().cloned().flatten().unwrap_or_default();
    let verdict = zk::verify_claim_block(&h, &payload);
    out.push(format!(
        "alice publishes a claim of key control as block {}; checked from the chain: {}",
        h.seq,
        if verdict.is_ok() { "valid" } else { "INVALID" }
    ));
    anyhow::ensure!(verdict.is_ok(), "claim on chain rejected");
    Ok(())
}

/// Part 9: bob and charlie post; alice proves in zero knowledge, with her own key, that
/// she is one of the authors with at least 2 posts, and publishes the claim from a
/// pseudonymous chain ("anon", which follows all three: a claim on her own chain would
/// say who published it); bob recomputes the set from the chains he holds and verifies
/// it without learning which of the three proved it; a second claim by alice in the
/// same context is a double claim.
fn post_count_claim(
    out: &mut Vec<String>,
    dirs: [&DataDir; 3],
    anon_dir: &DataDir,
    keys: &[glitter_core::KeyPair],
    tick: &mut impl FnMut() -> u64,
) -> Result<()> {
    use glitter_host::claims::{self, Chains, ClaimVerifier, Verdict};
    use rand_core::SeedableRng;
    let mut rng = rand_chacha::ChaCha20Rng::from_seed([43; 32]);
    let [_, bob_dir, charlie_dir] = dirs;
    for (name, d) in [("bob", bob_dir), ("charlie", charlie_dir)] {
        for i in 1..=2 {
            let p =
                Payload::post(&format!("{name}'s post {i}"), None).map_err(anyhow::Error::msg)?;
            d.append_own(&p, tick())?;
        }
    }
    // Everyone holds everyone's chain (as after a sync).
    let share = |from: &DataDir, key: &glitter_core::KeyPair| -> Result<()> {
        let chain = from.chain(&key.public())?;
        for d in dirs {
            if d.identity()?.public() != key.public() {
                d.import(&chain)?;
            }
        }
        Ok(())
    };
    share(bob_dir, &keys[1])?;
    share(charlie_dir, &keys[2])?;
    out.push("bob and charlie post twice each; alice has posted twice".into());
    // The pseudonym: a fresh identity that follows the three and holds their chains.
    let anon = anon_dir.create_identity([0xa7; 32])?;
    for k in &keys[..3] {
        let follow = Payload::Follow(Follow {
            author: k.public().0,
        });
        anon_dir.append_own(&follow, tick())?;
        let holder = dirs
            .iter()
            .find(|d| d.identity().is_ok_and(|i| i.public() == k.public()))
            .context("a demo person's directory")?;
        anon_dir.import(&holder.chain(&k.public())?)?;
    }
    let anon_chain_to_bob = || -> Result<()> {
        bob_dir.import(&anon_dir.chain(&anon.public())?)?;
        Ok(())
    };
    anon_chain_to_bob()?;
    out.push(format!(
        "a pseudonymous chain, anon {}, follows alice, bob and charlie",
        feed::short(&anon.public())
    ));
    let context = b"glitter/demo/poll";
    let publish = |message: &[u8],
                   rng: &mut rand_chacha::ChaCha20Rng,
                   t: u64|
     -> Result<(u64, usize, usize)> {
        let chains = Chains::load(anon_dir)?;
        let (claim, snapshot) = claims::prove_post_count(
            &chains,
            &anon.public(),
            &keys[0],
            2,
            true,
            context,
            message,
            rng,
        )?;
        let proof_len = claim.proof.len();
        let h = anon_dir.append_own(&Payload::Claim(claim), t)?;
        anon_chain_to_bob()?;
        Ok((h.seq, proof_len, snapshot.members.len()))
    };
    let (seq, proof_len, n) = publish(b"yes", &mut rng, tick())?;
    out.push(format!(
        "alice proves \"I am one of the {n} authors whose chain has at least 2 posts\" \
         ({proof_len}-byte one-out-of-many proof with a linkable tag, made with her own key) and \
         publishes it as block {seq} of anon's chain"
    ));
    let chains = Chains::load(bob_dir)?;
    let mut verifier = ClaimVerifier::new();
    let verdict = claims::verify_stored(&chains, &mut verifier, &anon.public(), seq)?;
    out.push(format!(
        "bob recomputes the set from the chains he holds and checks anon's block {seq}: {} \
         (one of alice, bob, charlie: the proof does not say which)",
        verdict.describe()
    ));
    anyhow::ensure!(
        matches!(
            verdict,
            Verdict::Valid {
                recomputed: true,
                ..
            }
        ),
        "post-count claim rejected"
    );
    let (again, _, _) = publish(b"yes again", &mut rng, tick())?;
    let chains = Chains::load(bob_dir)?;
    let verdict = claims::verify_stored(&chains, &mut ClaimVerifier::new(), &anon.public(), again)?;
    let first = match verdict {
        Verdict::DoubleClaim { first, .. } => first.1,
        other => anyhow::bail!("a second claim was not a double claim: {other:?}"),
    };
    out.push(format!(
        "alice claims again in the same context (anon's block {again}): bob rejects it as a double claim (the tag of block {first})"
    ));
    Ok(())
}

/// Part 1: three nodes on a simulated network (real crypto, lossy links).
fn network(out: &mut Vec<String>) -> Result<()> {
    use glitter_sim::Builder;
    out.push("== network: alice, bob and charlie run glitter nodes on a simulated network".into());
    let mut sim = Builder {
        nodes: 3,
        seed: 2026,
        latency_ms_min: 20,
        latency_ms_max: 120,
        drop_rate: 0.1,
        ..Builder::default()
    }
    .build()?;
    let names = ["alice", "bob", "charlie"];
    for (i, name) in names.iter().enumerate() {
        for j in 0..3 {
            sim.follow(i, j);
            sim.connect(i, j);
        }
        out.push(format!("{name:<8} {}", sim.author(i)));
    }
    out.push("links: 20-120 ms latency, 10% of messages lost; everyone follows everyone".into());
    sim.run_until(2_000, |_| {});
    let h = sim.post(0, "Hello, glitter! My first block.")?;
    out.push(format!(
        "t={:>5} ms  alice posts block {} ({})",
        sim.now_ms(),
        h.seq,
        h.id()
    ));
    let alice = sim.author(0);
    let mut reached = [false; 3];
    reached[0] = true;
    // Bounded: one simulated minute in 50 ms steps.
    for step in 0..1_200u64 {
        sim.run_until(2_000 + step * 50, |_| {});
        for i in 1..3 {
            if !reached[i] && sim.head_seq(i, &alice) >= h.seq {
                reached[i] = true;
                out.push(format!(
                    "t={:>5} ms  {} has verified and stored it ({} ms after posting)",
                    sim.now_ms(),
                    names[i],
                    sim.now_ms() - 2_000
                ));
            }
        }
        if reached.iter().all(|r| *r) {
            break;
        }
    }
    anyhow::ensure!(
        reached.iter().all(|r| *r),
        "the post did not reach everyone (seed 2026)"
    );
    out.push(format!(
        "the post reached both; {} messages, {} dropped by the links, 0 invalid blocks stored: {}",
        sim.stats().heads.messages + sim.stats().wants.messages + sim.stats().blocks.messages,
        sim.stats().dropped,
        sim.invalid_blocks_stored() == 0
    ));
    Ok(())
}

fn story(root: &std::path::Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    network(&mut out)?;
    out.push("== files: the same chain on disk, exported, verified, imported, tampered".into());
    let mut clock = T0_MS;
    let mut tick = || {
        clock += 1_000;
        clock
    };
    let people = ["alice", "bob", "charlie"];
    let mut dirs = Vec::new();
    out.push("== 1. three people create identities".into());
    for (i, name) in people.iter().enumerate() {
        let d = DataDir::open(&root.join(name))?;
        let keys = d.create_identity([i as u8 + 1; 32])?;
        d.append_own(
            &Payload::profile(name, "demo person").map_err(anyhow::Error::msg)?,
            tick(),
        )?;
        out.push(format!("{name:<8} {}", keys.public()));
        dirs.push(d);
    }
    let keys: Vec<_> = dirs
        .iter()
        .map(|d| d.identity())
        .collect::<Result<_, _>>()?;

    out.push("== 2. they follow each other".into());
    for (i, d) in dirs.iter().enumerate() {
        for (j, k) in keys.iter().enumerate() {
            if i != j {
                d.append_own(
                    &Payload::Follow(Follow {
                        author: k.public().0,
                    }),
                    tick(),
                )?;
            }
        }
    }
    out.push("each chain now has a profile and 2 follow blocks".into());

    out.push("== 3. alice posts".into());
    let post =
        Payload::post("Hello, glitter! My first block.", None).map_err(anyhow::Error::msg)?;
    let h = dirs[0].append_own(&post, tick())?;
    out.push(format!("alice: block {} id {}", h.seq, h.id()));

    out.push("== 4. the post propagates (chain file export, verify, import)".into());
    let file = root.join("alice.chain");
    let alice_chain = dirs[0].chain(&keys[0].public())?;
    std::fs::write(&file, ChainFile::from_chain(&alice_chain).to_bytes())?;
    for (i, name) in people.iter().enumerate().skip(1) {
        let v = read_verified(&file)?;
        dirs[i].import(&v)?;
        out.push(format!(
            "{name} verified {} blocks of alice (head seq {}) and imported them",
            v.headers.len(),
            v.head().map_or(0, |h| h.seq)
        ));
    }
    let bob_chains = vec![
        dirs[1].chain(&keys[1].public())?,
        dirs[1].chain(&keys[0].public())?,
    ];
    let seen = feed::render(&bob_chains)
        .into_iter()
        .filter(|l| l.contains("posted:"))
        .collect::<Vec<_>>();
    for l in &seen {
        out.push(format!("bob's feed: {l}"));
    }
    anyhow::ensure!(seen.len() == 1, "bob should see exactly alice's one post");

    out.push("== 5. mallory tampers with alice's chain file".into());
    let mut bytes = std::fs::read(&file)?;
    let last = bytes.len() - 3;
    bytes[last] ^= 0x01;
    std::fs::write(&file, &bytes)?;
    match read_verified(&file) {
        Ok(_) => anyhow::bail!("tampered file verified: this is a bug"),
        Err(e) => out.push(format!(
            "rejected: {}",
            format!("{:#}", anyhow::Error::from(e)).replace(&root.display().to_string(), "<tmp>")
        )),
    }

    out.push("== 6. alice backs up to bob and charlie (any 2 of them restore her)".into());
    let tmp_name = |s: String| s.replace(&root.display().to_string(), "<tmp>");
    let made = crate::commands::backup::run_backup(
        &root.join("alice"),
        crate::commands::backup::BackupCommand::Create {
            custodians: vec![root.join("bob"), root.join("charlie")],
            threshold: 2,
        },
        tick(),
    )?;
    out.extend(made.into_iter().map(tmp_name));
    // Bob keeps a current copy of alice's chain (the manifest block included).
    let alice_now = dirs[0].chain(&keys[0].public())?;
    dirs[1].import(&alice_now)?;

    out.push("== 7. alice loses her device and restores on a new one".into());
    std::fs::remove_dir_all(root.join("alice"))?;
    out.push("alice's data directory is gone".into());
    let restored = crate::commands::backup::run_restore(
        &root.join("alice-new"),
        crate::commands::backup::RestoreArgs {
            owner: keys[0].public().to_string(),
            custodians: vec![path_arg(&root.join("bob")), path_arg(&root.join("charlie"))],
            peers: vec![path_arg(&root.join("bob"))],
            wait: 0,
        },
    )?;
    out.extend(restored.into_iter().map(tmp_name));
    let new_dir = DataDir::open(&root.join("alice-new"))?;
    anyhow::ensure!(
        new_dir.identity()?.public() == keys[0].public(),
        "restored a different identity"
    );
    let p = Payload::post("Back on a new device, same chain.", None).map_err(anyhow::Error::msg)?;
    let h = new_dir.append_own(&p, tick())?;
    out.push(format!(
        "alice (new device) posts block {} ({})",
        h.seq,
        h.id()
    ));
    let continued = new_dir.chain(&keys[0].public())?;
    let outcome = dirs[1].import(&continued)?;
    let outcome = match outcome {
        glitter_host::datadir::ImportOutcome::New { blocks } => format!("{blocks} blocks new"),
        glitter_host::datadir::ImportOutcome::Extended { added } => {
            format!("{added} block(s) added")
        }
        glitter_host::datadir::ImportOutcome::UpToDate => "already up to date".to_string(),
    };
    out.push(format!(
        "bob imports alice's chain again: {outcome}, no fork"
    ));

    out.push("== 8. alice proves a claim in zero knowledge".into());
    zk_claim(&mut out, &new_dir, &keys, &mut tick)?;
    out.push("== 9. alice proves she is one of the authors with at least 2 posts".into());
    let people_dirs = [&new_dir, &dirs[1], &dirs[2]];
    let anon_dir = DataDir::open(&root.join("anon"))?;
    post_count_claim(&mut out, people_dirs, &anon_dir, &keys, &mut tick)?;
    out.push("demo complete".into());
    Ok(out)
}

/// A path as a `glitter restore` target argument.
fn path_arg(p: &std::path::Path) -> String {
    p.to_string_lossy().into_owned()
}
