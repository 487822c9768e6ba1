//! Field cases 11: timestamps in another unit than the input format's (a CSV in milliseconds, a
//! dump in seconds, one millisecond row among seconds), each generated as its `gen.py` does.

use std::time::{Duration, Instant};

use regex::Regex;

use super::{DAY, Dump, NOW, entity, file_setup, json_of, stderr_of};
use crate::harness::{run_headroom, run_with_stdin};

const STEP: u64 = 300;

/// Three days of one series ending at [`NOW`]: ~100 with a daily wave, +1 a day.
fn wave(t: u64) -> f64 {
    let start = NOW - 3 * DAY;
    100.0 + 10.0 * (2.0 * std::f64::consts::PI * t as f64 / DAY as f64).sin() + (t - start) as f64 / DAY as f64
}

fn times() -> impl Iterator<Item = u64> {
    (0..=3 * DAY / STEP).map(|i| NOW - 3 * DAY + i * STEP)
}

/// The CSV of [`wave`], each timestamp written by `stamp` (its row index and Unix seconds).
pub fn wave_csv(stamp: impl Fn(u64, u64) -> String) -> String {
    let mut csv = String::from("series_id,timestamp,value\n");
    for (i, t) in times().enumerate() {
        csv.push_str(&format!("web,{},{:.4}\n", stamp(i as u64, t), wave(t)));
    }
    csv
}

/// `headroom forecast` on `csv`: (output, output CSV rows as (timestamp, yhat), seconds taken).
pub fn forecast(csv: &str, horizon: usize) -> (std::process::Output, Vec<(f64, f64)>, Duration) {
    let started = Instant::now();
    let output = run_with_stdin(
        crate::harness::headroom().args(["forecast", "--input", "-", "--horizon", &horizon.to_string()]),
        csv,
    );
    let took = started.elapsed();
    let rows = String::from_utf8_lossy(&output.stdout)
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            Some((fields.get(1)?.parse().ok()?, fields.get(2)?.parse().ok()?))
        })
        .collect();
    (output, rows, took)
}

/// Case 11, a CSV in milliseconds: the unit is noticed and said. Read in milliseconds, the
/// forecast is the one of the same data in seconds, with its timestamps in milliseconds.
#[test]
fn case_11_millisecond_csv() {
    let (output, rows, took) = forecast(&wave_csv(|_, t| (t * 1000).to_string()), 3);
    let stderr = stderr_of(&output);
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert!(stderr.contains("milliseconds"), "the unit is said: {stderr}");
    match output.status.code() {
        // Refused: the first row is named.
        Some(2) => assert!(stderr.contains("line 2"), "{stderr}"),
        Some(0) => {
            let (seconds, in_seconds, _) = forecast(&wave_csv(|_, t| t.to_string()), 3);
            assert!(seconds.status.success(), "{}", stderr_of(&seconds));
            assert_eq!(rows.len(), 3, "{}", String::from_utf8_lossy(&output.stdout));
            for (k, ((ms, yhat), (s, yhat_s))) in rows.iter().zip(&in_seconds).enumerate() {
                assert_eq!(*ms, ((NOW + (k as u64 + 1) * STEP) * 1000) as f64, "row {k}");
                assert_eq!(*s * 1000.0, *ms, "row {k}");
                assert!(
                    (yhat - yhat_s).abs() < 1e-9,
                    "row {k}: {yhat} vs {yhat_s} read in seconds"
                );
            }
        }
        other => panic!("exit {other:?}: {stderr}"),
    }
}

/// Case 11, a dump written in seconds: read in seconds with a warning that says so, planned as
/// of its last sample (2026-03-02), never as of 1970; or refused naming the unit.
#[test]
fn case_11_seconds_dump() {
    let mut dump = Dump::default();
    for t in times() {
        dump.sample_raw(
            "queue_depth",
            &[("queue", "orders")],
            (wave(t) * 1e4).round() / 1e4,
            &t.to_string(),
        );
    }
    let model = "name = \"queue\"\nusage = 'queue_depth'\ncapacity = 1000\nthreshold = \"80%\"\nunit = \"messages\"\nhistory = \"3d\"\nstep = \"5m\"\nhorizon = \"30d\"\n";
    let setup = file_setup(&dump, &[("queue.toml", model)]);
    let config = setup.config();
    let output = run_headroom(&["once", "--config", config.to_str().expect("utf-8"), "--format", "json"]);
    let stderr = stderr_of(&output);
    let said = Regex::new(r"(?i)milli|\bms\b|in seconds|like (unix )?seconds").expect("pattern");
    assert!(
        said.is_match(&stderr) || said.is_match(&String::from_utf8_lossy(&output.stdout)),
        "the unit is named: {stderr}"
    );
    match output.status.code() {
        Some(1 | 2) => {}
        Some(0) => {
            let json = json_of(&output);
            assert_eq!(json["evaluated_at"], NOW as f64, "planned as of the last sample");
            let queue = entity(&json, "queue", &[("queue", "orders")]);
            assert_eq!(queue["status"], "ok", "{queue:#}");
            assert!(
                (queue["current"].as_f64().expect("current") - wave(NOW)).abs() < 1e-3,
                "{queue:#}"
            );
        }
        other => panic!("exit {other:?}: {stderr}"),
    }
}

/// Case 11, one row in milliseconds among seconds (two exports concatenated): refused with exit
/// 2 naming its line, at once, never a grid sized on it.
#[test]
fn case_11_stray_millisecond_row() {
    let stray = 400;
    let csv = wave_csv(|i, t| {
        if i == stray {
            (t * 1000).to_string()
        } else {
            t.to_string()
        }
    });
    let (output, _, took) = forecast(&csv, 3);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    // The header is line 1: row `stray` is line stray + 2.
    let line = Regex::new(&format!(r"line {}\b", stray + 2)).expect("pattern");
    assert!(line.is_match(&stderr), "{stderr}");
    assert!(took < Duration::from_secs(30), "took {took:?}");
}
