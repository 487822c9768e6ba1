//! An answer holding two series with the same labels but their metric name: Headroom keys
//! entities by labels without `__name__`, so they are one entity with two histories. A real
//! Prometheus returns them for a selector matching two metrics. The entity gets an error
//! naming them, never the value of whichever copy came first (here 10 % while the other copy
//! is at 95 %), through the split requests of a long range and through the history cache.

use std::fmt::Write;
use std::time::Duration;

use crate::harness::{Prometheus, Setup, config_for, free_port, http_get, start_daemon_with, wait_until};
use crate::history::{STEP, recent_end};

/// Two days of `usage_low` and `usage_high` for `dup:9100` (10 % and 95 % of 100), and
/// `usage_high` alone for `solo:9100` (50 %).
fn history(end: u64) -> String {
    let points = 2 * 86_400 / STEP;
    let mut out = String::new();
    for (metric, instance, value) in [
        ("usage_low", "dup:9100", 10.0),
        ("usage_high", "dup:9100", 95.0),
        ("usage_high", "solo:9100", 50.0),
    ] {
        let _ = writeln!(out, "# TYPE {metric} gauge");
        for k in 0..points {
            let t = end - (points - 1 - k) * STEP;
            let wobble = (k % 12) as f64 * 0.01;
            let _ = writeln!(out, "{metric}{{instance=\"{instance}\"}} {} {t}", value + wobble);
        }
    }
    out.push_str("# EOF\n");
    out
}

const MODEL: &str = r#"
name = "usage"
usage = '{__name__=~"usage_low|usage_high"}'
capacity = 100
threshold = "90%"
history = "2d"
step = "5m"
horizon = "7d"
"#;

fn entity<'a>(cycle: &'a serde_json::Value, instance: &str) -> &'a serde_json::Value {
    cycle["models"][0]["entities"]
        .as_array()
        .and_then(|entities| entities.iter().find(|e| e["labels"]["instance"] == instance))
        .unwrap_or_else(|| panic!("no entity {instance}: {cycle:#}"))
}

fn assert_ambiguous_entity_is_an_error(cycle: &serde_json::Value) {
    let dup = entity(cycle, "dup:9100");
    assert_eq!(dup["status"], "error", "{dup:#}");
    let reason = dup["reason"].as_str().expect("a reason");
    assert!(
        reason.contains("returned 2 series with the labels {instance=\"dup:9100\"}") && reason.contains("__name__"),
        "{reason}"
    );
    assert!(dup["current"].is_null(), "no value taken from either copy: {dup:#}");
    let solo = entity(cycle, "solo:9100");
    assert_eq!(solo["status"], "ok", "{solo:#}");
    let current = solo["current"].as_f64().expect("current");
    assert!((50.0..50.2).contains(&current), "{current}");
}

#[test]
fn series_that_differ_only_in_their_name_are_an_entity_error_naming_them() {
    let end = recent_end();
    let prometheus = Prometheus::start_with_history(&history(end));
    // 100 points per request: the two-day range comes in six answers, stitched copy by copy.
    let config = config_for(
        &prometheus.url(),
        "[schedule]\ninterval = \"2s\"\n[store]\npath = \"state/headroom.db\"\n",
    )
    .replace(
        "timeout = \"10s\"\n",
        "timeout = \"10s\"\nmax_points_per_request = 100\n",
    );
    let setup = Setup::new(&config, &[("usage.toml", MODEL)]);
    let once = crate::harness::once_json(&setup, end);
    let cycle: serde_json::Value = serde_json::from_slice(&once.stdout).expect("JSON");
    assert_ambiguous_entity_is_an_error(&cycle);

    // The daemon, through the history cache: the first cycle and the incremental ones.
    let (_daemon, port, _log) = start_daemon_with(&setup, free_port(), &[]);
    let cycles = || {
        http_get(port, "/metrics")
            .and_then(|(_, text)| {
                crate::harness::metric_value(&text, "headroom_cycles_total", &[("result", "success")])
            })
            .unwrap_or(0.0)
    };
    wait_until("three cycles", Duration::from_secs(60), || cycles() >= 3.0);
    let (_, body) = http_get(port, "/api/v1/cycle").expect("cycle");
    let cycle: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_ambiguous_entity_is_an_error(&cycle);
    let (_, metrics) = http_get(port, "/metrics").expect("metrics");
    assert!(
        metrics.lines().any(|l| l.starts_with("headroom_forecast_status{")
            && l.contains("dup:9100")
            && l.contains("status=\"error\"")
            && l.ends_with(" 1")),
        "{metrics}"
    );
}
