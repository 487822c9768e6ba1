//! Messy production data: the field cases (series that end, capacities that change or read 0,
//! partial answers, label names that are not classic, timestamps in another unit, short peaks)
//! and, for each kind of fault, a second input of its own (another resource, unit, shape or
//! source) against the real Prometheus or VictoriaMetrics where one can show it.
//!
//! Every input is generated here from a formula, and every expected number is computed from
//! the same formula, with the tolerance stated where it is checked.

mod cases_capacity;
mod cases_lifecycle;
mod cases_sources;
mod cases_units;
mod capacity;
mod exposition;
mod lifecycle;
mod partial;
mod sizing;
mod stand_in;
mod units;

use std::fmt::Write;
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

/// Numbers and times as Headroom's messages print them (`12.35G`, `2026-03-02 00:00 UTC`).
pub use headroom::format::{number as number_text, time as time_text};

use crate::harness::{Process, Setup, http_get, read_log, start_daemon, wait_until};

/// 2026-03-02T00:00:00Z, the instant the field cases plan at.
pub const NOW: u64 = 1_772_409_600;
pub const DAY: u64 = 86_400;
pub const GB: f64 = 1e9;

/// Deterministic noise in [-1, 1] (splitmix64 of the index and a seed).
pub fn uniform(i: u64, seed: u64) -> f64 {
    let mut z = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seed.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
}

/// Deterministic Gaussian noise with standard deviation 1 (Box-Muller on two [`uniform`]s).
pub fn gauss(i: u64, seed: u64) -> f64 {
    let u1 = (uniform(i, seed) + 1.0) / 2.0;
    let u2 = (uniform(i, seed ^ 0x5555) + 1.0) / 2.0;
    (-2.0 * u1.max(1e-12).ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// A sample value as the text formats write it.
fn value_text(value: f64) -> String {
    match value {
        v if v.is_nan() => "NaN".into(),
        v if v == f64::INFINITY => "+Inf".into(),
        v if v == f64::NEG_INFINITY => "-Inf".into(),
        v => format!("{v}"),
    }
}

/// The dump format of the file source (`promtool tsdb dump`): one sample a line, the name in
/// the label set, timestamps in milliseconds unless the test writes another unit.
#[derive(Default)]
pub struct Dump(String);

impl Dump {
    /// A sample at `t` Unix seconds, written in milliseconds.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64, t: u64) {
        self.sample_raw(name, labels, value, &(t * 1000).to_string());
    }

    /// A sample with its timestamp written as given.
    pub fn sample_raw(&mut self, name: &str, labels: &[(&str, &str)], value: f64, timestamp: &str) {
        let mut pairs = format!("__name__=\"{name}\"");
        for (k, v) in labels {
            let _ = write!(pairs, ", {k}=\"{v}\"");
        }
        let _ = writeln!(self.0, "{{{pairs}}} {} {timestamp}", value_text(value));
    }

    /// A line written exactly as given (Prometheus 3 quoted names).
    pub fn line(&mut self, line: &str) {
        self.0.push_str(line);
        self.0.push('\n');
    }

    /// The lines written so far.
    pub fn lines(&self) -> usize {
        self.0.lines().count()
    }

    pub fn text(&self) -> &str {
        &self.0
    }
}

/// OpenMetrics text for promtool's backfill and the VictoriaMetrics import: samples grouped
/// by metric family, timestamps in seconds.
#[derive(Default)]
pub struct OpenMetrics {
    families: Vec<(String, String)>,
}

impl OpenMetrics {
    /// A sample of `family` with `labels` (`a="b",c="d"`) at `t` Unix seconds.
    pub fn sample(&mut self, family: &str, labels: &str, value: f64, t: u64) {
        let index = match self.families.iter().position(|(name, _)| name == family) {
            Some(index) => index,
            None => {
                self.families.push((family.to_string(), String::new()));
                self.families.len() - 1
            }
        };
        let _ = writeln!(self.families[index].1, "{family}{{{labels}}} {} {t}", value_text(value));
    }

    pub fn finish(&self) -> String {
        let mut out = String::new();
        for (family, lines) in &self.families {
            let _ = writeln!(out, "# TYPE {family} gauge");
            out.push_str(lines);
        }
        out.push_str("# EOF\n");
        out
    }
}

/// The config of a case read from `history.dump` beside it.
pub const FILE_CONFIG: &str = "[source]\nkind = \"file\"\npath = \"history.dump\"\n\n[models]\ndir = \"models\"\n\n[store]\npath = \"state/headroom.db\"\n\n[forecast]\nthreads = 1\n";

/// A setup reading `dump` through the file source, with `models`.
pub fn file_setup(dump: &Dump, models: &[(&str, &str)]) -> Setup {
    let setup = Setup::new(FILE_CONFIG, models);
    std::fs::write(setup.dir.path().join("history.dump"), dump.text()).expect("write the dump");
    setup
}

/// A setup reading a Prometheus-API source at `url` (real or stand-in), with `extra` TOML.
pub fn api_setup(url: &str, extra: &str, models: &[(&str, &str)]) -> Setup {
    let config = crate::harness::config_for(
        url,
        &format!("[store]\npath = \"state/headroom.db\"\n\n[forecast]\nthreads = 1\n\n{extra}"),
    );
    Setup::new(&config, models)
}

/// The JSON document on standard output, or a failure naming what the command printed.
pub fn json_of(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON on stdout ({e}); exit {:?}\nstdout: {}\nstderr: {}",
            output.status.code(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

pub fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The model named `model` in a cycle document.
pub fn model<'a>(json: &'a serde_json::Value, model: &str) -> &'a serde_json::Value {
    json["models"]
        .as_array()
        .and_then(|models| models.iter().find(|m| m["model"] == model))
        .unwrap_or_else(|| panic!("no model {model} in {json:#}"))
}

/// The entity of `model` whose labels include every pair of `labels`.
pub fn entity<'a>(json: &'a serde_json::Value, name: &str, labels: &[(&str, &str)]) -> &'a serde_json::Value {
    model(json, name)["entities"]
        .as_array()
        .and_then(|entities| {
            entities
                .iter()
                .find(|e| labels.iter().all(|(k, v)| e["labels"][*k] == *v))
        })
        .unwrap_or_else(|| panic!("no entity {labels:?} in model {name}: {json:#}"))
}

