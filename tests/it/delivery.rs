//! Delivery with real components: Prometheus (backfilled) → `headroom run` → a real SMTP server
//! (aiosmtpd) and a real HTTP webhook receiver (Python's http.server), both on loopback;
//! receivers down and Headroom killed; and a real Prometheus firing the alert rules of
//! `deploy/prometheus/headroom-rules.yml` on a running Headroom.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use chrono::Datelike;

use crate::harness::{
    Prometheus, Receiver, Setup, config_for, free_port, http_get, mail_summary, metric_value, read_log,
    start_daemon_with, wait_until,
};
use crate::history::{self, CPU_MODEL, disk_with_lead_time};

const SECRET: &str = "webhook-test-secret";

/// Config sections for the report (due today at 00:00 UTC, so the first cycle builds it),
/// the SMTP server and the webhook.
fn delivery_config(smtp_port: u16, hook_port: u16) -> String {
    let today = chrono::Utc::now().weekday();
    format!(
        r#"
[schedule]
interval = "3s"

[store]
path = "state/headroom.db"

[report]
to = ["sre@example.org"]
from = "Headroom <headroom@example.org>"
weekday = "{today}"
time = "00:00"
timezone = "UTC"

[smtp]
host = "127.0.0.1"
port = {smtp_port}
tls = "none"
timeout = "5s"

[[webhooks]]
name = "ops"
url = "http://127.0.0.1:{hook_port}/headroom"
secret_env = "TEST_WEBHOOK_SECRET"
timeout = "5s"

[delivery]
retry_initial = "1s"
retry_max = "2s"
"#
    )
}

fn setup(prometheus: &Prometheus, smtp: &Receiver, hook: &Receiver) -> Setup {
    Setup::new(
        &config_for(&prometheus.url(), &delivery_config(smtp.port, hook.port)),
        &[("disk.toml", disk_with_lead_time().as_str()), ("cpu.toml", CPU_MODEL)],
    )
}

fn metrics(port: u16) -> String {
    http_get(port, "/metrics").map(|(_, body)| body).unwrap_or_default()
}

fn cycles(port: u16) -> f64 {
    ["success", "failure"]
        .iter()
        .filter_map(|result| metric_value(&metrics(port), "headroom_cycles_total", &[("result", result)]))
        .sum()
}

