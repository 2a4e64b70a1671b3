//! Five `glitter node` processes on 127.0.0.1: a post reaches every follower within a
//! bound, and nodes killed with SIGKILL in the middle of appends restart with every
//! committed block and catch up.

mod net_common;

use glitter_net::{Request, control_request};
use net_common::{NodeProc, wait_for};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const TICK_MS: &str = "200";
const PROPAGATION_BOUND: Duration = Duration::from_secs(15);

fn cluster(root: &std::path::Path, n: usize) -> Vec<NodeProc> {
    let mut nodes: Vec<NodeProc> = Vec::new();
    for i in 0..n {
        let mut p = NodeProc::new(root, &format!("n{i}"), 0x11 + i as u8);
        p.extra = vec!["--tick-ms".into(), TICK_MS.into()];
        // A complete graph: each node dials every node started before it.
        p.peers = nodes.iter().map(|q| q.addr.clone()).collect();
        p.start();
        nodes.push(p);
    }
    nodes
}

fn dump(nodes: &[NodeProc]) -> String {
    nodes.iter().map(NodeProc::logs).collect()
}

#[test]
fn five_nodes_replicate_and_survive_sigkill() {
    let t0 = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path(), 5);
    let author = nodes[0].author.clone();
    for f in &nodes[1..] {
        f.follow(&author);
    }
    // And one follow the other way, so the author also replicates.
    nodes[0].follow(&nodes[1].author.clone());

    // 1. A post reaches every follower within the bound.
    let posted = Instant::now();
    let (seq, id) = nodes[0].post("hello, five nodes");
    for f in &nodes[1..] {
        wait_for(
            &format!("{} to receive {author}:{seq}", f.name),
            PROPAGATION_BOUND,
            || (f.head_of(&author) >= seq).then_some(()),
        );
        assert_eq!(f.id_of(&author, seq).as_deref(), Some(id.as_str()));
    }
    println!(
        "post reached 4 followers in {} ms",
        posted.elapsed().as_millis()
    );
    let (s1, _) = nodes[1].post("reply direction");
    wait_for("n0 to receive n1's post", PROPAGATION_BOUND, || {
        (nodes[0].head_of(&nodes[1].author) >= s1).then_some(())
    });

    // 2. Posts keep coming on n0 while n3 (replicating them) and then n0 itself
    // (appending them) are killed with SIGKILL.
    let stop = Arc::new(AtomicBool::new(false));
    let data0 = nodes[0].data.clone();
    let poster = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut acked: Vec<(u64, String)> = Vec::new();
            for i in 0..100_000u32 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let req = Request::Post {
                    text: format!("burst {i}"),
                    reply_to: None,
                    force: false,
                };
                match control_request(&data0, &req) {
                    Ok(r) if r.ok => acked.push((
                        r.data["seq"].as_u64().unwrap_or(0),
                        r.data["id"].as_str().unwrap_or("").to_string(),
                    )),
                    _ => break, // the node is gone
                }
            }
            acked
        })
    };
    std::thread::sleep(Duration::from_millis(700));
    let n3_before = nodes[3].head_of(&author);
    nodes[3].kill9();
    std::thread::sleep(Duration::from_millis(500));
    nodes[0].kill9();
    stop.store(true, Ordering::Relaxed);
    let acked = poster.join().unwrap();
    assert!(
        !acked.is_empty(),
        "no post was acknowledged\n{}",
        dump(&nodes)
    );
    let last = acked.last().cloned().unwrap();
    println!(
        "{} posts acknowledged before the SIGKILL of n0 (last seq {}); n3 held {n3_before} before its SIGKILL",
        acked.len(),
        last.0
    );

    // 3. Restart both on their old ports: nothing acknowledged is lost.
    nodes[0].start();
    nodes[3].start();
    let head0 = nodes[0].head_of(&author);
    assert!(
        head0 >= last.0,
        "n0 lost committed blocks: head {head0} < acknowledged {}\n{}",
        last.0,
        dump(&nodes)
    );
    for (s, id) in &acked {
        assert_eq!(
            nodes[0].id_of(&author, *s).as_deref(),
            Some(id.as_str()),
            "acknowledged block {s} changed or vanished"
        );
    }
    assert!(nodes[3].head_of(&author) >= n3_before, "n3 lost blocks");

    // 4. Everyone catches up with n0's head, including the restarted follower, and
    // a new post after the restarts still reaches all.
    let (s2, _) = nodes[0].post("after the crash");
    for f in &nodes[1..] {
        wait_for(
            &format!("{} to catch up to {s2}", f.name),
            Duration::from_secs(30),
            || (f.head_of(&author) >= s2).then_some(()),
        );
    }
    for f in &nodes[1..] {
        assert_eq!(
            f.id_of(&author, last.0),
            nodes[0].id_of(&author, last.0),
            "{} holds a different block {}",
            f.name,
            last.0
        );
    }

    // 5. Graceful shutdown: `stop` ends the process cleanly, and the data stays.
    assert!(matches!(
        glitter_net::check_no_node(&nodes[2].data),
        Err(glitter_net::NodeRunning::Running { .. })
    ));
    for n in &mut nodes {
        n.ctl(Request::Stop);
        let mut child = n.child.take().unwrap();
        let status = wait_for("a clean exit", Duration::from_secs(10), || {
            child.try_wait().ok().flatten()
        });
        assert!(status.success(), "{} exited with {status}", n.name);
    }
    assert!(glitter_net::check_no_node(&nodes[2].data).is_ok());
    nodes[2].start();
    assert!(nodes[2].head_of(&author) >= s2);
    println!("cluster test took {} ms", t0.elapsed().as_millis());
}
