//! `headroom replay` against a real Prometheus: a week replayed hourly over fixtures whose
//! truth the test knows, the baseline's and Headroom's figures recomputed here from the
//! generating functions, no look-ahead, the JSON against its schema, and `replay.html` in
//! headless Chromium.

use std::fmt::Write;
use std::process::Command;

use crate::harness::{Prometheus, Setup, config_for, run_headroom};

const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;
/// History before the span (the models' window), the span, and the truth after it.
const DAYS: u64 = 43;
/// The span replayed: days 28 to 35 of the data, every hour (169 moments).
const FROM_DAY: u64 = 28;
const TO_DAY: u64 = 35;
/// The hour (since the first sample) at which the filling disk reaches 90 GB: four days
/// into the span.
const CROSS_HOUR: u64 = (FROM_DAY + 4) * 24;
/// The day of the one-off burst: two days into the span.
const BURST_DAY: u64 = FROM_DAY + 2;
/// The planted entity's sample one hour after this moment (hours since `from`) reads 99.
const PLANT_AFTER: u64 = 60;

/// Usage of each fixture at hour `h` since the first sample, at Unix time `t`.
fn value(entity: &str, h: u64, t: u64) -> f64 {
    let hf = h as f64;
    let hour_of_day = t / HOUR % 24;
    // 1970-01-01 was a Thursday: weekday 3 with Monday as 0.
    let weekday = (t / DAY + 3) % 7;
    match entity {
        // Fills steadily from 20 GB: reaches 90 GB at CROSS_HOUR (a sample later than 89.99 GB
        // an hour before), then levels off below the capacity.
        "steady" => (20.0 + 70.05 / CROSS_HOUR as f64 * hf).min(97.0),
        // Logs grow 45 GB a day and are rotated at midnight: 35 to 78 GB, never 90.
        "logs" => 35.0 + 45.0 * hour_of_day as f64 / 24.0,
        // Flat at 30 GB, but a one-off copy fills 55 GB for a few hours on one day.
        "burst" => match h {
            h if (BURST_DAY * 24 + 9..BURST_DAY * 24 + 13).contains(&h) => {
                30.0 + 55.0 * ((h - (BURST_DAY * 24 + 8)) as f64 / 4.0)
            }
            _ => 30.0,
        },
        // Memory leaks 0.32 GB an hour and is restarted every Monday at 00:00: 30 to 84 GB.
        "memory" => 30.0 + 0.32 * ((weekday * 24 + hour_of_day) as f64),
        // A CPU pool: 20 cores at night and on weekends, a 70-core plateau on weekday afternoons.
        "cpu" => {
            if weekday >= 5 {
                22.0
            } else {
                match hour_of_day {
                    0..=7 => 20.0,
                    8..=13 => 20.0 + 50.0 * (hour_of_day - 7) as f64 / 6.0,
                    14..=17 => 70.0,
                    18..=21 => 70.0 - 50.0 * (hour_of_day - 17) as f64 / 4.0,
                    _ => 20.0,
                }
            }
        }
        other => panic!("no fixture {other}"),
    }
}

/// The model of each fixture and its threshold (capacity 100, threshold 90 % or 80 %).
fn model_of(entity: &str) -> (&'static str, f64) {
    match entity {
        "memory" => ("memory", 90.0),
        "cpu" => ("cpu", 80.0),
        _ => ("disk", 90.0),
    }
}

const ENTITIES: [&str; 6] = ["steady", "planted", "logs", "burst", "memory", "cpu"];

fn model(name: &str, metric: &str, threshold: &str) -> String {
    let unit = if name == "cpu" { "cores" } else { "GB" };
    format!(
        "name = \"{name}\"\nusage = '{metric}{{job=\"fixture\"}}'\ncapacity = 100\nthreshold = \"{threshold}\"\nunit = \"{unit}\"\nhistory = \"28d\"\nstep = \"1h\"\nhorizon = \"30d\"\n"
    )
}

