//! The HTTP server under a flood of connections that never send a request: started with the
//! open-files limit a systemd service gets by default (1024), Headroom keeps answering
//! `/healthz` and `/metrics` while 1,200 silent connections are held, closes the silent ones
//! after `server.header_read_timeout`, and closes an idle keep-alive connection after it too.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Process, Prometheus, Setup, config_for, free_port, http_get, read_log, wait_until};
use crate::history::{self, DISK_MODEL};

/// `headroom run` as systemd starts a service with no LimitNOFILE: at most 1024 open files.
fn start_with_default_file_limit(setup: &Setup, port: u16) -> (Process, std::path::PathBuf) {
    let log = setup.dir.path().join("headroom.log");
    let log_file = std::fs::File::create(&log).expect("log file");
    let process = Process::spawn(
        "headroom run (ulimit -n 1024)",
        Command::new("sh")
            .args(["-c", "ulimit -n 1024 && exec \"$0\" \"$@\""])
            .arg(env!("CARGO_BIN_EXE_headroom"))
            .args(["run", "--config", setup.config().to_str().expect("utf-8")])
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .env_remove("HEADROOM_CONFIG")
            .env("RUST_LOG", "headroom=info")
            .stderr(log_file),
    );
    (process, log)
}

/// How long a GET takes, and its status.
fn timed_get(port: u16, path: &str) -> (Option<u16>, Duration) {
    let started = Instant::now();
    let status = http_get(port, path).map(|(status, _)| status);
    (status, started.elapsed())
}

#[test]
fn silent_connections_never_starve_the_health_check_or_the_scrape() {
    let prometheus = Prometheus::start_with_history(&history::openmetrics(history::recent_end()));
    let setup = Setup::new(
        &config_for(
            &prometheus.url(),
            // A connection limit well under the flood, so the server reaches it however fast
            // this machine accepts (with the default 512, a slow machine accepting fewer
            // than 256 connections a second never holds 512 at once within 2 s).
            "[schedule]\ninterval = \"1h\"\n[server]\nheader_read_timeout = \"2s\"\nmax_connections = 64\n",
        ),
        &[("disk.toml", DISK_MODEL)],
    );
    let port = free_port();
    let (mut daemon, log) = start_with_default_file_limit(&setup, port);
    wait_until("readiness", Duration::from_secs(60), || {
        http_get(port, "/readyz").is_some_and(|(status, _)| status == 200)
    });

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/hold_connections.py");
    let mut holder = Process::spawn(
        "hold_connections.py",
        Command::new("/usr/bin/python3")
            .arg(script)
            .args(["--port", &port.to_string(), "--count", "1200", "--hold", "20"])
            .stdout(Stdio::piped()),
    );
    let mut lines = BufReader::new(holder.take_stdout()).lines();
    let opened: serde_json::Value = serde_json::from_str(&lines.next().expect("a line").expect("read")).expect("JSON");
    assert_eq!(opened["opened"], 1200, "{opened}");

    // 1,200 silent connections are open (more than the daemon has file descriptors for):
    // the health check and the scrape still answer, promptly.
    for _ in 0..5 {
        for path in ["/healthz", "/metrics"] {
            let (status, took) = timed_get(port, path);
            assert_eq!(status, Some(200), "{path} under the flood: {}", read_log(&log));
            assert!(took < Duration::from_secs(2), "{path} took {took:?}");
        }
    }

    // Every silent connection is closed: to make room, or when its header timed out.
    let held: serde_json::Value = serde_json::from_str(&lines.next().expect("a line").expect("read")).expect("JSON");
    assert_eq!(held["closed"], 1200, "{held}");
    let last = held["closed_after"]
        .as_array()
        .and_then(|times| times.last())
        .and_then(|t| t.as_f64())
        .expect("times");
    // The header timer starts when the server accepts: under the flood (and on a busy
    // machine) that lags the client by seconds. The bound is the client's own patience: a
    // server that never closed them would leave them open the whole 20 s.
    assert!(
        last < 14.0,
        "the last silent connection was closed after {last} s: {held}"
    );

    // A keep-alive connection idle after its response is closed after the same timeout.
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    write!(stream, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").expect("request");
    let mut response = Vec::new();
    let mut buffer = [0u8; 1024];
    while !response.ends_with(b"ok\n") {
        let n = stream.read(&mut buffer).expect("response");
        assert!(n > 0, "closed before the response");
        response.extend_from_slice(&buffer[..n]);
    }
    let idle = Instant::now();
    assert_eq!(stream.read(&mut buffer).expect("end of stream"), 0);
    let waited = idle.elapsed();
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(5),
        "idle keep-alive closed after {waited:?}"
    );
    let (_, metrics) = http_get(port, "/metrics").expect("metrics");
    for reason in ["header_timeout", "limit"] {
        assert!(
            crate::harness::metric_value(
                &metrics,
                "headroom_http_connections_closed_total",
                &[("reason", reason)]
            ) >= Some(1.0),
            "{reason}: {metrics}"
        );
    }
    assert!(daemon.running(), "{}", read_log(&log));
    assert!(!read_log(&log).contains("cannot accept"), "{}", read_log(&log));
    holder.stop();
}
