//! How a source's error answers are judged: by HTTP status first. A 5xx or a 429 is the source
//! saying "not now" (retried with backoff, `Retry-After` honoured, the source counted down),
//! whatever JSON error body comes with it; another 4xx is the query's fault (not retried, the
//! source stays up).

use std::time::Duration;

use crate::harness::{
    Prometheus, Receiver, Setup, config_for, free_port, http_get, metric_value, read_log, start_daemon_with, wait_until,
};
use crate::history::{self, DISK_MODEL};

fn metrics(port: u16) -> String {
    http_get(port, "/metrics").map(|(_, body)| body).unwrap_or_default()
}

/// Requests Prometheus itself counted on its range-query endpoint with HTTP `code`.
fn prometheus_requests(prometheus: &Prometheus, code: &str) -> f64 {
    metric_value(
        &metrics(prometheus.port),
        "prometheus_http_requests_total",
        &[("handler", "/api/v1/query_range"), ("code", code)],
    )
    .unwrap_or(0.0)
}

/// A real Prometheus whose query timeout is too short answers 503 with its JSON error
/// (`errorType: timeout`): retried, counted as the source being down, and recovered from when
/// the same server comes back with a sane timeout.
#[test]
fn a_prometheus_timing_out_with_a_json_503_is_retried_and_counted_down() {
    let mut prometheus = Prometheus::start_with_history_and_flags(
        &history::openmetrics(history::recent_end()),
        &["--query.timeout=1ms"],
    );
    let setup = Setup::new(
        &config_for(&prometheus.url(), "[schedule]\ninterval = \"1h\"\n"),
        &[("disk.toml", DISK_MODEL)],
    );
    let (mut daemon, port, log) = start_daemon_with(&setup, free_port(), &[]);
    wait_until("the 503 to be counted", Duration::from_secs(60), || {
        metric_value(&metrics(port), "headroom_source_errors_total", &[("kind", "http")]) >= Some(1.0)
    });
    let text = metrics(port);
    assert!(text.contains("headroom_source_up 0"), "{text}");
    assert_eq!(
        metric_value(&text, "headroom_source_errors_total", &[("kind", "query")]),
        None,
        "{text}"
    );
    // One cycle's query was tried three times before it counted as failed.
    assert!(
        prometheus_requests(&prometheus, "503") >= 3.0,
        "{}",
        metrics(prometheus.port)
    );
    assert!(read_log(&log).contains("timeout"), "{}", read_log(&log));

    // The same Prometheus with its default timeout: the source-down backoff (not the hourly
    // interval) brings the results back.
    prometheus.stop();
    prometheus.flags.clear();
    prometheus.start();
    wait_until("recovery", Duration::from_secs(60), || {
        let text = metrics(port);
        text.contains("headroom_source_up 1") && text.contains("headroom_model_up{model=\"disk\"} 1")
    });
    assert!(daemon.running(), "{}", read_log(&log));
}

/// A real Prometheus refusing a query that would load too many samples answers 422
/// (`errorType: execution`): that is the query's fault, asked once, and the source stays up.
#[test]
fn a_query_prometheus_refuses_with_a_4xx_is_not_retried_and_the_source_stays_up() {
    let prometheus = Prometheus::start_with_history_and_flags(
        &history::openmetrics(history::recent_end()),
        &["--query.max-samples=10"],
    );
    let setup = Setup::new(
        &config_for(&prometheus.url(), "[schedule]\ninterval = \"1h\"\n"),
        &[("disk.toml", DISK_MODEL)],
    );
    let (_daemon, port, log) = start_daemon_with(&setup, free_port(), &[]);
    wait_until("the refusal to be counted", Duration::from_secs(60), || {
        metric_value(&metrics(port), "headroom_source_errors_total", &[("kind", "query")]) >= Some(1.0)
    });
    let text = metrics(port);
    assert!(text.contains("headroom_source_up 1"), "{text}");
    assert!(text.contains("headroom_model_up{model=\"disk\"} 0"), "{text}");
    assert_eq!(prometheus_requests(&prometheus, "422"), 1.0, "asked once");
    assert!(read_log(&log).contains("execution"), "{}", read_log(&log));
}

/// Mimir and Cortex answer a tenant over its limits with 429 (JSON `too_many_requests`, or
/// plain text from the queue), and a gateway in front may add `Retry-After`; Thanos Query
/// answers 500 `internal` when a store is unavailable. A real Prometheus never sends these,
/// so a stand-in in front of one does (tests/support/fake_prometheus.py).
#[test]
fn rate_limits_and_unavailable_stores_are_waited_for_and_counted_down() {
    let end = history::recent_end();
    let prometheus = Prometheus::start_with_history(&history::openmetrics(end));
    let dir = tempfile::tempdir().expect("temp dir");
    let mode = dir.path().join("mode");
    let set_mode = |value: serde_json::Value| std::fs::write(&mode, value.to_string()).expect("write mode");
    let proxy = format!("proxy {}", prometheus.url());
    // One 429 asking for 2 s, then the real answers.
    set_mode(serde_json::json!({
        "status": 429,
        "headers": {"Retry-After": "2"},
        "body": r#"{"status":"error","errorType":"too_many_requests","error":"the request has been rejected because the tenant exceeded the request rate limit"}"#,
        "times": 1,
        "then": proxy,
    }));
    let mut fake = Receiver::fake_prometheus(&mode);
    fake.start();
    let setup = Setup::new(
        &config_for(
            &format!("http://127.0.0.1:{}", fake.port),
            "[schedule]\ninterval = \"1h\"\n",
        ),
        &[("disk.toml", DISK_MODEL)],
    );
    let output = crate::harness::once_json(&setup, end);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let requests: Vec<serde_json::Value> = std::fs::read_to_string(fake.dir.path().join("out/requests.jsonl"))
        .expect("requests")
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON"))
        .collect();
    let gap = requests[1]["time"].as_f64().expect("time") - requests[0]["time"].as_f64().expect("time");
    assert!((2.0..6.0).contains(&gap), "waited {gap} s after a 429 asking for 2 s");

    // A store that stays unavailable, then a tenant that stays limited (plain text): the
    // source is down, and the daemon keeps serving and says so.
    set_mode(serde_json::json!({
        "status": 500,
        "body": r#"{"status":"error","errorType":"internal","error":"receive series from Addr: 10.0.0.7:10901: rpc error: code = Unavailable desc = connection refused"}"#,
    }));
    let (mut daemon, port, log) = start_daemon_with(&setup, free_port(), &[]);
    wait_until("the unavailable store to be counted", Duration::from_secs(60), || {
        metric_value(&metrics(port), "headroom_source_errors_total", &[("kind", "http")]) >= Some(1.0)
    });
    assert!(metrics(port).contains("headroom_source_up 0"));
    assert!(read_log(&log).contains("code = Unavailable"), "{}", read_log(&log));
    set_mode(serde_json::json!({"status": 429, "body": "too many outstanding requests"}));
    wait_until("the plain-text 429 to be counted", Duration::from_secs(60), || {
        metric_value(&metrics(port), "headroom_source_errors_total", &[("kind", "http")]) >= Some(2.0)
    });
    assert!(metrics(port).contains("headroom_source_up 0"));
    assert_eq!(
        metric_value(&metrics(port), "headroom_source_errors_total", &[("kind", "query")]),
        None
    );
    std::fs::write(&mode, &proxy).expect("write mode");
    wait_until("recovery", Duration::from_secs(60), || {
        metrics(port).contains("headroom_source_up 1")
    });
    assert!(daemon.running(), "{}", read_log(&log));
}
