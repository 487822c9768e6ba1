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

/// Secrets planted in every place a credential can be set never leave Headroom: not in the
/// trace-level log, not on any HTTP endpoint, not in the weekly email, the webhook payloads
/// and headers, the state file, nor in what `once`, `report`, `budget` and `check` print, even
/// with a model failing (source errors name the source's URL). Real Prometheus, SMTP server and
/// webhook receiver.
#[test]
fn planted_secrets_reach_no_output_surface() {
    const SOURCE_PASSWORD: &str = "planted-source-pw-41b7";
    const API_TOKEN: &str = "planted-api-token-9c2e77d1";
    const HOOK_SECRET: &str = "planted-hook-secret-5e0a";
    const URL_PASSWORD: &str = "planted-url-pw-c3f9";
    let planted = [
        SOURCE_PASSWORD.to_string(),
        API_TOKEN.to_string(),
        HOOK_SECRET.to_string(),
        URL_PASSWORD.to_string(),
        // `headroom:{SOURCE_PASSWORD}` in base64, as the Basic auth header carries it.
        "aGVhZHJvb206cGxhbnRlZC1zb3VyY2UtcHctNDFiNw==".to_string(),
    ];
    let assert_clean = |surface: &str, bytes: &[u8]| {
        let text = String::from_utf8_lossy(bytes);
        for secret in &planted {
            assert!(!text.contains(secret.as_str()), "{surface} holds a planted secret");
        }
    };

    let prometheus = Prometheus::start_with_history(&history::openmetrics(history::recent_end()));
    let mut smtp = crate::harness::Receiver::smtp();
    smtp.start();
    let mut hook = crate::harness::Receiver::webhook(200);
    hook.start();
    let today = chrono::Datelike::weekday(&chrono::Utc::now());
    let extra = format!(
        "[schedule]\ninterval = \"2s\"\n[store]\npath = \"state/headroom.db\"\n\
         [report]\nto = [\"sre@example.org\"]\nweekday = \"{today}\"\ntime = \"00:00\"\ntimezone = \"UTC\"\nwait_for_complete = \"1s\"\n\
         [smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\ntimeout = \"5s\"\n\
         [[webhooks]]\nname = \"ops\"\nurl = \"http://127.0.0.1:{}/hook\"\nsecret_env = \"TEST_HOOK_SECRET\"\n\
         [delivery]\nretry_initial = \"1s\"\nretry_max = \"2s\"\n",
        smtp.port, hook.port
    );
    let config = config_for(&prometheus.url(), &extra)
        .replace("timeout = \"10s\"\n", "timeout = \"10s\"\nusername = \"headroom\"\n");
    let lead_time = history::disk_with_lead_time();
    // A model the source refuses: its error, naming the source, goes everywhere errors go.
    let broken = "name = \"broken\"\nusage = 'rate(oops)'\nthreshold = 1\n";
    let setup = Setup::new(&config, &[("disk.toml", lead_time.as_str()), ("broken.toml", broken)]);
    let env = [
        ("HEADROOM_SOURCE__PASSWORD", SOURCE_PASSWORD),
        ("HEADROOM_SERVER__BEARER_TOKEN", API_TOKEN),
        ("TEST_HOOK_SECRET", HOOK_SECRET),
        ("RUST_LOG", "trace"),
    ];
    let (mut daemon, port, log) = start_daemon_with(&setup, free_port(), &env);
    let bearer = format!("Bearer {API_TOKEN}");
    let get = |path: &str| http_get_with(port, path, &[("Authorization", &bearer)]);
    wait_until("an email, a webhook and a few cycles", Duration::from_secs(90), || {
        !smtp.saved("eml").is_empty()
            && !hook.saved("json").is_empty()
            && get("/metrics").is_some_and(|(_, m)| m.contains("headroom_cycles_total{result=\"failure\"} 2"))
    });
    for path in [
        "/",
        "/metrics",
        "/healthz",
        "/readyz",
        "/api/v1/cycle",
        "/api/v1/recommendations",
        "/report",
        "/report/report.txt",
    ] {
        let (status, body) = get(path).expect(path);
        assert!(status < 500, "{path}: {status}");
        assert_clean(path, body.as_bytes());
    }
    let openmetrics = http_get_with(
        port,
        "/metrics",
        &[
            ("Authorization", &bearer),
            ("Accept", "application/openmetrics-text; version=1.0.0"),
        ],
    )
    .expect("metrics");
    assert_clean("/metrics (OpenMetrics)", openmetrics.1.as_bytes());
    assert!(
        get("/api/v1/cycle").is_some_and(|(_, body)| body.contains("rate(oops")),
        "the failed model's error is in the cycle document"
    );
    for file in smtp.saved("eml").iter().chain(&hook.saved("json")) {
        assert_clean(
            &file.display().to_string(),
            &std::fs::read(file).expect("saved message"),
        );
    }
    daemon.stop();
    let log_text = std::fs::read(&log).expect("log");
    assert!(
        String::from_utf8_lossy(&log_text).contains(" TRACE "),
        "a trace-level log"
    );
    assert_clean("the trace-level log", &log_text);
    for entry in std::fs::read_dir(setup.dir.path().join("state")).expect("state dir") {
        let path = entry.expect("entry").path();
        assert_clean(&path.display().to_string(), &std::fs::read(&path).expect("state file"));
    }

    // The commands, with the same environment.
    let config_path = setup.config();
    let config_arg = config_path.to_str().expect("utf-8");
    let out = setup.dir.path().join("report-out");
    let out_arg = out.to_str().expect("utf-8");
    for args in [
        vec!["once", "--config", config_arg],
        vec!["once", "--config", config_arg, "--format", "json"],
        vec!["budget", "--config", config_arg],
        vec!["report", "--config", config_arg, "--out", out_arg],
        vec!["check", "--config", config_arg],
    ] {
        let output = crate::harness::headroom()
            .envs(env.iter().copied())
            .args(&args)
            .output()
            .expect("run");
        assert_clean(&format!("{args:?} stdout"), &output.stdout);
        assert_clean(&format!("{args:?} stderr"), &output.stderr);
    }
    for entry in std::fs::read_dir(&out).expect("report files") {
        let path = entry.expect("entry").path();
        assert_clean(&path.display().to_string(), &std::fs::read(&path).expect("report file"));
    }

    // Credentials written into the URL are refused by every command, without being echoed.
    std::fs::write(
        setup.config(),
        config.replace(
            &prometheus.url(),
            &prometheus
                .url()
                .replace("http://", &format!("http://headroom:{URL_PASSWORD}@")),
        ),
    )
    .expect("write config");
    for command in ["check", "once", "run"] {
        let output = crate::harness::headroom()
            .env("RUST_LOG", "trace")
            .args([command, "--config", config_arg])
            .output()
            .expect("run");
        assert_eq!(output.status.code(), Some(2), "{command}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            format!("{stdout}{stderr}").contains("source.url: the URL carries credentials"),
            "{command}: {stdout}{stderr}"
        );
        assert_clean(
            &format!("{command} with credentials in the URL"),
            format!("{stdout}{stderr}").as_bytes(),
        );
    }
}

