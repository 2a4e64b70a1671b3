//! The lab scenario in the test command (issue 16): `glitter lab run lab/ci6.toml`,
//! the real command, against real `glitter node` processes in six network namespaces
//! over lossy emulated links (50 ± 20 ms, 10% loss, 1% duplication, 5% reordering),
//! with posts, an 8 s 3 + 3 partition with posts on both sides, a kill -9 and a
//! restart. Every converge step must finish within its bound and the final check must
//! find the same head of every chain on every node, at or past every acknowledged
//! post. Needs root, as the lab does (CI runs as root).

use std::path::Path;
use std::process::Command;

#[test]
fn six_lossy_nodes_survive_a_partition_and_a_kill_with_identical_heads() {
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../lab/ci6.toml");
    let work = tempfile::tempdir().expect("a work directory");
    let report_path = work.path().join("report.json");
    let out = Command::new(env!("CARGO_BIN_EXE_glitter"))
        .args(["lab", "run"])
        .arg(&scenario)
        .arg("--out")
        .arg(&report_path)
        .arg("--work-dir")
        .arg(work.path())
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
