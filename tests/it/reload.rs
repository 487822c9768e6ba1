//! Reloading a running daemon: a valid change takes effect without a restart, an invalid one
//! is refused and the old configuration keeps running.

use std::time::Duration;

use crate::harness::{Prometheus, Setup, http_get, http_post, read_log, wait_until};
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
