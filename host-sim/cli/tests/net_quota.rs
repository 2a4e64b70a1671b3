//! Issue 15 item 7 against real node processes: a followed author who floods cannot
//! fill the follower's store past its quota, cannot stop the follower's own posts, and
//! does not make the follower download the same refused block again and again.

mod cli_common;
mod net_common;

use glitter_net::Request;
use net_common::{NodeProc, wait_for};
use std::time::Duration;

/// The follower's core counters and the quota refusals, from its status.
fn counters(node: &NodeProc) -> (u64, u64, u64) {
    let r = node.ctl(Request::Status);
    let core = &r.data["core"];
    (
        core["wants_sent"].as_u64().expect("wants_sent"),
        core["store_full"].as_u64().expect("store_full"),
        r.data["quota_refused"].as_u64().expect("quota_refused"),
    )
}

fn head_of(node: &NodeProc, author: &str) -> u64 {
    node.head_of(author)
}

#[test]
fn a_flooding_author_stops_at_the_quota_and_own_posts_still_succeed() {
    const QUOTA: u64 = 300;
    const FLOOD: u32 = 600;
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut a = NodeProc::new(tmp.path(), "flooder", 0x51);
    a.extra = vec!["--tick-ms".into(), "200".into()];
    a.start();
    let mut b = NodeProc::new(tmp.path(), "follower", 0x52);
    b.extra = vec![
        "--tick-ms".into(),
        "200".into(),
        "--author-quota".into(),
        QUOTA.to_string(),
    ];
    b.peers = vec![a.addr.clone()];
    b.start();
    b.follow(&a.author);
    let r = a.ctl(Request::PostMany { count: FLOOD });
    assert!(r.ok, "{r:?}");
    wait_for(
        "the follower to fill the flooder's quota",
        Duration::from_secs(60),
        || (head_of(&b, &a.author) >= QUOTA && counters(&b).2 > 0).then_some(()),
    );
    assert_eq!(head_of(&b, &a.author), QUOTA, "stored exactly the quota");
    // The follower's own posts still succeed.
    for i in 0..5 {
        let (seq, _) = b.post(&format!("still mine {i}"));
        assert!(seq >= 2, "own post {i} got seq {seq}");
    }
    // No re-download loop: over 5 s (25 gossip ticks) the follower asks for the refused
    // blocks at most a few more times.
    let (wants0, full0, refused0) = counters(&b);
    std::thread::sleep(Duration::from_secs(5));
    let (wants1, full1, refused1) = counters(&b);
    println!(
        "net_quota: over 5 s after the quota: {} wants, {} store refusals ({} by quota)",
        wants1 - wants0,
        full1 - full0,
        refused1 - refused0
    );
    assert!(
        full1 - full0 <= 2 && wants1 - wants0 <= 2,
        "the follower keeps fetching refused blocks: {} wants, {} refusals in 5 s",
        wants1 - wants0,
        full1 - full0
    );
    assert_eq!(head_of(&b, &a.author), QUOTA);
}
