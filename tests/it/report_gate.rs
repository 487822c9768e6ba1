//! The weekly report is never a false all-clear: a daemon started long after the report fell
//! due, with Prometheus down, does not mail "0 critical" from a cycle in which every model
//! failed. It waits `report.wait_for_complete`, then sends the report marked INCOMPLETE, and
//! sends a corrected one once Prometheus is back, in the same week. Real Prometheus (stopped,
//! then started again on its data) and a real SMTP server.

use std::time::Duration;

use chrono::Datelike;

use crate::harness::{
    Prometheus, Receiver, Setup, config_for, free_port, http_get, mail_summary, metric_value, read_log,
    start_daemon_with, wait_until,
};
use crate::history::{self, disk_with_lead_time};

fn metrics(port: u16) -> String {
    http_get(port, "/metrics").map(|(_, body)| body).unwrap_or_default()
}

#[test]
fn a_report_due_while_the_source_is_down_waits_goes_out_incomplete_then_corrected() {
    let mut prometheus = Prometheus::start_with_history(&history::openmetrics(history::recent_end()));
    prometheus.stop();
    let mut smtp = Receiver::smtp();
    smtp.start();
    // Due yesterday at 00:00 UTC: the daemon starts at least a day after the due time.
    let yesterday = chrono::Utc::now().weekday().pred();
    let extra = format!(
        "[schedule]\ninterval = \"1h\"\n[store]\npath = \"state/headroom.db\"\n\
         [report]\nto = [\"sre@example.org\"]\nweekday = \"{yesterday}\"\ntime = \"00:00\"\ntimezone = \"UTC\"\n\
         wait_for_complete = \"4s\"\n\
         [smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\ntimeout = \"5s\"\n",
        smtp.port
    );
    let setup = Setup::new(
        &config_for(&prometheus.url(), &extra),
        &[("disk.toml", disk_with_lead_time().as_str())],
    );
    let (mut daemon, port, log) = start_daemon_with(&setup, free_port(), &[]);

    // The first cycle fails (the source is down): no report, no mail.
    wait_until("a failed cycle", Duration::from_secs(60), || {
        metric_value(&metrics(port), "headroom_cycles_total", &[("result", "failure")]) >= Some(1.0)
    });
    assert_eq!(
        metric_value(&metrics(port), "headroom_reports_built_total", &[]),
        Some(0.0)
    );
    assert!(
        smtp.saved("eml").is_empty(),
        "mailed from a cycle in which every model failed"
    );
    assert!(read_log(&log).contains("waiting for a cycle in which every model is planned"));

    // Still down after the wait: it goes out, saying it is incomplete, never "nothing at risk".
    wait_until("the incomplete report", Duration::from_secs(60), || {
        smtp.saved("eml").len() == 1
    });
    let first = mail_summary(&smtp.saved("eml")[0]);
    let subject = first["subject"].as_str().expect("subject");
    assert!(subject.contains("INCOMPLETE, 1 of 1 models not planned"), "{subject}");
    let text = first["text"].as_str().expect("text");
    assert!(
        text.contains("INCOMPLETE") && text.contains("not an all-clear"),
        "{text}"
    );
    assert!(!text.contains("Nothing is expected to cross"), "{text}");

    // Prometheus is back: the next retry plans every model and the corrected report follows.
    prometheus.start();
    wait_until("the corrected report", Duration::from_secs(90), || {
        smtp.saved("eml").len() == 2
    });
    let second = mail_summary(&smtp.saved("eml")[1]);
    let subject = second["subject"].as_str().expect("subject");
    assert!(subject.starts_with("Corrected: Capacity report"), "{subject}");
    assert!(!subject.contains("INCOMPLETE"), "{subject}");
    let text = second["text"].as_str().expect("text");
    assert!(text.contains("fill:9100"), "{text}");
    // Once: later cycles of the same week send nothing more.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(smtp.saved("eml").len(), 2, "{}", smtp.log());
    assert_eq!(
        metric_value(&metrics(port), "headroom_reports_built_total", &[]),
        Some(2.0)
    );
    assert!(daemon.running(), "{}", read_log(&log));
}