/// Checks the HMAC-SHA256 signature header of a saved webhook request.
fn assert_signed(request: &serde_json::Value) {
    let body = request["body"].as_str().expect("body");
    let header = request["headers"]["x-headroom-signature"]
        .as_str()
        .expect("signature header");
    let (t, v1) = header.split_once(',').expect("t=...,v1=...");
    let timestamp = t.strip_prefix("t=").expect("t=");
    let signature = v1.strip_prefix("v1=").expect("v1=");
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
    let expected: String = ring::hmac::sign(&key, format!("{timestamp}.{body}").as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(signature, expected, "signature does not verify");
    let age = chrono::Utc::now().timestamp() - timestamp.parse::<i64>().expect("timestamp");
    assert!((0..300).contains(&age), "signature timestamp {age} s old");
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("JSON")
}

/// The report email: multipart/alternative with a text part and an HTML part whose charts
/// are inline PNGs referenced by Content-ID, and the ranked table naming the filling disk.
fn assert_report_email(eml: &Path) {
    let mail = mail_summary(eml);
    assert_eq!(mail["top"], "multipart/alternative", "{mail:#}");
    let tree: Vec<&str> = mail["tree"]
        .as_array()
        .expect("tree")
        .iter()
        .filter_map(|t| t.as_str())
        .collect();
    for part in ["text/plain", "multipart/related", "text/html", "image/png"] {
        assert!(tree.contains(&part), "no {part} in {tree:?}");
    }
    assert_eq!(mail["html_errors"], serde_json::json!([]), "HTML is not well formed");
    let images = mail["html_images"].as_array().expect("images");
    assert!(!images.is_empty(), "the report has no chart");
    for src in images {
        let cid = src.as_str().and_then(|s| s.strip_prefix("cid:")).expect("a cid: image");
        let part = &mail["inline"][cid];
        assert_eq!(part["png"], true, "image {cid} is not an inline PNG part: {mail:#}");
        assert_eq!(part["disposition"], "inline");
    }
    // The ranked table: a header row and the filling disk, which is critical.
    let risks = mail["html_table_rows"]["risks"].as_u64().expect("risks table");
    assert!(risks >= 2, "risks table rows: {risks}");
    assert!(mail["html_table_rows"]["teams"].as_u64() >= Some(2));
    let html = mail["html"].as_str().expect("html");
    let text = mail["text"].as_str().expect("text");
    for needle in ["fill:9100", "storage", "critical", "Budget", "Since last week"] {
        assert!(html.contains(needle), "HTML lacks {needle}");
        assert!(text.contains(needle), "text lacks {needle}:\n{text}");
    }
    assert!(
        mail["subject"].as_str().is_some_and(|s| s.contains("1 critical")),
        "{}",
        mail["subject"]
    );
    assert_eq!(mail["to"], "sre@example.org");
}

/// Prometheus with the test fleet, both receivers up (the webhook answering `status`), and a
/// daemon delivering to them.
struct Fleet {
    smtp: Receiver,
    hook: Receiver,
    port: u16,
    log: std::path::PathBuf,
    _daemon: crate::harness::Process,
    _setup: Setup,
    _prometheus: Prometheus,
}

impl Fleet {
    fn start(status: u16) -> Fleet {
        let prometheus = Prometheus::start_with_history(&history::openmetrics(history::recent_end()));
        let mut smtp = Receiver::smtp();
        smtp.start();
        let mut hook = Receiver::webhook(status);
        hook.start();
        let setup = setup(&prometheus, &smtp, &hook);
        let (daemon, port, log) = start_daemon_with(&setup, free_port(), &[("TEST_WEBHOOK_SECRET", SECRET)]);
        Fleet {
            smtp,
            hook,
            port,
            log,
            _daemon: daemon,
            _setup: setup,
            _prometheus: prometheus,
        }
    }
}

#[test]
fn the_report_and_a_signed_webhook_reach_real_receivers_once() {
    let fleet = Fleet::start(200);
    let (smtp, hook, port, log) = (&fleet.smtp, &fleet.hook, fleet.port, fleet.log.clone());

    wait_until("the report email and the webhook", Duration::from_secs(120), || {
        !smtp.saved("eml").is_empty() && !hook.saved("json").is_empty()
    });
    assert_report_email(&smtp.saved("eml")[0]);
    let envelope = read_json(&smtp.saved("json")[0]);
    assert_eq!(envelope["rcpt_tos"], serde_json::json!(["sre@example.org"]));

    let request = read_json(&hook.saved("json")[0]);
    assert_eq!(request["path"], "/headroom");
    assert_eq!(request["headers"]["content-type"], "application/json");
    assert_signed(&request);
    let body = request["body"].as_str().expect("body");
    crate::harness::assert_matches_schema("docs/webhooks.schema.json", body);
    let payload: serde_json::Value = serde_json::from_str(body).expect("payload");
    let events = payload["events"].as_array().expect("events");
    assert_eq!(events.len(), 1, "only the filling disk is a risk: {payload:#}");
    assert_eq!(events[0]["kind"], "new_risk");
    assert_eq!(events[0]["entity"]["instance"], "fill:9100");
    assert_eq!(events[0]["urgency"], "critical");
    assert_eq!(
        request["headers"]["x-headroom-delivery"],
        format!("{}-ops", payload["id"].as_str().expect("id"))
    );

    // Two more cycles with nothing changed: nothing more is posted or mailed.
    let seen = cycles(port);
    wait_until("two more cycles", Duration::from_secs(60), || {
        cycles(port) >= seen + 2.0
    });
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        hook.saved("json").len(),
        1,
        "a repeat was posted; log:\n{}",
        read_log(&log)
    );
    assert_eq!(smtp.saved("eml").len(), 1, "the report was sent twice");

    let text = metrics(port);
    assert_eq!(
        metric_value(
            &text,
            "headroom_deliveries_total",
            &[("receiver", "ops"), ("outcome", "delivered")]
        ),
        Some(1.0)
    );
    assert_eq!(
        metric_value(
            &text,
            "headroom_deliveries_total",
            &[("receiver", "email"), ("outcome", "delivered")]
        ),
        Some(1.0)
    );
    assert_eq!(
        metric_value(&text, "headroom_outbox_messages", &[("state", "pending")]),
        Some(0.0)
    );
    assert!(!text.contains(SECRET), "the webhook secret leaked into /metrics");
    assert!(
        !read_log(&log).contains(SECRET),
        "the webhook secret leaked into the log"
    );

    // The daemon serves the same report.
    let (status, html) = http_get(port, "/report").expect("GET /report");
    assert_eq!(status, 200);
    assert!(html.contains("fill:9100") && html.contains("/report/chart-1.png"));
    let (status, png) = http_get(port, "/report/chart-1.png").expect("GET chart");
    assert_eq!(status, 200);
    assert!(png.contains("PNG"), "not a PNG");
}

