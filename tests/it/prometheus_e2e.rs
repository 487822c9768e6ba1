//! From a real Prometheus to exhaustion estimates: `headroom once` and `headroom run`.

use std::time::Duration;

use crate::harness::{Prometheus, Setup, http_get, once_json, promtool_check_metrics, wait_until};
use crate::history::{self, CPU_MODEL, DISK_MODEL, DISK_SIZE};

use crate::harness::config_for as config;

fn entity<'a>(json: &'a serde_json::Value, model: &str, instance: &str) -> &'a serde_json::Value {
    json["models"]
        .as_array()
        .and_then(|models| models.iter().find(|m| m["model"] == model))
        .and_then(|m| m["entities"].as_array())
        .and_then(|entities| entities.iter().find(|e| e["labels"]["instance"] == instance))
        .unwrap_or_else(|| panic!("no entity {instance} in model {model}: {json:#}"))
}

#[test]
fn once_forecasts_exhaustion_from_a_real_prometheus() {
    let end = history::recent_end();
    let prometheus = Prometheus::start_with_history(&history::openmetrics(end));
    once_forecasts_the_test_fleet(&prometheus.url(), end);
}

/// The same end-to-end check on VictoriaMetrics, which differs from Prometheus in step
/// alignment, kept metric names, error shapes and its latency offset.
#[test]
fn once_forecasts_exhaustion_from_a_real_victoria_metrics() {
    let end = history::recent_end();
    let victoria = crate::harness::VictoriaMetrics::start_with_history(&history::openmetrics(end));
    once_forecasts_the_test_fleet(&victoria.url(), end);
}

/// `headroom once` against a backend holding the test fleet ending at `end`: the filling
/// disk's crossing within 10 % of the truth, no crossing for the flat CPU, the gappy disk
/// forecast, the short one refused.
pub fn once_forecasts_the_test_fleet(url: &str, end: u64) {
    let setup = Setup::new(&config(url, ""), &[("disk.toml", DISK_MODEL), ("cpu.toml", CPU_MODEL)]);
    let output = once_json(&setup, end);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "headroom once failed: {stderr}");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON output");
    assert_eq!(json["schema_version"], 1);
    crate::harness::assert_matches_schema(
        "docs/schemas/cycle.schema.json",
        &String::from_utf8_lossy(&output.stdout),
    );
    let now = json["evaluated_at"].as_f64().expect("evaluated_at");

    // The filling disk: the truth is the first time noise-free use reaches 90 % of 1 TB.
    let start = history::start_of(end) as f64;
    let threshold = 0.9 * DISK_SIZE;
    let true_cross = (0..)
        .map(|k| end as f64 + k as f64 * 60.0)
        .find(|t| history::fill_used(t - start) >= threshold)
        .expect("the truth crosses");
    let fill = entity(&json, "disk", "fill:9100");
    assert_eq!(fill["status"], "ok", "{fill:#}");
    let likely = fill["exhaustion"]["likely"].as_f64().expect("likely exhaustion");
    let runway = true_cross - now;
    let error = (likely - true_cross).abs() / runway;
    assert!(
        error <= 0.10,
        "likely exhaustion off by {:.1} % of the {:.1}-day runway",
        error * 100.0,
        runway / 86_400.0
    );
    let earliest = fill["exhaustion"]["earliest"].as_f64().expect("earliest exhaustion");
    assert!(
        earliest <= likely && earliest > now,
        "earliest {earliest} likely {likely} now {now}"
    );

    // The CPU has cycles but no trend: no exhaustion within the horizon.
    let cpu = entity(&json, "cpu", "cpu:9100");
    assert_eq!(cpu["status"], "ok", "{cpu:#}");
    assert!(
        cpu["exhaustion"]["likely"].is_null() && cpu["exhaustion"]["earliest"].is_null(),
        "{cpu:#}"
    );
    let periods = cpu["forecast"]["seasonal_periods_seconds"].as_array().expect("periods");
    assert!(
        periods.iter().any(|p| p == 86_400.0) && periods.iter().any(|p| p == 604_800.0),
        "{periods:?}"
    );

    // The disk with gaps is forecast anyway, and its crossing is still near the truth.
    let gappy = entity(&json, "disk", "gappy:9100");
    assert_eq!(gappy["status"], "ok", "{gappy:#}");
    assert!(gappy["forecast"]["observed_points"].as_u64() < gappy["forecast"]["history_points"].as_u64());
    let gappy_truth = (0..)
        .map(|k| end as f64 + k as f64 * 600.0)
        .take(200_000)
        .find(|t| history::gappy_used(t - start) >= threshold);
    if let (Some(truth), Some(likely)) = (gappy_truth, gappy["exhaustion"]["likely"].as_f64()) {
        assert!(
            (likely - truth).abs() / (truth - now) <= 0.10,
            "gappy disk off: {likely} vs {truth}"
        );
    }

    // Six hours of history is too short to say anything.
    let short = entity(&json, "disk", "short:9100");
    assert_eq!(short["status"], "insufficient_history", "{short:#}");
    assert!(
        short["reason"]
            .as_str()
            .is_some_and(|r| r.contains("insufficient history"))
    );
}

