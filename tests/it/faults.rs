//! Faults of the neighbours and of Headroom itself: a source that stalls past the timeout or
//! answers garbage, and SIGKILL in the middle of running. In each, Headroom keeps serving,
//! reports the fault in metrics and logs, recovers by itself, and keeps what it committed.

use std::time::Duration;

use crate::harness::{
    Prometheus, Receiver, Setup, config_for, free_port, http_get, metric_value, read_log, start_daemon_with, wait_until,
};
use crate::history::{self, DISK_MODEL};

fn metrics(port: u16) -> String {
    http_get(port, "/metrics").map(|(_, body)| body).unwrap_or_default()
}

fn has_fill_exhaustion(text: &str) -> bool {
    metric_value(
        text,
        "headroom_exhaustion_timestamp_seconds",
        &[("instance", "fill:9100"), ("estimate", "likely")],
    )
    .is_some()
}

/// The fake stands in front of a real Prometheus: a real one cannot be made to stall past
/// the client's timeout, or to send a truncated body, on demand.
#[test]
fn a_stalling_or_garbled_source_is_survived_and_recovered_from() {
    let prometheus = Prometheus::start_with_history(&history::openmetrics(history::recent_end()));
    let dir = tempfile::tempdir().expect("temp dir");
    let mode = dir.path().join("mode");
    let set_mode = |text: &str| std::fs::write(&mode, text).expect("write mode");
    set_mode("slow");
    let mut fake = Receiver::fake_prometheus(&mode);
    fake.start();
    let setup = Setup::new(
        &config_for(
            &format!("http://127.0.0.1:{}", fake.port),
            "[schedule]\ninterval = \"2s\"\n[store]\npath = \"state/headroom.db\"\n",
        )
        .replace("timeout = \"10s\"", "timeout = \"1s\""),
        &[("disk.toml", DISK_MODEL)],
    );
    let (mut daemon, port, log) = start_daemon_with(&setup, free_port(), &[]);

    // Stalling: every query times out; the daemon serves and says the source is down.
    wait_until("the timeout to be reported", Duration::from_secs(90), || {
        metric_value(
            &metrics(port),
            "headroom_source_errors_total",
            &[("kind", "unreachable")],
        ) >= Some(1.0)
    });
    let text = metrics(port);
    assert!(text.contains("headroom_source_up 0"), "{text}");
    assert_eq!(http_get(port, "/healthz").map(|(s, _)| s), Some(200));
    assert!(
        read_log(&log).contains("timed out") || read_log(&log).contains("timeout"),
        "{}",
        read_log(&log)
    );

    // The source recovers: so does Headroom, by itself.
    set_mode(&format!("proxy {}", prometheus.url()));
    wait_until("results after recovery", Duration::from_secs(90), || {
        let text = metrics(port);
        text.contains("headroom_source_up 1") && has_fill_exhaustion(&text)
    });

    // Garbage: reported as malformed; the last good results keep being served.
    set_mode("garbage");
    wait_until("the malformed answer to be reported", Duration::from_secs(90), || {
        metric_value(&metrics(port), "headroom_source_errors_total", &[("kind", "malformed")]) >= Some(1.0)
    });
    let text = metrics(port);
    assert!(has_fill_exhaustion(&text), "the last good results are still served");
    assert!(text.contains("headroom_model_up{model=\"disk\"} 0"), "{text}");
    set_mode(&format!("proxy {}", prometheus.url()));
    wait_until("recovery from garbage", Duration::from_secs(90), || {
        metrics(port).contains("headroom_model_up{model=\"disk\"} 1")
    });
    assert!(daemon.running(), "{}", read_log(&log));
}