struct Fixture {
    start: u64,
    from: u64,
    to: u64,
    /// Each entity's samples (time, value), as backfilled.
    samples: Vec<(&'static str, Vec<(u64, f64)>)>,
}

/// 43 days of hourly samples ending an hour before now: 28 days of history before the span,
/// the week replayed, and eight days of truth after it (a Headroom alert looks 7 days ahead).
fn fixture() -> Fixture {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let end = now / HOUR * HOUR - HOUR;
    let start = end - (DAYS * DAY - HOUR);
    let samples = ENTITIES
        .iter()
        .map(|&entity| {
            let values = (0..DAYS * 24)
                .map(|h| {
                    let t = start + h * HOUR;
                    let planted = entity == "planted" && h == FROM_DAY * 24 + PLANT_AFTER + 1;
                    let fixture = if entity == "planted" { "steady" } else { entity };
                    (t, if planted { 99.0 } else { value(fixture, h, t) })
                })
                .collect();
            (entity, values)
        })
        .collect();
    Fixture {
        start,
        from: start + FROM_DAY * DAY,
        to: start + TO_DAY * DAY,
        samples,
    }
}

fn openmetrics(fixture: &Fixture) -> String {
    let mut out = String::new();
    for metric in ["disk_used", "memory_used", "cpu_used"] {
        let _ = writeln!(out, "# TYPE {metric} gauge");
        for (entity, samples) in &fixture.samples {
            if format!("{}_used", model_of(entity).0) != metric {
                continue;
            }
            for (t, v) in samples {
                let _ = writeln!(out, "{metric}{{job=\"fixture\",instance=\"{entity}\"}} {v} {t}");
            }
        }
    }
    out.push_str("# EOF\n");
    out
}

/// Prometheus' `predict_linear(v[window], ahead)` at `at`, on the samples in (at - window, at].
fn predict_linear(samples: &[(u64, f64)], at: u64, window: u64, ahead: f64) -> Option<f64> {
    let points: Vec<(f64, f64)> = samples
        .iter()
        .filter(|(t, _)| *t > at - window && *t <= at)
        .map(|(t, v)| (*t as f64 - at as f64, *v))
        .collect();
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let (sx, sy) = points.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (sxx, sxy) = points.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x * x, b + x * y));
    let slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
    let intercept = sy / n - slope * sx / n;
    Some(intercept + slope * ahead)
}

/// Whether the usage is past `threshold` at a sample in (at - step, at + horizon].
fn crosses_within(samples: &[(u64, f64)], at: u64, horizon: u64, threshold: f64) -> bool {
    samples
        .iter()
        .any(|(t, v)| *t + HOUR > at && *t <= at + horizon && *v >= threshold)
}

fn entity_at<'a>(moment: &'a serde_json::Value, instance: &str) -> &'a serde_json::Value {
    moment["entities"]
        .as_array()
        .and_then(|all| all.iter().find(|e| e["labels"]["instance"] == instance))
        .unwrap_or_else(|| panic!("no {instance} at {}", moment["at"]))
}

fn summary<'a>(document: &'a serde_json::Value, instance: &str) -> &'a serde_json::Value {
    document["entities"]
        .as_array()
        .and_then(|all| all.iter().find(|e| e["labels"]["instance"] == instance))
        .unwrap_or_else(|| panic!("no summary for {instance}"))
}