/// A source that answers with a redirect to another host (a misconfigured proxy, a hijacked
/// name): Headroom does not follow it, so the headers it sends the source (here an API key)
/// never reach the other host, and the error says what to configure. A stand-in: a real
/// Prometheus does not redirect its query API.
#[test]
fn a_redirect_to_another_host_is_not_followed_and_the_source_headers_stay_home() {
    use std::io::{BufRead, BufReader, Write};
    let elsewhere = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let elsewhere_port = elsewhere.local_addr().expect("address").port();
    elsewhere.set_nonblocking(true).expect("nonblocking");
    let redirecting = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = redirecting.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for stream in redirecting.incoming().flatten() {
            let mut reader = BufReader::new(&stream);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                line.clear();
            }
            let _ = write!(
                &stream,
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:{elsewhere_port}/api/v1/query_range\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    let setup = Setup::new(
        &format!(
            "[source]\nurl = \"http://127.0.0.1:{port}\"\ntimeout = \"5s\"\nheaders = {{ \"X-Api-Key\" = \"secret-key-0123\" }}\n\n[models]\ndir = \"models\"\n"
        ),
        &[("disk.toml", DISK_MODEL)],
    );
    let config = setup.config();
    let output = crate::harness::run_headroom(&["once", "--config", config.to_str().expect("utf-8")]);
    let stderr = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("another origin"), "{stderr}");
    assert!(elsewhere.accept().is_err(), "the other host was never contacted");
    assert!(!stderr.contains("secret-key-0123"), "{stderr}");
}

/// A usage query that answers no series (a misspelt metric) fails its model, naming what to
/// check: a model with nothing to plan is never an all-clear.
#[test]
fn a_usage_query_that_answers_no_series_fails_its_model() {
    let prometheus = Prometheus::start_with_history(&history::openmetrics(history::recent_end()));
    let misspelt = DISK_MODEL.replace("node_filesystem_avail_bytes", "node_filesystem_avial_bytes");
    assert_ne!(misspelt, DISK_MODEL, "the model names the metric");
    let setup = Setup::new(&config_for(&prometheus.url(), ""), &[("disk.toml", &misspelt)]);
    let output = crate::harness::once_json(&setup, history::recent_end());
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let error = json["models"][0]["error"].as_str().expect("the model failed");
    assert!(error.contains("returned no series"), "{error}");
}
