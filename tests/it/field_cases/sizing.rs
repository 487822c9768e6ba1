//! Decisions from the full forecast, on inputs of their own: a worker pool with a 20-minute
//! lunchtime burst at a 5-minute step (VictoriaMetrics), and a growing bucket whose forecast
//! horizon ends mid-month (hourly steps, a dump).

use chrono::{Datelike, TimeZone, Utc};

use super::planned;
use super::{DAY, Dump, NOW, api_setup, days_from, entity, file_setup, first_crossing, gauss};
use crate::harness::VictoriaMetrics;

/// Busy workers: 20, and 34 from 12:00 to 12:20 UTC every day (against 80 % of 40 = 32).
fn busy_workers(t: u64) -> f64 {
    let second_of_day = t % DAY;
    20.0 + if (12 * 3600..12 * 3600 + 1200).contains(&second_of_day) {
        14.0
    } else {
        0.0
    }
}

/// A pool that crosses its threshold for 20 minutes every lunchtime is sized on the burst:
/// the date is the next burst, units cover 34 workers at 80 % (11 nodes of 4, one more than
/// today), never fewer, in every month of the projection.
#[test]
fn a_short_lunchtime_burst_sizes_the_units_and_never_shrinks_them() {
    let end = crate::history::recent_end() - 300;
    let mut history = super::OpenMetrics::default();
    for i in 0..=14 * DAY / 300 {
        let t = end - 14 * DAY + i * 300;
        let busy = busy_workers(t) + 0.3 * gauss(i, 90);
        history.sample("http_workers_busy", "pool=\"checkout-api\",zone=\"eu-1\"", busy, t);
    }
    let victoria = VictoriaMetrics::start_with_history(&history.finish());
    let model = "name = \"workers\"\nusage = 'http_workers_busy'\ncapacity = 40\nthreshold = \"80%\"\nunit = \"workers\"\nhistory = \"14d\"\nstep = \"5m\"\nhorizon = \"14d\"\n\n[scaling]\nunit_size = 4\nunit_name = \"4-worker node\"\nunit_cost = 50.0\ncurrency = \"USD\"\nlead_time = \"1d\"\ntarget_utilization = \"80%\"\n";
    let setup = api_setup(&victoria.url(), "", &[("workers.toml", model)]);
    let json = planned(&setup, end);
    let pool = entity(&json, "workers", &[("pool", "checkout-api")]);
    assert_eq!(pool["status"], "ok", "{pool:#}");

    // The next burst (or this one, if planned during it): within half an hour.
    let burst = first_crossing(end, 300, 2 * DAY, |t| busy_workers(t as u64) >= 32.0).expect("a burst a day");
    let likely = days_from(end, &pool["exhaustion"]["likely"], "likely");
    let truth = (burst - end as f64) / DAY as f64;
    assert!(
        (likely - truth).abs() <= 0.5 / 24.0,
        "likely {likely:.4} d, the next burst at {truth:.4} d: {pool:#}"
    );
    let recommendation = &pool["recommendation"];
    let peak = 34.0;
    let expected = recommendation["peak_expected"].as_f64().expect("peak_expected");
    assert!(
        expected >= 0.97 * peak && expected <= 1.05 * peak,
        "peak_expected {expected}, the burst is {peak}"
    );
    // 34 workers at 80 % in nodes of 4, with the noise: at least 2 % below, at most 15 % above.
    let at_least = (0.98 * peak / 0.8 / 4.0).ceil() as i64;
    let at_most = (1.15 * peak / 0.8 / 4.0).ceil() as i64;
    let units = &recommendation["units"];
    let needed = units["needed"].as_i64().expect("units needed");
    assert!(
        (at_least..=at_most).contains(&needed),
        "units {needed}, sized on the burst: {at_least}..={at_most}"
    );
    assert_eq!(units["change"].as_i64(), Some(needed - 10), "{units:#}");
    assert!(
        units["change"].as_i64() >= Some(1),
        "never told to remove units: {units:#}"
    );
    for month in recommendation["cost"]["projection"].as_array().expect("projection") {
        assert!(
            month["units"].as_i64() >= Some(at_least),
            "every month holds bursts: {month}"
        );
    }
}

/// Bytes in an object-store bucket: 40 TB growing 0.25 TB a day from the start of its history.
fn bucket_used(t: f64, start: u64) -> f64 {
    40e12 + 0.25e12 * (t - start as f64) / DAY as f64
}

/// A growing bucket whose 75-day horizon ends on 16 May: the 12 months of the projection never
/// dip, the months that end within the horizon are sized on the forecast, those past it on the
/// trend (`basis`), and each month holds what the bucket will use by its end.
#[test]
fn the_cost_projection_is_continuous_past_a_horizon_that_ends_mid_month() {
    let start = NOW - 28 * DAY;
    let mut dump = Dump::default();
    for i in 0..=28 * 24 {
        let t = start + i * 3600;
        let used = bucket_used(t as f64, start) + 0.05e12 * gauss(i, 91);
        dump.sample("bucket_used_bytes", &[("bucket", "media-eu")], used, t);
    }
    let model = "name = \"bucket\"\nusage = 'bucket_used_bytes'\ncapacity = 100e12\nthreshold = \"90%\"\nunit = \"bytes\"\nhistory = \"28d\"\nstep = \"1h\"\nhorizon = \"75d\"\n\n[scaling]\nunit_size = 5e12\nunit_name = \"5 TB\"\nunit_cost = 100.0\ncurrency = \"USD\"\nlead_time = \"14d\"\ntarget_utilization = \"80%\"\n";
    let setup = file_setup(&dump, &[("bucket.toml", model)]);
    let json = planned(&setup, NOW);
    let bucket = entity(&json, "bucket", &[("bucket", "media-eu")]);
    let horizon_end = (NOW + 75 * DAY) as f64;
    assert_eq!(bucket["forecast"]["horizon_end"], horizon_end, "{bucket:#}");
    let months = bucket["recommendation"]["cost"]["projection"]
        .as_array()
        .expect("projection");
    assert_eq!(months.len(), 12);

    let now = Utc.timestamp_opt(NOW as i64, 0).single().expect("now");
    let mut previous = 0;
    for (m, month) in months.iter().enumerate() {
        let first = Utc
            .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
            .single()
            .expect("month");
        let begins = first + chrono::Months::new(m as u32 + 1);
        let ends = (begins + chrono::Months::new(1)).timestamp() as f64;
        assert_eq!(month["month"], format!("{:04}-{:02}", begins.year(), begins.month()));
        let basis = if ends <= horizon_end { "forecast" } else { "trend" };
        assert_eq!(month["basis"], basis, "{month}");
        let units = month["units"].as_i64().expect("units");
        assert!(units >= previous, "no dip: {previous} then {units} in {month}");
        previous = units;
        // What the bucket uses by the month's end, at 80 % in 5 TB steps: at least 2 % below
        // (noise), at most 20 % above (the pessimistic bound of a long forecast).
        let by_end = bucket_used(ends, start);
        let at_least = (0.98 * by_end / 0.8 / 5e12).ceil() as i64;
        let at_most = (1.20 * by_end / 0.8 / 5e12).ceil() as i64;
        assert!(
            (at_least..=at_most).contains(&units),
            "{month}: {at_least}..={at_most} units hold {by_end:e} bytes"
        );
        assert_eq!(month["cost"].as_f64(), Some(units as f64 * 100.0), "{month}");
    }
}
