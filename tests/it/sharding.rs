//! Replicas sharing a fleet: N replicas together plan every series exactly once.

use std::collections::BTreeSet;

use crate::harness::{Prometheus, Setup, config_for, once_json_with, run_headroom};
use crate::history::{self, CPU_MODEL, DISK_MODEL};

fn planned(json: &serde_json::Value) -> BTreeSet<String> {
    json["models"]
        .as_array()
        .expect("models")
        .iter()
        .flat_map(|m| {
            let model = m["model"].as_str().unwrap_or_default().to_string();
            m["entities"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |e| format!("{model}{}", e["labels"]))
        })
        .collect()
}

#[test]
fn three_replicas_cover_every_series_exactly_once() {
    let end = history::recent_end();
    let prometheus = Prometheus::start_with_history(&history::openmetrics(end));
    let setup = Setup::new(
        &config_for(&prometheus.url(), ""),
        &[("disk.toml", DISK_MODEL), ("cpu.toml", CPU_MODEL)],
    );
    let whole = once_json_with(&setup, end, &[]);
    assert!(whole.status.success(), "{}", String::from_utf8_lossy(&whole.stderr));
    let everything = planned(&serde_json::from_slice(&whole.stdout).expect("JSON"));
    assert_eq!(everything.len(), 4);
    let mut seen = BTreeSet::new();
    for index in ["headroom-0", "headroom-1", "headroom-2"] {
        let output = once_json_with(&setup, end, &["--shard-index", index, "--shard-count", "3"]);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        for series in planned(&serde_json::from_slice(&output.stdout).expect("JSON")) {
            assert!(seen.insert(series.clone()), "{series} planned by two replicas");
        }
    }
    assert_eq!(seen, everything, "the replicas together plan every series");
}

#[test]
fn a_shard_index_out_of_range_is_refused() {
    let output = run_headroom(&["--shard-index", "3", "--shard-count", "3", "check"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("out of range") && stderr.contains("0 to 2"), "{stderr}");
}
