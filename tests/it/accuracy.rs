//! Forecast accuracy over time, with a known future: a forecast "made" eight days before the
//! end of the backfilled history is scored by a running Headroom against what Prometheus
//! holds, and the scores match the hand calculation from the history's own generator.

use std::time::Duration;

use headroom::accuracy::Snapshot;
use headroom::forecast::PathPoint;
use headroom::series::Labels;
use headroom::store::Store;

use crate::harness::{
    Prometheus, Setup, config_for, free_port, http_get, metric_value, read_log, start_daemon_with, wait_until,
};
use crate::history::{self, DISK_MODEL, STEP, fill_observed, fill_used};

const GB: f64 = 1e9;

#[test]
fn past_forecasts_are_scored_against_what_happened() {
    let end = history::recent_end();
    let start = history::start_of(end);
    let prometheus = Prometheus::start_with_history(&history::openmetrics(end));
    let setup = Setup::new(
        &config_for(&prometheus.url(), "[store]\npath = \"state/headroom.db\"\n"),
        &[("disk.toml", DISK_MODEL)],
    );

    // The forecast: every 6 hours for 7 days, 2 GB above the noise-free truth, with an 80 %
    // band of ±1 GB (the noise is ±0.3 GB, so every actual value falls outside it) and a 95 %
    // band of ±3 GB (every actual value inside). Scale 0.5 GB.
    let made_at = (end - 8 * 86_400) as f64;
    let path: Vec<PathPoint> = (1..=28)
        .map(|i| {
            let t = made_at + f64::from(i) * 21_600.0;
            let mean = fill_used(t - start as f64) + 2.0 * GB;
            PathPoint {
                timestamp: t,
                mean,
                lower_80: mean - GB,
                upper_80: mean + GB,
                lower_95: mean - 3.0 * GB,
                upper_95: mean + 3.0 * GB,
            }
        })
        .collect();
    let labels = Labels::new([
        ("instance", "fill:9100"),
        ("job", "node"),
        ("mountpoint", "/data"),
        ("fstype", "ext4"),
    ]);
    let scale = 0.5 * GB;
    {
        let store = Store::open(&setup.dir.path().join("state/headroom.db")).expect("state file");
        let snapshot = Snapshot {
            entity: labels.to_string(),
            made_at,
            scale,
            path: path.clone(),
        };
        store.save_snapshots("disk", &[snapshot]).expect("seed a past forecast");
    }
    // The hand calculation, from the generator of the backfilled history.
    let expected = |span: f64| {
        let scored: Vec<&PathPoint> = path.iter().filter(|p| p.timestamp <= made_at + span).collect();
        let errors: Vec<f64> = scored
            .iter()
            .map(|p| {
                let k = (p.timestamp as u64 - start) / STEP;
                (fill_observed(k) - p.mean).abs()
            })
            .collect();
        errors.iter().sum::<f64>() / errors.len() as f64 / scale
    };

    let (_daemon, port, log) = start_daemon_with(&setup, free_port(), &[]);
    let metrics = || http_get(port, "/metrics").map(|(_, body)| body).unwrap_or_default();
    wait_until("the past forecast to be scored", Duration::from_secs(60), || {
        metrics().contains("headroom_forecast_accuracy_mase")
    });
    let text = metrics();
    for (checkpoint, span) in [("1d", 86_400.0), ("7d", 7.0 * 86_400.0)] {
        let labels = [("instance", "fill:9100"), ("checkpoint", checkpoint)];
        let mase = metric_value(&text, "headroom_forecast_accuracy_mase", &labels)
            .unwrap_or_else(|| panic!("no {checkpoint} score; log:\n{}", read_log(&log)));
        let hand = expected(span);
        assert!(
            (mase - hand).abs() <= 1e-6 * hand,
            "{checkpoint}: MASE {mase}, by hand {hand}"
        );
        let coverage = |level: &str| {
            let mut with_level = labels.to_vec();
            with_level.push(("level", level));
            metric_value(&text, "headroom_forecast_interval_coverage", &with_level)
        };
        assert_eq!(coverage("0.8"), Some(0.0), "{checkpoint}");
        assert_eq!(coverage("0.95"), Some(1.0), "{checkpoint}");
    }
    // MASE near 4 is poor: the recommendation says so.
    let (_, body) = http_get(port, "/api/v1/recommendations?model=disk").expect("recommendations");
    let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let fill = json["recommendations"]
        .as_array()
        .and_then(|r| r.iter().find(|e| e["labels"]["instance"] == "fill:9100"))
        .expect("fill disk");
    let caveats = fill["recommendation"]["caveats"].to_string();
    assert!(
        caveats.contains("Recent forecasts of this entity were poor"),
        "{caveats}"
    );
    let justification = fill["recommendation"]["justification"].to_string();
    assert!(justification.contains("Past accuracy"), "{justification}");
}
