//! Each model on its own interval: a fast model is planned again and again while a slow one
//! keeps its results, and both stay published.

use std::time::Duration;

use crate::harness::{Prometheus, Setup, config_for, free_port, http_get, metric_value, start_daemon_with, wait_until};
use crate::history::{self, CPU_MODEL, DISK_MODEL};

#[test]
fn models_run_on_their_own_intervals() {
    let prometheus = Prometheus::start_with_history(&history::openmetrics(history::recent_end()));
    let fast_disk = format!("{DISK_MODEL}\ninterval = \"1s\"\n");
    let slow_cpu = format!("{CPU_MODEL}\ninterval = \"1h\"\n");
    let setup = Setup::new(
        &config_for(&prometheus.url(), "[schedule]\ninterval = \"1h\"\n"),
        &[("disk.toml", fast_disk.as_str()), ("cpu.toml", slow_cpu.as_str())],
    );
    let (_daemon, port, _log) = start_daemon_with(&setup, free_port(), &[]);
    let results_from = |model: &str| {
        http_get(port, "/metrics")
            .and_then(|(_, text)| metric_value(&text, "headroom_model_results_timestamp_seconds", &[("model", model)]))
    };
    wait_until("both models planned", Duration::from_secs(60), || {
        results_from("disk").is_some() && results_from("cpu").is_some()
    });
    let (disk_first, cpu_first) = (results_from("disk"), results_from("cpu"));
    wait_until("the fast model to be planned again", Duration::from_secs(30), || {
        results_from("disk") > disk_first
    });
    assert_eq!(results_from("cpu"), cpu_first, "the hourly model is not planned again");
    let (_, text) = http_get(port, "/metrics").expect("metrics");
    assert!(
        metric_value(&text, "headroom_model_up", &[("model", "cpu")]) == Some(1.0),
        "still published"
    );
}
