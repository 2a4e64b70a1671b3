//! The lab scenario in the test command (issue 16): `glitter lab run lab/ci6.toml`,
//! the real command, against real `glitter node` processes in six network namespaces
//! over lossy emulated links (50 ± 20 ms, 10% loss, 1% duplication, 5% reordering),
//! with posts, a 10 s 3 + 3 partition with posts on both sides, a kill -9 and a
//! restart. Every converge step must finish within its bound and the final check must
//! find the same head of every chain on every node, at or past every acknowledged
//! post; blocks cross at most 1.5 times per follower on average, and the nodes
//! converge within 5 s of the heal. Needs root, as the lab does (CI runs as root).

use std::path::Path;
use std::process::Command;

/// `glitter lab run SCENARIO --out REPORT --work-dir WORK`, not yet started.
fn lab_run(scenario: &Path, report: &Path, work: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_glitter"));
    cmd.args(["lab", "run"])
        .arg(scenario)
        .arg("--out")
        .arg(report)
        .arg("--work-dir")
        .arg(work);
    cmd
}

#[test]
fn six_lossy_nodes_survive_a_partition_and_a_kill_with_identical_heads() {
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../lab/ci6.toml");
    let work = tempfile::tempdir().expect("a work directory");
    let report_path = work.path().join("report.json");
    let out = lab_run(&scenario, &report_path, work.path())
        .output()
        .expect("glitter lab runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let text = std::fs::read_to_string(&report_path).unwrap_or_default();
    assert!(
        out.status.success(),
        "glitter lab run failed:\n{stderr}\nreport:\n{text}"
    );
    let report: serde_json::Value = serde_json::from_str(&text).expect("a JSON report");
    assert_eq!(report["ok"], true, "{stderr}");
    // Every step ran, the last one the check.
    let steps = report["steps"].as_array().expect("steps");
    let planned = report["scenario"]["step"].as_array().expect("the scenario");
    assert_eq!(steps.len(), planned.len(), "{stderr}");
    assert_eq!(steps.last().map(|s| &s["step"]), Some(&"check".into()));
    // Issue 16's CI bounds (looser than its goals, for noisy machines): each block
    // crosses to each follower at most 1.5 times on average over the run, and the
    // nodes converge within 5 s of the partition healing.
    let mut after_heal = false;
    let mut heal_checked = false;
    let (mut received, mut stored) = (0u64, 0u64);
    for s in steps {
        let m = &s["metrics"];
        for n in m["per_node"].as_array().into_iter().flatten() {
            received += n["received"].as_u64().unwrap_or(0);
            stored += n["stored"].as_u64().unwrap_or(0);
        }
        if s["step"] == "heal" {
            after_heal = true;
        } else if after_heal && s["step"] == "converge" {
            let ms = m["converged_ms"].as_f64().expect("a converge time");
            assert!(ms <= 5_000.0, "converged {ms} ms after the heal: {stderr}");
            eprintln!("lab_scenario: converged {ms:.0} ms after the heal");
            (after_heal, heal_checked) = (false, true);
        }
    }
    assert!(heal_checked, "the scenario has a heal then a converge");
    let transfers = received as f64 / stored.max(1) as f64;
    eprintln!(
        "lab_scenario: {received} blocks received for {stored} stored: {transfers:.2} per block"
    );
    assert!(
        stored >= 5 * 35 && transfers <= 1.5,
        "{transfers:.2} transfers per block ({received} for {stored}): {stderr}"
    );
    // The links really were lossy: the switch dropped about a tenth of the packets.
    let links = report["switch"]["links"].as_array().expect("link counters");
    let sum = |k: &str| -> u64 { links.iter().map(|l| l[2][k].as_u64().unwrap_or(0)).sum() };
    let (sent, lost) = (sum("packets"), sum("lost"));
    let share = lost as f64 / sent as f64;
    assert!(
        sent > 1000 && (0.07..0.13).contains(&share),
        "{lost} of {sent} packets lost"
    );
    // The partition dropped packets between the two halves.
    assert!(sum("partitioned") > 0, "the partition dropped nothing");
    // Nothing left behind: no namespace of this run remains.
    let listed = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip");
    let mine = format!("glab-{}-", report["pid"].as_u64().unwrap_or(0));
    assert!(
        !String::from_utf8_lossy(&listed.stdout).contains(&mine),
        "namespaces left behind"
    );
    eprintln!("{stderr}");
}

/// Processes whose command line mentions `needle` (the nodes of a lab run).
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if text.contains(needle) && text.contains(" node ") {
            found.push(text);
        }
    }
    found
}

fn lab_namespaces() -> String {
    let listed = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip");
    String::from_utf8_lossy(&listed.stdout).into_owned()
}

const FAILING: &str = r#"
name = "fails"
nodes = 3
[[step]]
do = "start"
[[step]]
do = "follow_all"
[[step]]
do = "partition"
groups = [[0], [1, 2]]
[[step]]
do = "post"
node = 0
count = 1
[[step]]
do = "converge"
timeout_s = 3
"#;

/// A run whose step fails (node 0's post cannot cross a partition within 3 s), and a
/// run stopped with SIGINT: each exits non-zero naming why, writes its report, keeps
/// the node logs of the failed run, and leaves no node process or namespace behind.
#[test]
fn a_failed_or_interrupted_run_leaves_nothing_behind() {
    let work = tempfile::tempdir().expect("a work directory");
    let scenario = work.path().join("fails.toml");
    std::fs::write(&scenario, FAILING).expect("write the scenario");
    let report_path = work.path().join("report.json");
    let out = lab_run(&scenario, &report_path, work.path())
        .output()
        .expect("glitter lab runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("step 4 (converge)") && stderr.contains("within 3 s"),
        "{stderr}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).expect("a report"))
            .expect("JSON");
    assert_eq!(report["ok"], false);
    let kept = Path::new(
        report["data_dir"]
            .as_str()
            .expect("the kept data directory"),
    );
    assert!(
        kept.join("node0/node-1.log").is_file(),
        "{}",
        kept.display()
    );
    let pid = report["pid"].as_u64().expect("pid");
    assert!(!lab_namespaces().contains(&format!("glab-{pid}-")));
    let wd = work.path().to_string_lossy().into_owned();
    assert!(
        processes_mentioning(&wd).is_empty(),
        "{:?}",
        processes_mentioning(&wd)
    );

    // SIGINT while the converge step waits.
    let child = lab_run(&scenario, &report_path, work.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("glitter lab runs");
    let lab_pid = child.id();
    let started = std::time::Instant::now();
    while processes_mentioning(&wd).len() < 3 && started.elapsed().as_secs() < 20 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(
        processes_mentioning(&wd).len(),
        3,
        "the nodes did not start"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(lab_pid as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("signal the lab");
    let out = child.wait_with_output().expect("the lab exits");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(!lab_namespaces().contains(&format!("glab-{lab_pid}-")));
    assert!(
        processes_mentioning(&wd).is_empty(),
        "{:?}",
        processes_mentioning(&wd)
    );
}
