//! The command line as a user meets it: `check` on broken files, `once` with Prometheus down.

use crate::harness::{Setup, free_port, run_headroom};
use crate::history::DISK_MODEL;

#[test]
fn check_reports_every_problem_with_file_and_key() {
    let config = "[source]\nurl = \"http://127.0.0.1:9090\"\ntimeout = \"soon\"\n\n[server]\nlisten = \"everywhere\"\n\n[models]\ndir = \"models\"\n";
    let model = "name = \"disk\"\nusage = \"x\"\ncapacity = 100\nthreshold = \"90%\"\nhorizon = \"30 days\"\n";
    let setup = Setup::new(config, &[("disk.toml", model)]);
    let output = run_headroom(&["check", "--config", setup.config().to_str().expect("utf-8")]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let problems: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains(": ") && !l.ends_with("problem(s) found"))
        .collect();
    assert_eq!(problems.len(), 3, "{stdout}");
    assert!(
        problems[0].contains("headroom.toml:3: source.timeout: invalid duration \"soon\""),
        "{stdout}"
    );
    assert!(problems[1].contains("headroom.toml:6: server.listen:"), "{stdout}");
    assert!(
        problems[2].contains("disk.toml:5: horizon: invalid duration \"30 days\""),
        "{stdout}"
    );
    assert!(stdout.contains("3 problem(s) found"));
}

#[test]
fn check_accepts_the_shipped_config_and_models() {
    let root = env!("CARGO_MANIFEST_DIR");
    let output = run_headroom(&["check", "--config", &format!("{root}/config/headroom.toml")]);
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn once_names_the_url_when_prometheus_is_unreachable() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let setup = Setup::new(
        &format!("[source]\nurl = \"{url}\"\ntimeout = \"2s\"\n\n[models]\ndir = \"models\"\n"),
        &[("disk.toml", DISK_MODEL)],
    );
    let output = run_headroom(&["once", "--config", setup.config().to_str().expect("utf-8")]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("cannot reach {url}/")), "{stderr}");
    assert!(
        stderr.contains("node_filesystem_size_bytes"),
        "the query is named: {stderr}"
    );
}

#[test]
fn missing_config_points_to_the_demo() {
    let output = run_headroom(&["once", "--config", "/nonexistent/headroom.toml"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("headroom demo"));
}

#[test]
fn garbage_input_never_panics() {
    let cases: [(&str, &str); 5] = [
        ("\u{0}\u{1}binary", "name = 1"),
        ("[source\nurl=", "usage = [1, 2]\nthreshold = {}"),
        (
            "source = 5",
            "name = \"a\"\nusage = \"b\"\nthreshold = \"-5%\"\nstep = \"0s\"",
        ),
        (
            "[source]\nkind = \"ftp\"",
            "name = \"ok\"\nusage = \"x\"\nthreshold = 5\nhistory = \"1m\"\nstep = \"5m\"",
        ),
        ("[[source]]\nurl = 1", "\u{feff}name = \"x\"\n"),
    ];
    for (config, model) in cases {
        let setup = Setup::new(config, &[("m.toml", model)]);
        let output = run_headroom(&["check", "--config", setup.config().to_str().expect("utf-8")]);
        assert_eq!(output.status.code(), Some(2), "config {config:?}: {output:?}");
        assert!(
            !String::from_utf8_lossy(&output.stderr).contains("panicked"),
            "{output:?}"
        );
    }
}

/// `check`, a start and a reload run the same validation: for each broken setup, the problems
/// `check` lists (with file, line and key) are exactly what `run` refuses to start with and
/// what a running daemon's reload refuses, all of them at once.
#[test]
fn check_run_and_reload_agree_on_every_problem() {
    let good = "[source]\nurl = \"http://127.0.0.1:9\"\ntimeout = \"1s\"\n\n[models]\ndir = \"models\"\n\n[schedule]\ninterval = \"1h\"\n\n[server]\nreload_without_token = true\n";
    let setup = Setup::new(good, &[("disk.toml", DISK_MODEL)]);
    let config = setup.config();
    let config_arg = config.to_str().expect("utf-8");
    let (_daemon, port, _) = crate::harness::start_daemon_with(&setup, free_port(), &[]);
    crate::harness::wait_until("the daemon", std::time::Duration::from_secs(60), || {
        crate::harness::http_get(port, "/healthz").is_some()
    });
    let scenario = "\n[[scenarios]]\nname = \"launch\"\n[[scenarios.changes]]\nkind = \"step\"\nfrom = \"2027-03-01\"\nmultiply = 1.3\nmodels = [\"dsik\"]\n";
    let broken_configs = [
        String::new(),
        format!("{good}{scenario}"),
        good.replace(
            "timeout = \"1s\"\n",
            "timeout = \"1s\"\nca_file = \"no-such-ca.pem\"\nheaders = { \"X Scope\" = \"a\" }\n",
        ),
    ];
    let broken_models = [
        DISK_MODEL.replace("threshold = \"90%\"", "threshold = \"900%\""),
        DISK_MODEL.replace("horizon = \"30d\"", "horizon = \"3m\""),
    ];
    let mut cases: Vec<(String, String)> = broken_configs
        .into_iter()
        .map(|c| (c, DISK_MODEL.to_string()))
        .collect();
    cases.extend(broken_models.into_iter().map(|m| (good.to_string(), m)));
    for (config_text, model) in cases {
        std::fs::write(&config, &config_text).expect("config");
        std::fs::write(setup.dir.path().join("models/disk.toml"), &model).expect("model");
        let check = run_headroom(&["check", "--config", config_arg]);
        let stdout = String::from_utf8_lossy(&check.stdout).to_string();
        assert_eq!(
            check.status.code(),
            Some(2),
            "check accepted:\n{config_text}\n{model}\n{stdout}"
        );
        let problems: Vec<&str> = stdout.lines().filter(|l| !l.ends_with("problem(s) found")).collect();
        assert!(!problems.is_empty(), "{stdout}");
        let run = run_headroom(&[
            "run",
            "--config",
            config_arg,
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
        ]);
        let stderr = String::from_utf8_lossy(&run.stderr).to_string();
        assert_eq!(run.status.code(), Some(2), "run started with:\n{stdout}\n{stderr}");
        assert!(
            stderr.contains(&format!("error: {} problem(s)", problems.len())),
            "{stderr}"
        );
        let (status, reload) = crate::harness::http_post(port, "/-/reload").expect("reload");
        assert_eq!(status, 400, "{reload}");
        for problem in &problems {
            assert!(stderr.contains(problem), "run did not say {problem:?}:\n{stderr}");
            assert!(reload.contains(problem), "reload did not say {problem:?}:\n{reload}");
        }
    }
}