#[test]
fn nothing_is_lost_when_receivers_are_down_and_headroom_is_killed() {
    let end = history::recent_end();
    let prometheus = Prometheus::start_with_history(&history::openmetrics(end));
    // Ports chosen, receivers not started: the report and the webhook fall due while both are down.
    let mut smtp = Receiver::smtp();
    let mut hook = Receiver::webhook(200);
    let setup = setup(&prometheus, &smtp, &hook);
    let port = free_port();
    let env = [("TEST_WEBHOOK_SECRET", SECRET)];
    let (mut first, _, log) = start_daemon_with(&setup, port, &env);
    wait_until(
        "both deliveries to fail and be retried",
        Duration::from_secs(120),
        || {
            let text = metrics(port);
            metric_value(
                &text,
                "headroom_deliveries_total",
                &[("receiver", "ops"), ("outcome", "retry")],
            ) >= Some(1.0)
                && metric_value(
                    &text,
                    "headroom_deliveries_total",
                    &[("receiver", "email"), ("outcome", "retry")],
                ) >= Some(1.0)
                && metric_value(&text, "headroom_outbox_messages", &[("state", "pending")]) == Some(2.0)
        },
    );
    // SIGKILL: no chance to flush anything.
    first.stop();

    smtp.start();
    hook.start();
    let (_second, _, _) = start_daemon_with(&setup, port, &env);
    wait_until(
        "the pending messages to arrive after the restart",
        Duration::from_secs(120),
        || !smtp.saved("eml").is_empty() && !hook.saved("json").is_empty(),
    );
    let seen = cycles(port);
    wait_until("two more cycles", Duration::from_secs(60), || {
        cycles(port) >= seen + 2.0
    });
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        smtp.saved("eml").len(),
        1,
        "the report must arrive exactly once; log:\n{}\n{}",
        read_log(&log),
        smtp.log()
    );
    assert_eq!(hook.saved("json").len(), 1, "the webhook must arrive exactly once");
    assert_report_email(&smtp.saved("eml")[0]);
    let request = read_json(&hook.saved("json")[0]);
    assert_signed(&request);
    assert_eq!(
        metric_value(&metrics(port), "headroom_outbox_messages", &[("state", "pending")]),
        Some(0.0)
    );
}

#[test]
fn a_webhook_answering_4xx_fails_permanently_and_is_counted() {
    let fleet = Fleet::start(404);
    let (port, log) = (fleet.port, fleet.log.clone());
    wait_until("the webhook to fail permanently", Duration::from_secs(120), || {
        metric_value(
            &metrics(port),
            "headroom_deliveries_total",
            &[("receiver", "ops"), ("outcome", "failed")],
        ) == Some(1.0)
    });
    let seen = cycles(port);
    wait_until("two more cycles", Duration::from_secs(60), || {
        cycles(port) >= seen + 2.0
    });
    let text = metrics(port);
    assert_eq!(
        metric_value(
            &text,
            "headroom_deliveries_total",
            &[("receiver", "ops"), ("outcome", "failed")]
        ),
        Some(1.0),
        "a 404 is not retried"
    );
    assert_eq!(
        metric_value(&text, "headroom_outbox_messages", &[("state", "failed")]),
        Some(1.0)
    );
    assert!(read_log(&log).contains("404"), "the log names the answer");
}