/// A week replayed hourly over the five fixtures (and a twin of the filling disk with a
/// sample planted after one moment): the baseline's false alert-hours, recomputed here with
/// its own least squares, equal the replay's, entity by entity; Headroom's false alert-hours,
/// recounted from its alerts against the known truth, equal the replay's and are far fewer;
/// the crossing disk gets a true Headroom alert days ahead, the baseline's a day ahead; the
/// planted sample changes nothing at or before its moment; the document matches its schema;
/// and `replay.html` renders a chart per entity in headless Chromium.
#[test]
fn a_week_replayed_against_a_real_prometheus_judges_both_sides_against_the_truth() {
    let fixture = fixture();
    let prometheus = Prometheus::start_with_history(&openmetrics(&fixture));
    let models = [
        ("disk.toml", model("disk", "disk_used", "90%")),
        ("memory.toml", model("memory", "memory_used", "90%")),
        ("cpu.toml", model("cpu", "cpu_used", "80%")),
    ];
    let models: Vec<(&str, &str)> = models.iter().map(|(f, t)| (*f, t.as_str())).collect();
    let setup = Setup::new(&config_for(&prometheus.url(), ""), &models);
    let out = setup.dir.path().join("out");
    let (from, to) = (fixture.from.to_string(), fixture.to.to_string());
    let output = run_headroom(&[
        "replay",
        "--config",
        setup.config().to_str().expect("utf-8"),
        "--from",
        &from,
        "--to",
        &to,
        "--format",
        "json",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "headroom replay failed: {stderr}");
    assert!(
        stderr.contains("replay progress") && stderr.contains("moments_done=169"),
        "a progress line: {stderr}"
    );
    let text = String::from_utf8_lossy(&output.stdout);
    crate::harness::assert_matches_schema("docs/schemas/replay.schema.json", &text);
    let written = std::fs::read_to_string(out.join("replay.json")).expect("replay.json");
    assert_eq!(written, text, "--out writes the same document");
    let document: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let moments = document["moments"].as_array().expect("moments");
    assert_eq!(moments.len(), 169);
    assert_eq!(moments[0]["at"].as_f64(), Some(fixture.from as f64));
    assert_eq!(moments[168]["at"].as_f64(), Some(fixture.to as f64));
    let headroom_horizon = 7 * DAY;
    let baseline_horizon = DAY;

    let mut baseline_false_total = 0.0;
    let mut headroom_false_total = 0.0;
    for (entity, samples) in &fixture.samples {
        let (model, threshold) = model_of(entity);
        let (mut baseline_false, mut headroom_false, mut headroom_alerts) = (0.0, 0.0, 0usize);
        for moment in moments {
            let at = moment["at"].as_f64().expect("at") as u64;
            let got = entity_at(moment, entity);
            assert_eq!(got["model"], model);
            // The baseline, recomputed from the backfilled samples.
            let predicted = predict_linear(samples, at, 6 * HOUR, DAY as f64).expect("six samples in the window");
            let reported = got["baseline_predicted"].as_f64().expect("baseline value");
            assert!(
                (predicted - reported).abs() < 1e-6 * predicted.abs().max(1.0),
                "{entity} at {at}: predict_linear {predicted}, replay {reported}"
            );
            let fires = predicted >= threshold;
            assert_eq!(got["baseline_fires"], fires, "{entity} at {at}");
            if fires && !crosses_within(samples, at, baseline_horizon, threshold) {
                baseline_false += 1.0;
            }
            // Headroom's alerts, judged here against the truth.
            if got["headroom_alerts"] == true {
                headroom_alerts += 1;
                if !crosses_within(samples, at, headroom_horizon, threshold) {
                    headroom_false += 1.0;
                }
            }
            assert_eq!(got["headroom_alerts"], got["urgency"] == "critical");
        }
        let figures = summary(&document, entity);
        assert_eq!(
            figures["baseline"]["false_alert_hours"].as_f64(),
            Some(baseline_false),
            "{entity}"
        );
        assert_eq!(
            figures["headroom"]["false_alert_hours"].as_f64(),
            Some(headroom_false),
            "{entity}"
        );
        assert_eq!(
            figures["headroom"]["alerts"].as_u64(),
            Some(headroom_alerts as u64),
            "{entity}"
        );
        assert_eq!(
            figures["headroom"]["pending_alert_hours"], 0.0,
            "the truth covers every horizon"
        );
        if *entity != "planted" {
            baseline_false_total += baseline_false;
            headroom_false_total += headroom_false;
        }
        eprintln!(
            "{entity}: baseline {baseline_false} false alert-hours, Headroom {headroom_false} of {headroom_alerts}"
        );
    }
    // The rising sawtooth, the burst and the weekday ramps fool the straight line every day.
    assert!(baseline_false_total >= 100.0, "baseline: {baseline_false_total}");
    assert!(
        headroom_false_total * 4.0 <= baseline_false_total,
        "Headroom {headroom_false_total} vs baseline {baseline_false_total} false alert-hours"
    );

    // The filling disk crosses 90 GB 96 hours after the span starts.
    let crossing = (fixture.start + CROSS_HOUR * HOUR) as f64;
    let steady = summary(&document, "steady");
    assert_eq!(steady["headroom"]["crossings"], 1);
    assert_eq!(steady["headroom"]["missed"], 0);
    assert_eq!(steady["headroom"]["false_alert_hours"], 0.0);
    let first_alert = moments
        .iter()
        .find(|m| entity_at(m, "steady")["headroom_alerts"] == true)
        .and_then(|m| m["at"].as_f64())
        .expect("Headroom alerts on the filling disk");
    let lead = (crossing - first_alert) / 3600.0;
    assert!(
        moments
            .iter()
            .filter(|m| m["at"].as_f64() >= Some(first_alert))
            .all(|m| entity_at(m, "steady")["headroom_verdict"] == "true"),
        "every Headroom alert on it is true"
    );
    assert_eq!(steady["headroom"]["median_lead_hours"].as_f64(), Some(lead));
    assert!(lead >= 72.0, "Headroom warned {lead} h ahead");
    // The baseline fires once the line a day ahead reaches 90 GB: a day before the crossing.
    let baseline_lead = steady["baseline"]["median_lead_hours"].as_f64().expect("baseline lead");
    assert!(
        (23.0..=25.0).contains(&baseline_lead),
        "baseline lead {baseline_lead} h"
    );
    assert!(lead > baseline_lead * 2.0);
    // Headroom's likely date at the span's start is within a day of the actual crossing.
    let likely = entity_at(&moments[0], "steady")["likely"]
        .as_f64()
        .expect("a likely date");
    assert!((likely - crossing).abs() <= DAY as f64, "likely {likely} vs {crossing}");

    // No look-ahead: the twin's planted sample, an hour after moment PLANT_AFTER, changes
    // nothing at or before that moment, and is seen right after.
    let plan = |m: &serde_json::Value, instance: &str| {
        let e = entity_at(m, instance);
        [
            e["status"].clone(),
            e["likely"].clone(),
            e["earliest"].clone(),
            e["urgency"].clone(),
            e["baseline_predicted"].clone(),
        ]
    };
    let planted_at = PLANT_AFTER as usize;
    for moment in &moments[..=planted_at] {
        assert_eq!(plan(moment, "steady"), plan(moment, "planted"), "at {}", moment["at"]);
    }
    assert_ne!(
        plan(&moments[planted_at + 1], "steady"),
        plan(&moments[planted_at + 1], "planted"),
        "the planted sample is seen once its moment comes"
    );

    // The page, in a real browser: a chart per entity.
    let page = out.join("replay.html");
    match chromium() {
        Some(browser) => {
            let dom = dump_dom(&browser, &page);
            let charts = dom.matches("<img class=\"chart\"").count();
            assert_eq!(charts, ENTITIES.len(), "a chart per entity in the rendered DOM");
            for entity in ENTITIES {
                assert!(dom.contains(&format!("instance={entity}")), "{entity} on the page");
            }
        }
        None => eprintln!(
            "\n*** SKIPPED: replay.html was not rendered: Chromium is not installed \
             (scripts/install-test-deps.sh installs it; set HEADROOM_REQUIRE_CHROMIUM=1 to fail instead) ***\n"
        ),
    }
}

/// The headless browser, or `None` when it is absent and not required (the test then says so
/// loudly); required when `HEADROOM_REQUIRE_CHROMIUM` is set, as in CI.
fn chromium() -> Option<std::path::PathBuf> {
    let found = ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        })
    });
    if found.is_none() && std::env::var_os("HEADROOM_REQUIRE_CHROMIUM").is_some() {
        panic!("HEADROOM_REQUIRE_CHROMIUM is set but chromium is not installed: run scripts/install-test-deps.sh");
    }
    found
}