#[test]
fn run_serves_metrics_that_promtool_accepts_and_survives_prometheus_restarts() {
    let end = history::recent_end();
    let mut prometheus = Prometheus::start_with_history(&history::openmetrics(end));
    let setup = Setup::new(
        &config(&prometheus.url(), "\n[schedule]\ninterval = \"2s\"\n"),
        &[("disk.toml", DISK_MODEL)],
    );
    let (mut daemon, port, log) = crate::harness::start_daemon(&setup);
    wait_until("headroom to be ready", Duration::from_secs(60), || {
        http_get(port, "/readyz").is_some_and(|(status, _)| status == 200)
    });
    assert!(
        daemon.running(),
        "{} exited: {}",
        daemon.name(),
        crate::harness::read_log(&log)
    );
    let (status, metrics) = http_get(port, "/metrics").expect("scrape");
    assert_eq!(status, 200);
    let (code, lint) = promtool_check_metrics(&metrics);
    assert_eq!(code, 0, "promtool check metrics: {lint}\n{metrics}");
    assert!(metrics.contains("headroom_source_up 1"), "{metrics}");
    let exhaustion_line = metrics
        .lines()
        .find(|l| {
            l.starts_with("headroom_exhaustion_timestamp_seconds{")
                && l.contains("instance=\"fill:9100\"")
                && l.contains("estimate=\"likely\"")
        })
        .unwrap_or_else(|| panic!("no likely exhaustion for fill:9100 in\n{metrics}"));
    assert!(exhaustion_line.contains("model=\"disk\""));
    // A second, independent reader of the exposition: the prometheus-parse crate.
    let scrape = prometheus_parse::Scrape::parse(metrics.lines().map(|l| Ok(l.to_string()))).expect("parse /metrics");
    let likely = scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == "headroom_exhaustion_timestamp_seconds"
                && s.labels.get("instance") == Some("fill:9100")
                && s.labels.get("estimate") == Some("likely")
        })
        .expect("likely exhaustion sample");
    let prometheus_parse::Value::Gauge(at) = likely.value else {
        panic!("exhaustion must be a gauge")
    };
    assert!(
        at > end as f64 && at < end as f64 + 30.0 * 86_400.0,
        "exhaustion at {at}"
    );
    assert!(metrics.contains("headroom_forecast_status{model=\"disk\",fstype=\"ext4\",instance=\"short:9100\",job=\"node\",mountpoint=\"/data\",status=\"insufficient_history\"} 1"), "{metrics}");

    // The recommendations API: the fill disk is listed, filters work, bad filters are explained.
    let (status, body) = http_get(port, "/api/v1/recommendations?model=disk").expect("recommendations");
    assert_eq!(status, 200, "{body}");
    crate::harness::assert_matches_schema("docs/schemas/recommendations.schema.json", &body);
    let (status, cycle) = http_get(port, "/api/v1/cycle").expect("cycle");
    assert_eq!(status, 200, "{cycle}");
    crate::harness::assert_matches_schema("docs/schemas/cycle.schema.json", &cycle);
    let cycle: serde_json::Value = serde_json::from_str(&cycle).expect("json");
    assert_eq!(cycle["schema_version"], 1);
    assert!(
        cycle["models"][0]["entities"][0]["forecast"]["method"].is_string()
            || cycle["models"][0]["entities"][0]["status"] != "ok",
        "the cycle names each forecast's method: {cycle:#}"
    );
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    let items = json["recommendations"].as_array().expect("list");
    let fill = items
        .iter()
        .find(|i| i["labels"]["instance"] == "fill:9100")
        .expect("fill disk listed");
    assert!(
        fill["recommendation"]["runway_days"]
            .as_f64()
            .is_some_and(|d| d > 0.0 && d < 30.0),
        "{fill:#}"
    );
    assert!(items.iter().all(|i| i["model"] == "disk"));
    let (status, body) = http_get(port, "/api/v1/recommendations?model=nothing").expect("empty");
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).expect("json")["recommendations"],
        serde_json::json!([])
    );
    let (status, body) = http_get(port, "/api/v1/recommendations?colour=red").expect("bad filter");
    assert_eq!(status, 400);
    assert!(body.contains("valid filters: model, team, urgency"), "{body}");

    // Prometheus goes away: Headroom keeps serving and says the source is down.
    prometheus.stop();
    wait_until("headroom_source_up 0", Duration::from_secs(60), || {
        http_get(port, "/metrics").is_some_and(|(_, m)| m.contains("headroom_source_up 0"))
    });
    let (_, metrics) = http_get(port, "/metrics").expect("scrape while the source is down");
    assert!(
        metrics.contains("headroom_exhaustion_timestamp_seconds{"),
        "the last good results must stay served"
    );
    assert!(
        metrics.contains("headroom_source_errors_total{kind=\"unreachable\"}"),
        "{metrics}"
    );

    // It comes back: Headroom recovers by itself.
    prometheus.start();
    wait_until("headroom_source_up 1 again", Duration::from_secs(60), || {
        http_get(port, "/metrics").is_some_and(|(_, m)| m.contains("headroom_source_up 1"))
    });
    assert!(daemon.running(), "headroom exited: {}", crate::harness::read_log(&log));

    // SIGTERM stops it cleanly.
    let pid = daemon.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let mut status = None;
    wait_until("headroom to exit after SIGTERM", Duration::from_secs(15), || {
        status = daemon.try_status();
        status.is_some()
    });
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "{}",
        crate::harness::read_log(&log)
    );
    assert!(crate::harness::read_log(&log).contains("stopping"));
}

