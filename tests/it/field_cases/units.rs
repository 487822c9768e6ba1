//! Input units on inputs of their own: a CSV in microseconds at a 10-minute step, a dump in
//! seconds with one line in milliseconds, a dump in microseconds, and a dump from years ago.

use super::cases_units::forecast;
use super::{DAY, Dump, NOW, entity, file_setup, json_of, stderr_of};
use crate::harness::{once_json, run_headroom};

/// Requests a second on an API: 400 with a ±80 daily wave peaking at 15:00 UTC, +5 a day.
fn requests(t: u64) -> f64 {
    let phase = 2.0 * std::f64::consts::PI * ((t % DAY) as f64 / DAY as f64 - 0.375);
    400.0 + 80.0 * phase.cos() + 5.0 * (t - (NOW - 5 * DAY)) as f64 / DAY as f64
}

/// Five days at 10 minutes, timestamps written by `stamp`.
fn requests_csv(stamp: impl Fn(u64) -> String) -> String {
    let mut csv = String::from("timestamp,value,series_id\n");
    for i in 0..=5 * DAY / 600 {
        let t = NOW - 5 * DAY + i * 600;
        csv.push_str(&format!("{},{:.3},api\n", stamp(t), requests(t)));
    }
    csv
}

/// A CSV in microseconds is read in microseconds and said to be: the forecast is the one of
/// the same rows in seconds, its timestamps in microseconds, and it follows the daily wave.
#[test]
fn a_csv_in_microseconds_is_read_in_microseconds_and_said() {
    let horizon = 144;
    let (micros, rows, _) = forecast(&requests_csv(|t| (t * 1_000_000).to_string()), horizon);
    let stderr = stderr_of(&micros);
    assert!(micros.status.success(), "{stderr}");
    assert!(stderr.contains("microseconds"), "the unit is said: {stderr}");
    let (seconds, in_seconds, _) = forecast(&requests_csv(|t| t.to_string()), horizon);
    assert!(seconds.status.success(), "{}", stderr_of(&seconds));
    assert!(!stderr_of(&seconds).contains("microseconds"));
    assert_eq!(rows.len(), horizon);
    assert_eq!(rows.len(), in_seconds.len());
    for (k, ((us, yhat), (s, yhat_s))) in rows.iter().zip(&in_seconds).enumerate() {
        let t = NOW + (k as u64 + 1) * 600;
        assert_eq!(*us, (t * 1_000_000) as f64, "row {k}");
        assert_eq!(*s, t as f64, "row {k}");
        assert!((yhat - yhat_s).abs() < 1e-9, "row {k}: {yhat} vs {yhat_s} in seconds");
        // The next day follows the wave: within 10 % of its ±80 swing.
        assert!(
            (yhat - requests(t)).abs() <= 16.0,
            "row {k}: {yhat} vs truth {}",
            requests(t)
        );
    }
}

/// Redis memory of two instances, in a dump written in seconds.
fn redis_dump(odd_line: Option<usize>) -> Dump {
    let mut dump = Dump::default();
    for i in 0..=4 * DAY / 300 {
        let t = NOW - 4 * DAY + i * 300;
        for instance in ["cache-1:9121", "cache-2:9121"] {
            let used = 2e9 + 1e7 * (i as f64).sqrt();
            // The line about to be written is line `lines() + 1`.
            let stamp = if odd_line == Some(dump.lines() + 1) {
                t * 1000
            } else {
                t
            };
            dump.sample_raw(
                "redis_memory_used_bytes",
                &[("instance", instance)],
                used,
                &stamp.to_string(),
            );
        }
    }
    dump
}

const REDIS_MODEL: &str = "name = \"redis-memory\"\nusage = 'redis_memory_used_bytes'\ncapacity = 4e9\nthreshold = \"85%\"\nunit = \"bytes\"\nhistory = \"4d\"\nstep = \"5m\"\nhorizon = \"30d\"\n";

/// A dump in seconds with one line in milliseconds (two exports concatenated) is refused at
/// that line, naming both units; the same dump without the odd line is read in seconds.
#[test]
fn a_dump_in_seconds_with_one_millisecond_line_is_refused_at_that_line() {
    let odd = 777;
    let setup = file_setup(&redis_dump(Some(odd)), &[("redis-memory.toml", REDIS_MODEL)]);
    let output = once_json(&setup, NOW);
    let stderr = stderr_of(&output);
    assert!(matches!(output.status.code(), Some(1 | 2)), "refused: {stderr}");
    assert!(
        stderr.contains(&format!("line {odd}:")) && stderr.contains("milliseconds") && stderr.contains("seconds"),
        "{stderr}"
    );

    let clean = file_setup(&redis_dump(None), &[("redis-memory.toml", REDIS_MODEL)]);
    let config = clean.config();
    let output = run_headroom(&["once", "--config", config.to_str().expect("utf-8"), "--format", "json"]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(
        stderr_of(&output).contains("seconds since 1970, not milliseconds"),
        "{}",
        stderr_of(&output)
    );
    let json = json_of(&output);
    assert_eq!(json["evaluated_at"], NOW as f64, "planned as of its last sample");
    assert_eq!(
        entity(&json, "redis-memory", &[("instance", "cache-1:9121")])["status"],
        "ok"
    );
}

/// A dump in microseconds is read in microseconds and planned as of its last sample; a dump in
/// milliseconds whose samples all lie years back is read, with a hint about the unit.
#[test]
fn a_dump_in_microseconds_is_read_and_a_years_old_one_gets_a_hint() {
    let queue = "name = \"jobs\"\nusage = 'jobs_queued'\ncapacity = 5000\nthreshold = \"80%\"\nunit = \"jobs\"\nhistory = \"3d\"\nstep = \"5m\"\nhorizon = \"30d\"\n";
    let write = |end: u64, stamp: &dyn Fn(u64) -> String| {
        let mut dump = Dump::default();
        for i in 0..=3 * DAY / 300 {
            let t = end - 3 * DAY + i * 300;
            dump.sample_raw(
                "jobs_queued",
                &[("queue", "render")],
                1000.0 + (i % 12) as f64,
                &stamp(t),
            );
        }
        file_setup(&dump, &[("jobs.toml", queue)])
    };
    let micros = write(NOW, &|t| (t * 1_000_000).to_string());
    let config = micros.config();
    let output = run_headroom(&["once", "--config", config.to_str().expect("utf-8"), "--format", "json"]);
    let stderr = stderr_of(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("microseconds"), "{stderr}");
    let json = json_of(&output);
    assert_eq!(json["evaluated_at"], NOW as f64);
    assert_eq!(entity(&json, "jobs", &[("queue", "render")])["status"], "ok");

    // 2019-03-01: years before any clock this test runs on.
    let old_end = 1_551_398_400;
    let old = write(old_end, &|t| (t * 1000).to_string());
    let config = old.config();
    let output = run_headroom(&["once", "--config", config.to_str().expect("utf-8"), "--format", "json"]);
    let stderr = stderr_of(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("days ago") && stderr.contains("unit"),
        "a hint about the unit: {stderr}"
    );
    assert_eq!(json_of(&output)["evaluated_at"], old_end as f64);
}