#[test]
fn prometheus_fires_the_lead_time_alert_for_the_filling_disk_only() {
    let end = history::recent_end();
    let headroom_port = free_port();
    // The rules as shipped, but without their `for:` waits (30 minutes or more; their timing
    // and hysteresis are covered by `promtool test rules` in deploy_files.rs).
    let rules =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus/headroom-rules.yml"))
            .expect("rules");
    let rules = regex::Regex::new(r"(?m)^(\s+)for: \S+$")
        .expect("regex")
        .replace_all(&rules, "${1}for: 0s")
        .to_string();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [\"headroom-rules.yml\"]\n\
         scrape_configs:\n  - job_name: headroom\n    honor_labels: true\n    static_configs:\n      - targets: [\"127.0.0.1:{headroom_port}\"]\n"
    );
    let prometheus = Prometheus::start_with_history_and_config(
        &history::openmetrics(end),
        &config,
        &[("headroom-rules.yml", rules)],
    );
    let setup = Setup::new(
        &config_for(&prometheus.url(), "[schedule]\ninterval = \"1m\"\n"),
        &[("disk.toml", disk_with_lead_time().as_str()), ("cpu.toml", CPU_MODEL)],
    );
    let (_daemon, _, log) = start_daemon_with(&setup, headroom_port, &[]);

    let firing = |prometheus_port: u16| -> Vec<serde_json::Value> {
        http_get(prometheus_port, "/api/v1/alerts")
            .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok())
            .and_then(|json| json["data"]["alerts"].as_array().cloned())
            .unwrap_or_default()
            .into_iter()
            .filter(|a| a["labels"]["alertname"] == "HeadroomExhaustionWithinLeadTime" && a["state"] == "firing")
            .collect()
    };
    wait_until("the lead-time alert to fire", Duration::from_secs(120), || {
        !firing(prometheus.port).is_empty()
    });
    // Prometheus asks for OpenMetrics first: its OpenMetrics parser reads Headroom's answer
    // (what promtool, which reads only the classic format, cannot check) without an error.
    let (_, targets) = http_get(prometheus.port, "/api/v1/targets").expect("targets");
    let targets: serde_json::Value = serde_json::from_str(&targets).expect("JSON");
    let target = &targets["data"]["activeTargets"][0];
    assert_eq!(target["health"], "up", "{target:#}");
    assert_eq!(target["lastError"], "", "{target:#}");
    let (_, openmetrics) = crate::harness::http_get_with(
        headroom_port,
        "/metrics",
        &[(
            "Accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )],
    )
    .expect("metrics");
    assert!(
        openmetrics.ends_with("# EOF\n"),
        "the answer Prometheus parsed is OpenMetrics"
    );
    // A few more evaluations: nothing else joins.
    std::thread::sleep(Duration::from_secs(5));
    let alerts = firing(prometheus.port);
    let instances: Vec<&str> = alerts.iter().filter_map(|a| a["labels"]["instance"].as_str()).collect();
    assert_eq!(instances, ["fill:9100"], "log:\n{}", read_log(&log));
    assert_eq!(alerts[0]["labels"]["model"], "disk");
    assert_eq!(alerts[0]["labels"]["scenario"], "baseline");
    assert!(
        alerts[0]["annotations"]["runbook"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{:#}",
        alerts[0]
    );
}

/// A throw-away CA and a leaf certificate for 127.0.0.1 signed by it (a self-signed leaf is a
/// CA certificate, which rustls refuses as a server certificate): (ca.pem, cert.pem, key.pem).
fn certificates(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let run = |args: &[&str]| {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run openssl");
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=headroom test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    run(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "key.pem",
        "-out",
        "leaf.csr",
    ]);
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write extensions");
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
        "-out",
        "cert.pem",
    ]);
    (dir.join("ca.pem"), dir.join("cert.pem"), dir.join("key.pem"))
}

#[test]
fn report_send_verifies_the_relay_certificate_and_authenticates() {
    let certs = tempfile::tempdir().expect("temp dir");
    let (ca, cert, key) = certificates(certs.path());
    let (cert, key) = (cert.to_str().expect("utf-8"), key.to_str().expect("utf-8"));
    let prometheus = Prometheus::start_with_history(&history::openmetrics(history::recent_end()));
    let mut starttls = Receiver::smtp_with(&["--cert", cert, "--key", key, "--auth", "headroom:relay-pass"]);
    starttls.start();
    let mut smtps = Receiver::smtp_with(&["--cert", cert, "--key", key, "--smtps", "--auth", "headroom:relay-pass"]);
    smtps.start();

    let send = |port: u16, tls: &str, ca_file: Option<&Path>| {
        let ca_line = ca_file.map_or(String::new(), |p| format!("ca_file = \"{}\"\n", p.display()));
        let extra = format!(
            "[report]\nto = [\"sre@example.org\"]\n\n[smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"{tls}\"\nusername = \"headroom\"\ntimeout = \"5s\"\n{ca_line}"
        );
        let setup = Setup::new(
            &config_for(&prometheus.url(), &extra),
            &[("disk.toml", disk_with_lead_time().as_str())],
        );
        let out = setup.dir.path().join("out");
        let output = crate::harness::headroom()
            .env("HEADROOM_SMTP__PASSWORD", "relay-pass")
            .args(["report", "--send", "--config"])
            .arg(setup.config())
            .arg("--out")
            .arg(&out)
            .output()
            .expect("run headroom report");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stderr).to_string(),
        )
    };

    // STARTTLS with the relay's CA: verified, authenticated, delivered over TLS.
    let (ok, stderr) = send(starttls.port, "starttls", Some(&ca));
    assert!(ok, "{stderr}\n{}", starttls.log());
    let envelope = read_json(&starttls.saved("json")[0]);
    assert_eq!(
        (envelope["tls"].as_bool(), envelope["user"].as_str()),
        (Some(true), Some("headroom"))
    );
    assert_report_email(&starttls.saved("eml")[0]);
    assert!(!stderr.contains("relay-pass"), "the password was printed");

    // Without the CA the certificate is not trusted: nothing is sent, and the error says so.
    let (ok, stderr) = send(starttls.port, "starttls", None);
    assert!(!ok, "an untrusted relay certificate was accepted");
    assert!(stderr.to_lowercase().contains("certificate"), "{stderr}");
    assert_eq!(starttls.saved("eml").len(), 1);

    // Implicit TLS (SMTPS).
    let (ok, stderr) = send(smtps.port, "tls", Some(&ca));
    assert!(ok, "{stderr}\n{}", smtps.log());
    assert_eq!(read_json(&smtps.saved("json")[0])["tls"], true);
}