#[test]
fn split_range_queries_give_the_same_forecasts_and_bad_promql_is_explained() {
    let end = history::recent_end();
    let prometheus = Prometheus::start_with_history(&history::openmetrics(end));
    let once = |extra: &str, models: &[(&str, &str)]| {
        let setup = Setup::new(
            &config(&prometheus.url(), "").replace("timeout = \"10s\"", &format!("timeout = \"10s\"\n{extra}")),
            models,
        );
        once_json(&setup, end)
    };
    // 8,064 points per series in one request, or in 500-point pieces: the same answer.
    let whole = once("", &[("disk.toml", DISK_MODEL)]);
    let pieces = once("max_points_per_request = 500", &[("disk.toml", DISK_MODEL)]);
    assert!(
        whole.status.success() && pieces.status.success(),
        "{}",
        String::from_utf8_lossy(&pieces.stderr)
    );
    let strip = |out: &std::process::Output| {
        let mut json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        json["duration_seconds"] = serde_json::Value::Null;
        json["evaluated_at"] = serde_json::Value::Null;
        for model in json["models"].as_array_mut().expect("models") {
            model.as_object_mut().expect("model").remove("duration_seconds");
        }
        json
    };
    assert_eq!(strip(&whole)["models"], strip(&pieces)["models"]);

    // A query Prometheus rejects (an unknown function: balanced text, which `check` cannot
    // judge): the error names the query and carries Prometheus' message.
    let broken = history::DISK_MODEL.replace(
        "usage = 'node_filesystem_size_bytes{job=\"node\"} -",
        "usage = 'sum_by_instance(node_filesystem_size_bytes{job=\"node\"}) -",
    );
    let output = once("", &[("disk.toml", &broken)]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bad_data") && stderr.contains("parse error"),
        "{stderr}"
    );
    assert!(
        stderr.contains("sum_by_instance(node_filesystem_size_bytes"),
        "{stderr}"
    );
}

/// Hourly steps downsampled on the server (`max_over_time` of a subquery at the scrape
/// resolution): a twelfth of the samples, the peaks kept, and the crossing still near the truth
/// on both backends.
#[test]
fn server_side_downsampling_keeps_the_crossing_on_both_backends() {
    let end = history::recent_end();
    let prometheus = Prometheus::start_with_history(&history::openmetrics(end));
    let victoria = crate::harness::VictoriaMetrics::start_with_history(&history::openmetrics(end));
    let hourly = DISK_MODEL.replace("step = \"5m\"", "step = \"1h\"")
        + "\n[downsample]\nfunction = \"max\"\nresolution = \"5m\"\n";
    let start = history::start_of(end) as f64;
    let truth = (0..)
        .map(|k| end as f64 + k as f64 * 60.0)
        .find(|t| history::fill_used(t - start) >= 0.9 * DISK_SIZE)
        .expect("the truth crosses");
    for url in [prometheus.url(), victoria.url()] {
        let setup = Setup::new(&config(&url, ""), &[("disk.toml", hourly.as_str())]);
        let output = once_json(&setup, end);
        assert!(
            output.status.success(),
            "{url}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
        let fill = entity(&json, "disk", "fill:9100");
        assert!(
            fill["forecast"]["history_points"].as_u64() <= Some(28 * 24 + 1),
            "{fill:#}"
        );
        let likely = fill["exhaustion"]["likely"].as_f64().expect("likely");
        let now = json["evaluated_at"].as_f64().expect("now");
        assert!(
            (likely - truth).abs() / (truth - now) <= 0.10,
            "{url}: likely {likely}, truth {truth}"
        );
    }
}
