//! Incremental fetching against a real Prometheus: the second cycle of an unchanged fleet asks
//! for a small fraction of the first one's samples, and says the same as a cold run.

use std::time::Duration;

use crate::harness::{
    Prometheus, Setup, config_for, free_port, http_get, metric_value, once_json, read_log, start_daemon_with,
    wait_until,
};
use crate::history::{self, CPU_MODEL, DISK_MODEL};

fn metrics(port: u16) -> String {
    http_get(port, "/metrics").map(|(_, body)| body).unwrap_or_default()
}

fn cycles(text: &str) -> f64 {
    ["success", "failure"]
        .iter()
        .filter_map(|result| metric_value(text, "headroom_cycles_total", &[("result", result)]))
        .sum()
}

/// (cycles, samples fetched) read from one scrape once both have settled.
fn settled(port: u16) -> (f64, f64) {
    loop {
        let first = metrics(port);
        std::thread::sleep(Duration::from_millis(200));
        let second = metrics(port);
        let read = |text: &str| {
            (
                cycles(text),
                metric_value(text, "headroom_source_samples_fetched_total", &[]).unwrap_or(0.0),
            )
        };
        if read(&first) == read(&second) {
            return read(&second);
        }
    }
}

#[test]
fn the_second_cycle_fetches_only_what_is_new_and_agrees_with_a_cold_run() {
    let end = history::recent_end();
    let prometheus = Prometheus::start_with_history(&history::openmetrics(end));
    second_cycle_is_incremental(&prometheus.url());
}

/// VictoriaMetrics aligns long ranges to the step on its own; the cache must still line up.
#[test]
fn incremental_fetching_works_on_victoria_metrics_too() {
    let end = history::recent_end();
    let victoria = crate::harness::VictoriaMetrics::start_with_history(&history::openmetrics(end));
    second_cycle_is_incremental(&victoria.url());
}

fn second_cycle_is_incremental(url: &str) {
    let setup = Setup::new(
        &config_for(
            url,
            "[schedule]\ninterval = \"4s\"\n\n[store]\npath = \"state/headroom.db\"\n",
        ),
        &[("disk.toml", DISK_MODEL), ("cpu.toml", CPU_MODEL)],
    );
    let (_daemon, port, log) = start_daemon_with(&setup, free_port(), &[]);
    wait_until("the first cycle", Duration::from_secs(60), || {
        cycles(&metrics(port)) >= 1.0
    });
    let (cycles_first, samples_first) = settled(port);
    assert_eq!(cycles_first, 1.0, "read between the first and second cycle");
    assert!(
        samples_first > 20_000.0,
        "the first cycle fetched the whole window: {samples_first}"
    );
    wait_until("the second cycle", Duration::from_secs(60), || {
        cycles(&metrics(port)) >= 2.0
    });
    let (cycles_second, samples_total) = settled(port);
    assert_eq!(cycles_second, 2.0);
    let second = samples_total - samples_first;
    eprintln!("samples fetched: first cycle {samples_first}, second cycle {second}");
    assert!(
        second <= 0.10 * samples_first,
        "the second cycle fetched {second} samples, the first {samples_first}"
    );
    let text = metrics(port);
    assert!(metric_value(&text, "headroom_source_queries_total", &[("mode", "incremental")]) >= Some(2.0));
    assert!(metric_value(&text, "headroom_source_query_duration_seconds_count", &[]) >= Some(4.0));

    // The same plan as a cold run at the same time.
    let (_, cycle) = http_get(port, "/api/v1/cycle").expect("GET /api/v1/cycle");
    let warm: serde_json::Value = serde_json::from_str(&cycle).expect("cycle JSON");
    let at = warm["evaluated_at"].as_f64().expect("evaluated_at") as u64;
    let cold = once_json(&setup, at);
    assert!(cold.status.success(), "{}", String::from_utf8_lossy(&cold.stderr));
    let cold: serde_json::Value = serde_json::from_slice(&cold.stdout).expect("once JSON");
    let mut compared = 0;
    for model in warm["models"].as_array().expect("models") {
        let cold_model = cold["models"]
            .as_array()
            .and_then(|m| m.iter().find(|c| c["model"] == model["model"]))
            .expect("model in the cold run");
        for entity in model["entities"].as_array().expect("entities") {
            let cold_entity = cold_model["entities"]
                .as_array()
                .and_then(|e| e.iter().find(|c| c["labels"] == entity["labels"]))
                .unwrap_or_else(|| panic!("{} missing from the cold run", entity["labels"]));
            assert_eq!(entity["status"], cold_entity["status"]);
            assert_eq!(entity["current"], cold_entity["current"], "{}", entity["labels"]);
            for estimate in ["likely", "earliest"] {
                let (w, c) = (
                    entity["exhaustion"][estimate].as_f64(),
                    cold_entity["exhaustion"][estimate].as_f64(),
                );
                match (w, c) {
                    (Some(w), Some(c)) => assert!((w - c).abs() <= 60.0, "{estimate}: warm {w} cold {c}"),
                    (w, c) => assert_eq!(w, c, "{estimate} of {}", entity["labels"]),
                }
            }
            compared += 1;
        }
    }
    assert!(compared >= 4, "compared {compared} entities; log:\n{}", read_log(&log));
}
