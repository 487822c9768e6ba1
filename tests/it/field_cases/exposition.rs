//! Exposition that never breaks, on an input of its own: OpenTelemetry names that clash with a
//! classic one on the same entity (`host.name` and `host_name`), a quoted metric name and a
//! label value with quotes, a backslash and a newline, read from a Prometheus 3 dump.

use regex::Regex;

use super::{DAY, Dump, NOW, file_setup, gauss};
use crate::harness::{http_get, http_get_with, promtool_check_metrics, read_log};

/// What Prometheus 2 sends when it scrapes (it prefers OpenMetrics).
pub const PROMETHEUS_2_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// What a Prometheus 3 that reads UTF-8 names sends.
pub const UTF8_ACCEPT: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8";

/// Sample lines a classic (Prometheus 2) text or OpenMetrics parser cannot read: names outside
/// the classic character set, quoted names, malformed label sets, or a label name twice.
pub fn bad_exposition_lines(text: &str) -> Vec<String> {
    const NAME: &str = r"[a-zA-Z_:][a-zA-Z0-9_:]*";
    const LABEL: &str = r"[a-zA-Z_][a-zA-Z0-9_]*";
    const VALUE: &str = r#""(?:[^"\\\n]|\\.)*""#;
    let sample = Regex::new(&format!(
        r"^({NAME})(\{{\s*(?:{LABEL}\s*=\s*{VALUE}\s*(?:,\s*{LABEL}\s*=\s*{VALUE}\s*)*,?)?\s*\}})?\s+\S+(\s+\S+)?(\s+#.*)?$"
    ))
    .expect("sample pattern");
    let label_set = Regex::new(r"^[^{\s]+\{(.*)\}\s").expect("label set pattern");
    let value = Regex::new(VALUE).expect("value pattern");
    let label_name = Regex::new(&format!(r"(?:^|,)\s*({LABEL})\s*=")).expect("name pattern");
    text.lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .filter(|line| {
            if !sample.is_match(line) {
                return true;
            }
            let Some(labels) = label_set.captures(line) else {
                return false;
            };
            let blanked = value.replace_all(&labels[1], "\"\"");
            let names: Vec<&str> = label_name
                .captures_iter(&blanked)
                .filter_map(|c| c.get(1).map(|m| m.as_str()))
                .collect();
            let unique: std::collections::BTreeSet<&&str> = names.iter().collect();
            unique.len() != names.len()
        })
        .map(str::to_string)
        .collect()
}

/// `/metrics` as a plain client (no `Accept`) and as Prometheus 2 read it, after checking that
/// promtool accepts the first and that a classic parser reads every sample line of both.
pub fn classic_pages(port: u16) -> (String, String) {
    let (_, classic) = http_get(port, "/metrics").expect("scrape");
    let (code, lint) = promtool_check_metrics(&classic);
    assert_eq!(code, 0, "promtool check metrics: {lint}\n{classic}");
    let (_, prometheus_2) = http_get_with(port, "/metrics", &[("Accept", PROMETHEUS_2_ACCEPT)]).expect("scrape");
    for page in [&classic, &prometheus_2] {
        let bad = bad_exposition_lines(page);
        assert!(bad.is_empty(), "lines a classic scraper cannot read: {bad:#?}");
    }
    (classic, prometheus_2)
}

/// The checker itself: it must refuse what a classic parser refuses.
#[test]
fn the_exposition_checker_refuses_what_classic_scrapers_cannot_read() {
    let good = "# HELP x y\nheadroom_usage_last{model=\"pvc\",a_b=\"q\\\"x\"} 0.5\nup 1\n";
    assert!(bad_exposition_lines(good).is_empty());
    for bad in [
        "headroom_usage_last{model=\"pvc\",service.name=\"a\"} 1",
        "headroom_usage_last{\"service.name\"=\"a\"} 1",
        "headroom_usage_last{a=\"1\",a=\"2\"} 1",
        "headroom_usage_last{a=\"x\ny\"} 1",
    ] {
        assert!(!bad_exposition_lines(bad).is_empty(), "{bad}");
    }
}