/// The DOM of `page` once Chromium has loaded it.
fn dump_dom(browser: &std::path::Path, page: &std::path::Path) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let output = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The command line without a Prometheus: a dump source, the table, and the span refused
/// with its reason (backwards, not yet passed, before the data) and exit 1.
#[test]
fn the_table_and_refused_spans_on_the_command_line() {
    let fixture = fixture();
    let mut dump = String::new();
    for (entity, samples) in &fixture.samples {
        let metric = format!("{}_used", model_of(entity).0);
        for (t, v) in samples {
            let _ = writeln!(
                dump,
                "{metric}{{job=\"fixture\",instance=\"{entity}\"}} {v} {}",
                t * 1000
            );
        }
    }
    let disk = model("disk", "disk_used", "90%");
    let setup = Setup::new(
        "[source]\nkind = \"file\"\npath = \"history.txt\"\n\n[models]\ndir = \"models\"\n",
        &[("disk.toml", disk.as_str())],
    );
    std::fs::write(setup.dir.path().join("history.txt"), dump).expect("write dump");
    let config = setup.config();
    let replay = |from: u64, to: u64, every: &str| {
        run_headroom(&[
            "replay",
            "--config",
            config.to_str().expect("utf-8"),
            "--from",
            &from.to_string(),
            "--to",
            &to.to_string(),
            "--every",
            every,
        ])
    };
    let output = replay(fixture.from, fixture.from + DAY, "6h");
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(table.contains("every 6.0 h: 5 moments, 4 entities"), "{table}");
    assert!(
        table.contains("predict_linear((disk_used{job=\"fixture\"})[6h:1h], 86400) >= 0.9000 * capacity"),
        "{table}"
    );
    assert!(table.lines().any(|l| l.starts_with("TOTAL")), "{table}");
    let refused = |output: std::process::Output, reason: &str| {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(reason), "{stderr}");
    };
    refused(replay(fixture.to, fixture.from, "1h"), "is not before --to");
    refused(
        replay(fixture.from, fixture.to + 30 * DAY, "1h"),
        "after the newest data",
    );
    refused(
        replay(fixture.start - 90 * DAY, fixture.start - 80 * DAY, "1d"),
        "no model has any data between",
    );
    let help = run_headroom(&["replay", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("--every <EVERY>") && help.contains("[default: 1h]") && help.contains("pending"),
        "{help}"
    );
}
