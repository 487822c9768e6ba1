//! Scenarios relative to now and scenario results only where they change something, through
//! `once` against a real Prometheus.

use std::fmt::Write;

use crate::harness::{Prometheus, Setup, once_json};

const STEP: u64 = 300;
const DAYS: u64 = 14;
const DAY: f64 = 86_400.0;

/// Two volumes flat at 50 of 100 (threshold 90 %), a little noise.
const MODEL: &str = r#"
name = "volume"
usage = 'volume_used'
capacity = 100
threshold = "90%"
unit = "GB"
history = "14d"
step = "5m"
horizon = "30d"
"#;

fn entity<'a>(json: &'a serde_json::Value, volume: &str) -> &'a serde_json::Value {
    json["models"][0]["entities"]
        .as_array()
        .and_then(|entities| entities.iter().find(|e| e["labels"]["volume"] == volume))
        .unwrap_or_else(|| panic!("no volume {volume} in {json:#}"))
}

/// A migration that adds 45 GB to volume `a` three days after the evaluation (`+3d`): the
/// crossing is three days after each `--at`, one day later when evaluated a day later. Volume
/// `b` carries no result of it (its baseline is the scenario's answer), and a change that
/// starts past the horizon is carried by no entity.
#[test]
fn a_scenario_starting_plus_3d_moves_with_the_evaluation_time() {
    let (start, end, points) = crate::harness::recent_window(DAYS, STEP);
    let mut history = String::from("# TYPE volume_used gauge\n");
    for volume in ["a", "b"] {
        for k in 0..points {
            let t = start + k * STEP;
            let noise = 0.3 * ((k * 7919 % 101) as f64 / 101.0 - 0.5);
            let _ = writeln!(history, "volume_used{{volume=\"{volume}\"}} {} {t}", 50.0 + noise);
        }
    }
    history.push_str("# EOF\n");
    let prometheus = Prometheus::start_with_history(&history);
    let scenarios = "[[scenarios]]\nname = \"migration\"\n[[scenarios.changes]]\nkind = \"step\"\nfrom = \"+3d\"\nadd = 45\nlabels = { volume = \"a\" }\n\n\
                     [[scenarios]]\nname = \"next-year\"\n[[scenarios.changes]]\nkind = \"step\"\nfrom = \"now+200d\"\nmultiply = 2\n";
    let setup = Setup::new(
        &crate::harness::config_for(&prometheus.url(), scenarios),
        &[("volume.toml", MODEL)],
    );
    for at in [end - 86_400, end] {
        let output = once_json(&setup, at);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
        let a = entity(&json, "a");
        assert_eq!(a["exhaustion"]["likely"], serde_json::Value::Null, "{a:#}");
        let moved = a["scenarios"].as_array().expect("scenarios");
        assert_eq!(moved.len(), 1, "{a:#}");
        assert_eq!(moved[0]["scenario"], "migration");
        let likely = moved[0]["exhaustion"]["likely"].as_f64().expect("crosses");
        let expected = at as f64 + 3.0 * DAY;
        assert!(
            (likely - expected).abs() <= STEP as f64,
            "at {at}: crossing {likely}, expected {expected} (+3d)"
        );
        assert_eq!(entity(&json, "b")["scenarios"], serde_json::json!([]));
        let reach = json["scenarios"].as_array().expect("reach");
        assert_eq!(
            reach,
            &vec![
                serde_json::json!({"name": "migration", "entities_matched": 1, "entities_changed": 1}),
                serde_json::json!({"name": "next-year", "entities_matched": 2, "entities_changed": 0}),
            ]
        );
        // The budget still counts both volumes under each scenario: no line without a cost
        // model here, so none at all.
        assert_eq!(json["budget"], serde_json::json!([]));
    }
}
