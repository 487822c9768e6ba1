//! The scrape source, for sites with no Prometheus: Headroom scrapes a real HTTP exporter
//! (Python's http.server serving a metrics file the test rewrites) and forecasts from what it
//! stored.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::{Process, Setup, free_port, http_get, metric_value, read_log, start_daemon_with, wait_until};

#[test]
fn headroom_scrapes_an_exporter_and_forecasts_from_its_own_history() {
    let exporter_dir = tempfile::tempdir().expect("temp dir");
    let file = exporter_dir.path().join("metrics");
    let write = |k: u64| {
        // A disk filling by 1 GB a second from 500 GB, out of 1 TB: 90 % in about 400 s.
        let used = 500e9 + k as f64 * 1e9;
        let text = format!(
            "# HELP disk_used_bytes Bytes used.\n# TYPE disk_used_bytes gauge\ndisk_used_bytes{{mountpoint=\"/data\"}} {used}\n\
             # TYPE disk_size_bytes gauge\ndisk_size_bytes{{mountpoint=\"/data\"}} 1e12\n"
        );
        let tmp = exporter_dir.path().join("metrics.tmp");
        std::fs::write(&tmp, text).expect("write metrics");
        std::fs::rename(&tmp, &file).expect("publish metrics");
    };
    write(0);
    let exporter_port = free_port();
    let _exporter = Process::spawn(
        "exporter",
        Command::new("/usr/bin/python3")
            .args([
                "-m",
                "http.server",
                &exporter_port.to_string(),
                "--bind",
                "127.0.0.1",
                "--directory",
            ])
            .arg(exporter_dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let dead_port = free_port();
    let config = format!(
        "[source]\nkind = \"scrape\"\ninterval = \"1s\"\ntimeout = \"2s\"\n\
         [[source.targets]]\nurl = \"http://127.0.0.1:{exporter_port}/metrics\"\njob = \"node\"\n\
         [[source.targets]]\nurl = \"http://127.0.0.1:{dead_port}/metrics\"\njob = \"gone\"\n\n\
         [schedule]\ninterval = \"2s\"\n\n[forecast]\nmin_history = \"15s\"\nmin_points = 12\n\n\
         [models]\ndir = \"models\"\n\n[store]\npath = \"state/headroom.db\"\n"
    );
    let model = "name = \"disk\"\nusage = 'disk_used_bytes{job=\"node\"}'\ncapacity = 'disk_size_bytes{job=\"node\"}'\n\
                 threshold = \"90%\"\nunit = \"bytes\"\nhistory = \"10m\"\nstep = \"1s\"\nhorizon = \"30m\"\n";
    let setup = Setup::new(&config, &[("disk.toml", model)]);
    let (_daemon, port, log) = start_daemon_with(&setup, free_port(), &[]);

    // The exporter's disk keeps filling while Headroom scrapes it.
    let start = std::time::Instant::now();
    let metrics = || http_get(port, "/metrics").map(|(_, m)| m).unwrap_or_default();
    let likely = || {
        metric_value(
            &metrics(),
            "headroom_exhaustion_timestamp_seconds",
            &[
                ("instance", &format!("127.0.0.1:{exporter_port}")),
                ("estimate", "likely"),
            ],
        )
    };
    wait_until("a forecast from scraped history", Duration::from_secs(90), || {
        write(start.elapsed().as_secs());
        likely().is_some()
    });
    // The truth: 900 GB at 400 s after the first write.
    let truth = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
        - start.elapsed().as_secs_f64()
        + 400.0;
    let likely = likely().expect("likely");
    assert!(
        (likely - truth).abs() < 60.0,
        "likely {likely}, truth {truth}; log:\n{}",
        read_log(&log)
    );
    let text = metrics();
    assert!(metric_value(&text, "headroom_scrapes_total", &[("result", "success")]) >= Some(10.0));
    assert!(
        metric_value(&text, "headroom_scrapes_total", &[("result", "failure")]) >= Some(10.0),
        "the dead target is counted"
    );
    assert!(read_log(&log).contains("scrape failed"));
}