/// Active requests of a web host at `t`: `web-1` grows 4 a day from 100 (against 80 % of
/// 200), `web-2` stays at 80.
fn active_requests(host: &str, t: u64) -> f64 {
    let days = (t - (NOW - 14 * DAY)) as f64 / DAY as f64;
    if host == "web-1" { 100.0 + 4.0 * days } else { 80.0 }
}

/// An entity with `host.name` and `host_name` (OpenTelemetry's resource attribute beside the
/// classic label a relabelling made) and a label value with a quote, a backslash and a newline:
/// classic scrapers get escaped names with no duplicate and promtool passes; UTF-8 scrapers get
/// the names quoted; the API keeps the labels as they came; nothing is dropped.
#[test]
fn clashing_opentelemetry_names_from_a_prometheus_3_dump_keep_metrics_parsable() {
    let mut dump = Dump::default();
    let step = 300;
    for i in 0..=14 * DAY / step {
        let t = NOW - 14 * DAY + i * step;
        for (h, host) in ["web-1", "web-2"].iter().enumerate() {
            let value = active_requests(host, t) + 0.5 * gauss(i, 50 + h as u64);
            dump.line(&format!(
                "{{\"http.server.active_requests\", \"host.name\"=\"{host}\", host_name=\"{host}.internal\", \"service.name\"=\"shop\", note=\"say \\\"hi\\\" \\\\ bye\\nnext\"}} {value} {}",
                t * 1000
            ));
        }
    }
    let model = "name = \"http-active\"\nusage = '{\"http.server.active_requests\", \"service.name\"=\"shop\"}'\ncapacity = 200\nthreshold = \"80%\"\nunit = \"requests\"\nhistory = \"14d\"\nstep = \"5m\"\nhorizon = \"30d\"\n";
    let setup = file_setup(&dump, &[("http-active.toml", model)]);
    let (mut daemon, port, log) = super::ready_daemon(&setup);
    let (classic, _) = classic_pages(port);
    let note = "note=\"say \\\"hi\\\" \\\\ bye\\nnext\"";
    for host in ["web-1", "web-2"] {
        // The classic name stays; the dotted one steps aside; the value is escaped, not lost.
        let line = classic
            .lines()
            .find(|l| l.starts_with("headroom_usage_last{") && l.contains(&format!("exported_host_name=\"{host}\"")))
            .unwrap_or_else(|| panic!("no usage line for {host}:\n{classic}"));
        assert!(
            line.contains(&format!("host_name=\"{host}.internal\""))
                && line.contains("service_name=\"shop\"")
                && line.contains(note),
            "{line}"
        );
        let value: f64 = line.rsplit(' ').next().and_then(|v| v.parse().ok()).expect("a value");
        assert!((value - active_requests(host, NOW)).abs() <= 2.5, "{host}: {value}");
    }
    assert!(
        classic
            .lines()
            .any(|l| l.starts_with("headroom_exhaustion_timestamp_seconds{")
                && l.contains("exported_host_name=\"web-1\"")
                && l.contains("estimate=\"likely\"")),
        "web-1 keeps its date: {classic}"
    );

    let (_, utf8) = http_get_with(port, "/metrics", &[("Accept", UTF8_ACCEPT)]).expect("scrape");
    for host in ["web-1", "web-2"] {
        assert!(
            utf8.lines().any(|l| l.starts_with("headroom_usage_last{")
                && l.contains(&format!("\"host.name\"=\"{host}\""))
                && l.contains(&format!("host_name=\"{host}.internal\""))
                && l.contains("\"service.name\"=\"shop\"")),
            "{utf8}"
        );
    }

    let (_, cycle) = http_get(port, "/api/v1/cycle").expect("cycle");
    let cycle: serde_json::Value = serde_json::from_str(&cycle).expect("JSON");
    let web1 = super::entity(&cycle, "http-active", &[("host.name", "web-1")]);
    assert_eq!(web1["labels"]["host_name"], "web-1.internal", "{web1:#}");
    assert_eq!(web1["labels"]["note"], "say \"hi\" \\ bye\nnext", "{web1:#}");
    assert!(daemon.running(), "headroom exited: {}", read_log(&log));
}
