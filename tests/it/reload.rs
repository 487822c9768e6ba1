//! Reloading a running daemon: a valid change takes effect without a restart, an invalid one
//! is refused and the old configuration keeps running. Over HTTP a reload needs the API token
//! or the documented opt-in, never comes from a cross-site form, and a burst of reloads makes
//! one re-plan.

use std::time::Duration;

use crate::harness::{
    Prometheus, Setup, free_port, http_get, http_post, http_send, metric_value, read_log, start_daemon_with, wait_until,
};
use crate::history::{self, CPU_MODEL, DISK_MODEL};

fn serves(port: u16, needle: &str) -> bool {
    http_get(port, "/metrics").is_some_and(|(_, metrics)| metrics.contains(needle))
}

#[test]
fn reload_applies_valid_changes_and_refuses_invalid_ones() {
    let prometheus = Prometheus::start_with_history(&history::openmetrics(history::recent_end()));
    let config = crate::harness::config_for(
        &prometheus.url(),
        "[schedule]
interval = \"1h\"
[server]
reload_without_token = true
",
    );
    let setup = Setup::new(&config, &[("disk.toml", DISK_MODEL)]);
    let (mut daemon, port, log) = crate::harness::start_daemon(&setup);
    wait_until("the first cycle", Duration::from_secs(60), || {
        serves(port, "headroom_model_up{model=\"disk\"} 1")
    });
    assert!(!serves(port, "model=\"cpu\""));

    // A new model file, then POST /-/reload: planned at once, no restart.
    std::fs::write(setup.dir.path().join("models/cpu.toml"), CPU_MODEL).expect("write model");
    let (status, body) = http_post(port, "/-/reload").expect("reload");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("2 model(s)"), "{body}");
    wait_until("the cpu model", Duration::from_secs(60), || {
        serves(port, "headroom_model_up{model=\"cpu\"} 1")
    });
    assert!(serves(port, "headroom_config_reloads_total{result=\"success\"} 1"));

    // An invalid config is refused with its problems; the running one carries on.
    std::fs::write(
        setup.config(),
        config.replace("interval = \"1h\"", "interval = \"soon\""),
    )
    .expect("write config");
    let (status, body) = http_post(port, "/-/reload").expect("reload");
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("schedule.interval") && body.contains("previous configuration keeps running"),
        "{body}"
    );
    assert!(serves(port, "headroom_config_reloads_total{result=\"failure\"} 1"));
    assert!(serves(port, "headroom_models_configured 2"));
    assert!(daemon.running(), "{}", read_log(&log));

    // A valid config again, without the cpu model, by SIGHUP this time.
    std::fs::write(setup.config(), &config).expect("write config");
    std::fs::remove_file(setup.dir.path().join("models/cpu.toml")).expect("remove model");
    let pid = daemon.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .expect("kill")
            .success()
    );
    wait_until("the cpu model to go", Duration::from_secs(60), || {
        serves(port, "headroom_models_configured 1") && !serves(port, "model=\"cpu\"")
    });
    assert!(daemon.running(), "{}", read_log(&log));
    assert!(read_log(&log).contains("SIGHUP received"));
}

fn cycles(port: u16) -> f64 {
    ["success", "failure"]
        .iter()
        .filter_map(|result| {
            http_get(port, "/metrics")
                .and_then(|(_, text)| metric_value(&text, "headroom_cycles_total", &[("result", result)]))
        })
        .sum()
}

/// What a page on another site can make a browser send: a form POST, with the browser's own
/// `Origin` and `Sec-Fetch-Site`, and no credentials.
const CROSS_SITE_FORM: [(&str, &str); 3] = [
    ("Origin", "http://attacker.example"),
    ("Sec-Fetch-Site", "cross-site"),
    ("Content-Type", "text/plain"),
];

#[test]
fn reload_over_http_needs_the_token_or_the_opt_in_and_never_a_cross_site_form() {
    let prometheus = Prometheus::start_with_history(&history::openmetrics(history::recent_end()));
    let start = |server: &str, env: &[(&str, &str)]| {
        let config = crate::harness::config_for(
            &prometheus.url(),
            &format!("[schedule]\ninterval = \"1h\"\n[server]\n{server}"),
        );
        let setup = Setup::new(&config, &[("disk.toml", DISK_MODEL)]);
        let (daemon, port, log) = start_daemon_with(&setup, free_port(), env);
        wait_until("the first cycle", Duration::from_secs(60), || {
            http_get(port, "/readyz").is_some_and(|(status, _)| status == 200)
        });
        (setup, daemon, port, log)
    };

    // No token, no opt-in: reloads over HTTP are off (SIGHUP is the way, tested above).
    let (_setup, _daemon, port, _) = start("", &[]);
    let (status, body) = http_post(port, "/-/reload").expect("reload");
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("SIGHUP") && body.contains("reload_without_token"),
        "{body}"
    );

    // The opt-in: a plain POST reloads; a cross-site form does not, nor any part of one.
    let (_setup, _daemon, port, log) = start("reload_without_token = true\n", &[]);
    let (status, body) = http_send(port, "POST", "/-/reload", &CROSS_SITE_FORM, b"x").expect("reload");
    assert_eq!(status, 403, "{body}");
    for header in CROSS_SITE_FORM {
        let (status, body) = http_send(port, "POST", "/-/reload", &[header], b"").expect("reload");
        assert_eq!(status, 403, "{header:?}: {body}");
    }
    assert!(
        !read_log(&log).contains("configuration reloaded"),
        "a refused reload reloaded"
    );
    let same_origin = format!("http://127.0.0.1:{port}");
    let (status, body) = http_send(port, "POST", "/-/reload", &[("Origin", &same_origin)], b"").expect("reload");
    assert_eq!(status, 200, "{body}");

    // A burst of reloads: each is answered, and together they make one re-plan, not a hundred.
    let before = cycles(port);
    for _ in 0..100 {
        let (status, body) = http_post(port, "/-/reload").expect("reload");
        assert_eq!(status, 200, "{body}");
    }
    wait_until("the re-plan", Duration::from_secs(30), || cycles(port) > before);
    std::thread::sleep(Duration::from_secs(3));
    let replans = cycles(port) - before;
    assert!((1.0..=4.0).contains(&replans), "100 reloads caused {replans} re-plans");
    assert!(
        http_get(port, "/metrics")
            .is_some_and(|(_, m)| m.contains("headroom_config_reloads_total{result=\"success\"} 101")),
        "every reload was counted"
    );

    // With an API token: the token is needed, and a form is refused even with it.
    let token = "reload-token-0123456789abcdef";
    let (_setup, _daemon, port, _) = start("", &[("HEADROOM_SERVER__BEARER_TOKEN", token)]);
    let bearer = format!("Bearer {token}");
    assert_eq!(http_post(port, "/-/reload").map(|(s, _)| s), Some(401));
    let (status, _) = http_send(
        port,
        "POST",
        "/-/reload",
        &[
            ("Authorization", &bearer),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        b"a=b",
    )
    .expect("reload");
    assert_eq!(status, 403);
    let (status, body) = http_send(port, "POST", "/-/reload", &[("Authorization", &bearer)], b"").expect("reload");
    assert_eq!(status, 200, "{body}");
}