#[test]
fn a_deleted_state_file_is_restored_without_losing_pending_messages() {
    let prometheus = Prometheus::start_with_history(&history::openmetrics(history::recent_end()));
    let mut smtp = Receiver::smtp();
    let mut hook = Receiver::webhook(200);
    let setup = setup(&prometheus, &smtp, &hook);
    let port = free_port();
    let (_daemon, _, log) = start_daemon_with(&setup, port, &[("TEST_WEBHOOK_SECRET", SECRET)]);
    wait_until(
        "two messages pending for receivers that are down",
        Duration::from_secs(120),
        || metric_value(&metrics(port), "headroom_outbox_messages", &[("state", "pending")]) == Some(2.0),
    );
    let db = setup.dir.path().join("state/headroom.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    wait_until("the state file to be restored", Duration::from_secs(60), || {
        db.exists() && metric_value(&metrics(port), "headroom_store_errors_total", &[]) >= Some(1.0)
    });
    assert!(read_log(&log).contains("the state file was deleted while in use"));
    smtp.start();
    hook.start();
    wait_until("the pending messages to arrive", Duration::from_secs(120), || {
        !smtp.saved("eml").is_empty() && !hook.saved("json").is_empty()
    });
    let seen = cycles(port);
    wait_until("two more cycles", Duration::from_secs(60), || {
        cycles(port) >= seen + 2.0
    });
    assert_eq!(
        (smtp.saved("eml").len(), hook.saved("json").len()),
        (1, 1),
        "each message exactly once"
    );
    // The restored file is the one in use: a fresh reader sees the deliveries.
    let store = headroom::store::Store::open(&db).expect("restored file");
    assert_eq!(store.outbox_depth().expect("depth").pending, 0);
}