#[test]
fn sigkill_mid_run_keeps_the_cache_and_the_outbox() {
    let prometheus = Prometheus::start_with_history(&history::openmetrics(history::recent_end()));
    let hook = Receiver::webhook(200);
    let extra = format!(
        "[schedule]\ninterval = \"1s\"\n[store]\npath = \"state/headroom.db\"\n\
         [[webhooks]]\nname = \"ops\"\nurl = \"http://127.0.0.1:{}/\"\nsecret_env = \"SECRET\"\n\
         [delivery]\nretry_initial = \"1s\"\nretry_max = \"2s\"\n",
        hook.port
    );
    let disk = format!("{DISK_MODEL}\n[scaling]\nunit_size = 100e9\nlead_time = \"14d\"\n");
    let setup = Setup::new(&config_for(&prometheus.url(), &extra), &[("disk.toml", disk.as_str())]);
    let env = [("SECRET", "fault-test-secret")];
    let port = free_port();
    // Kill it three times while it runs cycles back to back, at different points.
    for round in 0..3 {
        let (mut daemon, _, log) = start_daemon_with(&setup, port, &env);
        wait_until("a cycle", Duration::from_secs(60), || {
            metrics(port).contains("headroom_cycles_total")
        });
        std::thread::sleep(Duration::from_millis(150 + 370 * round));
        daemon.stop();
        assert!(!read_log(&log).contains("panicked"), "{}", read_log(&log));
    }
    let (_daemon, _, log) = start_daemon_with(&setup, port, &env);
    wait_until("a cycle after the kills", Duration::from_secs(60), || {
        metric_value(&metrics(port), "headroom_cycles_total", &[("result", "success")]) >= Some(1.0)
    });
    let text = metrics(port);
    // The history cache survived: this process fetched only what is new.
    assert_eq!(
        metric_value(&text, "headroom_source_queries_total", &[("mode", "full")]),
        Some(0.0),
        "{}",
        read_log(&log)
    );
    // The webhook queued before the kills is still pending, once.
    assert_eq!(
        metric_value(&text, "headroom_outbox_messages", &[("state", "pending")]),
        Some(1.0)
    );
    assert_eq!(metric_value(&text, "headroom_store_errors_total", &[]), Some(0.0));
}

/// Mimir and Cortex want a tenant header, Thanos Query and Mimir a path prefix: both reach the
/// store (VictoriaMetrics also answers under `/prometheus`), recorded by the fake in front.
#[test]
fn tenant_headers_and_path_prefixes_reach_the_store() {
    let end = history::recent_end();
    let victoria = crate::harness::VictoriaMetrics::start_with_history(&history::openmetrics(end));
    let dir = tempfile::tempdir().expect("temp dir");
    let mode = dir.path().join("mode");
    std::fs::write(&mode, format!("proxy {}", victoria.url())).expect("mode");
    let mut fake = Receiver::fake_prometheus(&mode);
    fake.start();
    let extra = "";
    let config = config_for(&format!("http://127.0.0.1:{}/prometheus", fake.port), extra).replace(
        "timeout = \"10s\"\n",
        "timeout = \"10s\"\nheaders = { \"X-Scope-OrgID\" = \"team-a\" }\n",
    );
    let setup = Setup::new(&config, &[("disk.toml", DISK_MODEL)]);
    let output = crate::harness::once_json(&setup, end);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let fill = json["models"][0]["entities"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["labels"]["instance"] == "fill:9100"))
        .expect("the fill disk, through the prefix");
    assert!(fill["exhaustion"]["likely"].is_number());
    let requests = std::fs::read_to_string(fake.dir.path().join("out/requests.jsonl")).expect("requests");
    let first: serde_json::Value = serde_json::from_str(requests.lines().next().expect("a request")).expect("JSON");
    assert!(
        first["path"]
            .as_str()
            .is_some_and(|p| p.starts_with("/prometheus/api/v1/query_range?")),
        "{first}"
    );
    assert_eq!(first["headers"]["x-scope-orgid"], "team-a");
}

