//! A resource that follows a business metric, against a real Prometheus: a scenario on the
//! driver moves the services that follow it, and only those.

use std::f64::consts::PI;
use std::fmt::Write;

use crate::harness::{Prometheus, Setup};

const STEP: u64 = 300;
const DAYS: u64 = 28;

/// Requests per second of the API: 1,000 growing 1 % a day, with a daily cycle.
fn requests(t: f64, start: f64) -> f64 {
    let days = (t - start) / 86_400.0;
    1000.0 * (1.0 + 0.01 * days) * (0.5 + 0.5 * 0.5 * (1.0 - (2.0 * PI * (t / 86_400.0 - 0.1)).cos()))
}

/// Cores used by checkout: 2 plus 4 millicores per request per second.
fn checkout_cores(t: f64, start: f64) -> f64 {
    2.0 + 0.004 * requests(t, start)
}

/// Cores used by batch: its own nightly job, unrelated to requests.
fn batch_cores(t: f64) -> f64 {
    let hour = (t / 3600.0).rem_euclid(24.0);
    if (1.0..5.0).contains(&hour) { 9.0 } else { 3.0 }
}

const MODEL: &str = r#"
name = "service-cpu"
usage = 'service_cpu_cores'
capacity = 16
threshold = "80%"
unit = "cores"
history = "28d"
step = "5m"
horizon = "30d"

[driver]
name = "requests"
query = 'job:http_requests:rate5m{job="api"}'
"#;

#[test]
fn a_driver_scenario_moves_the_services_that_follow_it_and_no_other() {
    let (start, end, points) = crate::harness::recent_window(DAYS, STEP);
    let mut history = String::from("# TYPE job:http_requests:rate5m gauge\n");
    for k in 0..points {
        let t = start + k * STEP;
        let _ = writeln!(
            history,
            "job:http_requests:rate5m{{job=\"api\"}} {} {t}",
            requests(t as f64, start as f64)
        );
    }
    history.push_str("# TYPE service_cpu_cores gauge\n");
    for k in 0..points {
        let t = start + k * STEP;
        let wobble = 0.02 * ((k * 7919 % 13) as f64 / 13.0 - 0.5);
        let _ = writeln!(
            history,
            "service_cpu_cores{{service=\"checkout\"}} {} {t}",
            checkout_cores(t as f64, start as f64) + wobble
        );
        let _ = writeln!(
            history,
            "service_cpu_cores{{service=\"batch\"}} {} {t}",
            batch_cores(t as f64) + wobble
        );
    }
    history.push_str("# EOF\n");
    let prometheus = Prometheus::start_with_history(&history);
    let scenario = format!(
        "[[scenarios]]\nname = \"requests-plus-50\"\n[[scenarios.changes]]\nkind = \"step\"\nfrom = \"{end}\"\nmultiply = 1.5\ndrivers = [\"requests\"]\n"
    );
    let setup = Setup::new(
        &crate::harness::config_for(&prometheus.url(), &scenario),
        &[("service-cpu.toml", MODEL)],
    );
    let output = crate::harness::once_json(&setup, end);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let entities = json["models"][0]["entities"].as_array().expect("entities");
    let service = |name: &str| {
        entities
            .iter()
            .find(|e| e["labels"]["service"] == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    let (checkout, batch) = (service("checkout"), service("batch"));

    // Checkout follows requests: the fit finds 4 millicores per request/s.
    let fit = &checkout["driver"];
    assert_eq!(checkout["driver_used"], true, "{checkout:#}");
    assert!((fit["slope"].as_f64().expect("slope") - 0.004).abs() < 0.0002, "{fit}");
    assert!(fit["r_squared"].as_f64().expect("r2") > 0.95, "{fit}");
    // Batch does not: forecast on its own, and said so.
    assert_eq!(batch["driver_used"], false, "{batch:#}");
    assert!(
        batch["recommendation"]["caveats"]
            .as_array()
            .expect("caveats")
            .iter()
            .any(|c| c.as_str().is_some_and(|c| c.contains("explains only")))
    );

    // By hand: the peak request rate over the 30-day horizon, and checkout's peak with it.
    let (start, end) = (start as f64, end as f64);
    let peak_requests = (0..30 * 24 * 60)
        .map(|m| requests(end + m as f64 * 60.0, start))
        .fold(0.0, f64::max);
    let baseline_peak = checkout["recommendation"]["peak_expected"].as_f64().expect("peak");
    assert!(
        (baseline_peak - (2.0 + 0.004 * peak_requests)).abs() / baseline_peak < 0.05,
        "baseline peak {baseline_peak}, by hand {}",
        2.0 + 0.004 * peak_requests
    );
    let scenario_of = |entity: &serde_json::Value| {
        entity["scenarios"]
            .as_array()
            .and_then(|s| s.first())
            .cloned()
            .expect("scenario")
    };
    let moved = scenario_of(checkout);
    assert_eq!(moved["scenario"], "requests-plus-50");
    let moved_peak = moved["recommendation"]["peak_expected"].as_f64().expect("peak");
    let by_hand = 2.0 + 0.004 * 1.5 * peak_requests;
    assert!(
        (moved_peak - by_hand).abs() / by_hand < 0.05,
        "scenario peak {moved_peak}, by hand {by_hand}"
    );
    // Batch is untouched by a scenario on requests: it carries no result of it (its baseline
    // is the scenario's answer), and the cycle counts one entity changed.
    assert_eq!(batch["scenarios"], serde_json::json!([]), "{batch:#}");
    let reach = &json["scenarios"][0];
    assert_eq!(reach["name"], "requests-plus-50", "{reach}");
    assert_eq!(reach["entities_changed"], 1, "{reach}");
}