/// Days from `now` to the Unix time at `value`, or a failure naming the entity.
pub fn days_from(now: u64, value: &serde_json::Value, what: &str) -> f64 {
    let at = value
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: expected a time, got {value}"));
    (at - now as f64) / DAY as f64
}

/// Asserts `days` lies within `tolerance` (a fraction) of `truth` days.
pub fn assert_near_days(what: &str, days: f64, truth: f64, tolerance: f64) {
    assert!(
        (days - truth).abs() <= tolerance * truth.abs(),
        "{what}: {days:.3} d, truth {truth:.3} d (±{:.0} %)",
        tolerance * 100.0
    );
}

/// The first instant from `from`, in steps of `step` seconds, at which `reached` holds; `None`
/// when it does not within `limit` seconds.
pub fn first_crossing(from: u64, step: u64, limit: u64, reached: impl Fn(f64) -> bool) -> Option<f64> {
    (0..=limit / step)
        .map(|k| (from + k * step) as f64)
        .find(|t| reached(*t))
}

/// The entity has no exhaustion date, no urgency and no units to add.
pub fn assert_not_planned(entity: &serde_json::Value) {
    let exhaustion = &entity["exhaustion"];
    assert!(
        exhaustion["likely"].is_null() && exhaustion["earliest"].is_null() && exhaustion["exceeded_now"] != true,
        "no exhaustion: {entity:#}"
    );
    assert!(
        entity["recommendation"].is_null() || entity["recommendation"]["urgency"] == "ok",
        "no urgency: {entity:#}"
    );
    assert!(
        entity["recommendation"]["units"]["change"]
            .as_i64()
            .is_none_or(|change| change <= 0),
        "no units to add: {entity:#}"
    );
}

/// The wall clock, Unix seconds.
pub fn wall_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
}

/// `headroom run` with a setup's config, once its first cycle is published: (process, port,
/// log).
pub fn ready_daemon(setup: &Setup) -> (Process, u16, PathBuf) {
    let (mut daemon, port, log) = start_daemon(setup);
    wait_until("headroom to be ready", Duration::from_secs(90), || {
        http_get(port, "/readyz").is_some_and(|(status, _)| status == 200)
    });
    assert!(daemon.running(), "headroom exited: {}", read_log(&log));
    (daemon, port, log)
}

/// `headroom once --format json --at AT`, which must succeed: its JSON.
pub fn planned(setup: &Setup, at: u64) -> serde_json::Value {
    let output = crate::harness::once_json(setup, at);
    assert!(output.status.success(), "{}", stderr_of(&output));
    json_of(&output)
}

/// `headroom_entities{model, status}` on a `/metrics` page.
pub fn counted(metrics: &str, model: &str, status: &str) -> Option<f64> {
    crate::harness::metric_value(metrics, "headroom_entities", &[("model", model), ("status", status)])
}