/// Two daemons on one state file: the second is refused, naming the file and the process that
/// holds it, and the first carries on; two started at the same moment on a fresh file end the
/// same way (one runs, no migration error). A lock left by a killed daemon locks nothing.
#[test]
fn a_second_daemon_on_the_same_state_file_is_refused() {
    let config = config_for(
        "http://127.0.0.1:9",
        "[schedule]\ninterval = \"1h\"\n[store]\npath = \"state/headroom.db\"\n",
    );
    let setup = Setup::new(&config, &[("disk.toml", DISK_MODEL)]);
    let serving = |port: u16| http_get(port, "/healthz").is_some_and(|(status, _)| status == 200);
    let (mut first, first_port, log) = start_daemon_with(&setup, free_port(), &[]);
    wait_until("the first daemon", Duration::from_secs(30), || serving(first_port));
    let second = crate::harness::run_headroom(&[
        "run",
        "--config",
        setup.config().to_str().expect("utf-8"),
        "--listen",
        &format!("127.0.0.1:{}", free_port()),
    ]);
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "{stderr}");
    let state = setup.dir.path().join("state/headroom.db");
    assert!(
        stderr.contains(&format!(
            "the state file {} is in use by another Headroom (pid {}",
            state.display(),
            first.id()
        )),
        "{stderr}"
    );
    assert!(first.running() && serving(first_port), "{}", read_log(&log));

    // Killed, the first leaves its lock file behind; it holds nothing.
    first.stop();
    let (_third, third_port, _) = start_daemon_with(&setup, free_port(), &[]);
    wait_until("a daemon after the kill", Duration::from_secs(30), || {
        serving(third_port)
    });

    // Started together on fresh files: one runs, the other is refused, never a migration error.
    for round in 0..5 {
        let config = config.replace("state/headroom.db", &format!("fresh-{round}/headroom.db"));
        std::fs::write(setup.config(), &config).expect("config");
        let ports = [free_port(), free_port()];
        let mut pair: Vec<_> = ports
            .iter()
            .map(|port| start_daemon_with(&setup, *port, &[]).0)
            .collect();
        wait_until("one of the pair to stop", Duration::from_secs(30), || {
            pair.iter_mut().any(|daemon| !daemon.running())
        });
        let running: Vec<bool> = pair.iter_mut().map(|daemon| daemon.running()).collect();
        assert_eq!(
            running.iter().filter(|r| **r).count(),
            1,
            "round {round}: {}",
            read_log(&log)
        );
        let survivor = ports[running.iter().position(|r| *r).expect("one runs")];
        wait_until("the survivor", Duration::from_secs(30), || serving(survivor));
    }
    let text = read_log(&log);
    assert_eq!(text.matches("is in use by another Headroom").count(), 5, "{text}");
    assert!(
        !text.contains("database is locked") && !text.contains("already exists"),
        "{text}"
    );
}

/// A row in the outbox that cannot be read back (a body stored as text by hand, attempts out
/// of range) is failed with its error, once; the messages queued behind it are delivered to a
/// real webhook receiver, and the worker does not spin on it.
#[test]
fn an_unreadable_outbox_row_is_failed_and_the_queue_moves_on() {
    let mut hook = Receiver::webhook(200);
    hook.start();
    let config = config_for(
        "http://127.0.0.1:9",
        &format!(
            "[schedule]\ninterval = \"1h\"\n[store]\npath = \"state/headroom.db\"\n\
             [[webhooks]]\nname = \"ops\"\nurl = \"http://127.0.0.1:{}/\"\nsecret_env = \"SECRET\"\n",
            hook.port
        ),
    );
    let setup = Setup::new(&config, &[("disk.toml", DISK_MODEL)]);
    let path = setup.dir.path().join("state/headroom.db");
    std::fs::create_dir_all(path.parent().expect("parent")).expect("state dir");
    {
        let store = headroom::store::Store::open(&path).expect("state file");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs_f64();
        for key in ["before", "poison", "after-1", "after-2"] {
            let message = headroom::store::outbox::NewMessage {
                channel: "webhook:ops".into(),
                dedupe_key: key.into(),
                envelope: "{}".into(),
                body: format!("{{\"key\":\"{key}\"}}").into_bytes(),
            };
            store.enqueue(&message, now).expect("enqueue");
        }
        store
            .with(|c| {
                c.execute(
                    "UPDATE outbox SET body = 'not a blob', attempts = -1 WHERE dedupe_key = 'poison'",
                    [],
                )
            })
            .expect("poison the row");
    }
    let (mut daemon, port, log) = start_daemon_with(&setup, free_port(), &[("SECRET", "outbox-test-secret")]);
    wait_until(
        "the messages around the poison to arrive",
        Duration::from_secs(60),
        || hook.saved("json").len() >= 3 || !daemon.running(),
    );
    assert!(hook.saved("json").len() >= 3, "{}\n{}", read_log(&log), hook.log());
    std::thread::sleep(Duration::from_secs(2));
    let bodies: Vec<String> = hook
        .saved("json")
        .iter()
        .map(|file| {
            let saved: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(file).expect("saved")).expect("JSON");
            saved["body"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    assert_eq!(
        bodies,
        ["{\"key\":\"before\"}", "{\"key\":\"after-1\"}", "{\"key\":\"after-2\"}"]
    );
    let text = metrics(port);
    assert_eq!(
        metric_value(&text, "headroom_outbox_messages", &[("state", "failed")]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric_value(&text, "headroom_outbox_messages", &[("state", "pending")]),
        Some(0.0)
    );
    let log_text = read_log(&log);
    assert_eq!(log_text.matches("outbox row marked failed").count(), 1, "{log_text}");
    assert!(!log_text.contains("cannot read the outbox"), "{log_text}");
    assert!(daemon.running());
    let state = headroom::store::Store::open(&path).expect("state file");
    assert_eq!(state.message_state("poison").expect("state").as_deref(), Some("failed"));
}
