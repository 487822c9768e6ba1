//! The HTTP API behind a bearer token, secrets kept out of logs and `/metrics`, and logs as
//! JSON for pipelines.

use std::time::Duration;

use crate::harness::{
    Prometheus, Setup, config_for, free_port, http_get, http_get_with, read_log, start_daemon_with, wait_until,
};
use crate::history::{self, DISK_MODEL};

const TOKEN: &str = "api-token-0123456789abcdef";

#[test]
fn the_api_needs_the_bearer_token_but_health_checks_do_not() {
    let prometheus = Prometheus::start_with_history(&history::openmetrics(history::recent_end()));
    let setup = Setup::new(&config_for(&prometheus.url(), ""), &[("disk.toml", DISK_MODEL)]);
    let (_daemon, port, log) = start_daemon_with(
        &setup,
        free_port(),
        &[
            ("HEADROOM_SERVER__BEARER_TOKEN", TOKEN),
            ("HEADROOM_LOG_FORMAT", "json"),
        ],
    );
    wait_until("readiness", Duration::from_secs(60), || {
        http_get(port, "/readyz").is_some_and(|(status, _)| status == 200)
    });
    assert_eq!(http_get(port, "/healthz").map(|(s, _)| s), Some(200));
    let bearer = format!("Bearer {TOKEN}");
    for path in ["/metrics", "/api/v1/cycle", "/api/v1/recommendations", "/report", "/"] {
        assert_eq!(
            http_get(port, path).map(|(s, _)| s),
            Some(401),
            "{path} without a token"
        );
        let wrong = http_get_with(port, path, &[("Authorization", "Bearer api-token-0123456789abcdeX")]);
        assert_eq!(wrong.map(|(s, _)| s), Some(401), "{path} with a wrong token");
        let right = http_get_with(port, path, &[("Authorization", &bearer)]);
        assert_eq!(right.map(|(s, _)| s), Some(200), "{path} with the token");
    }
    let (_, metrics) = http_get_with(port, "/metrics", &[("Authorization", &bearer)]).expect("metrics");
    assert!(!metrics.contains(TOKEN), "the token is on /metrics");

    // JSON logs: one object per line, with the level and message, and no secret.
    let log_text = read_log(&log);
    assert!(!log_text.contains(TOKEN), "the token is in the logs");
    let lines: Vec<serde_json::Value> = log_text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "model forecast" && l["eta_s"].is_number()),
        "{log_text}"
    );
    assert!(
        lines
            .iter()
            .all(|l| l["level"].is_string() && l["timestamp"].is_string())
    );
}

#[test]
fn a_short_or_inline_api_token_is_refused_by_check() {
    let setup = Setup::new(
        &config_for("http://127.0.0.1:9", "[server]\nbearer_token = \"short\"\n"),
        &[("disk.toml", DISK_MODEL)],
    );
    let output = crate::harness::run_headroom(&["check", "--config", setup.config().to_str().expect("utf-8")]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(2), "{stdout}");
    assert!(stdout.contains("server.bearer_token"), "{stdout}");
    assert!(stdout.contains("secrets do not belong in the config file"), "{stdout}");
}
