//! The field cases that reached the engine, each on the shape of its reproducer (the inputs
//! are generated here, as the reproducers' scripts do), checked against the values the case
//! states as right.

use super::shapes::gauss;
use crate::forecast::{Forecast, Grid, LocalClock, Settings, forecast};
use crate::model::Direction;
use crate::recommend::exhaustion::{Exhaustion, exhaustion};

const STEP: f64 = 300.0;
const DAY: usize = 288;
/// 2026-03-02T00:00:00Z, the instant the cases plan at.
const NOW: f64 = 1_772_409_600.0;

/// A grid of `values` on 5-minute steps ending at `NOW`.
fn ending_now(values: Vec<f64>) -> Grid {
    Grid {
        start: NOW - (values.len() - 1) as f64 * STEP,
        step: STEP,
        values,
    }
}

fn offline_settings() -> Settings {
    // `headroom forecast` asks for no minimum span.
    Settings {
        min_history_secs: 0.0,
        ..Settings::default()
    }
}

fn last(series: &[f64]) -> f64 {
    series[series.len() - 1]
}

fn upper95(fc: &Forecast) -> &[f64] {
    &fc.band(0.95).expect("95 % band").upper
}

fn lower95(fc: &Forecast) -> &[f64] {
    &fc.band(0.95).expect("95 % band").lower
}

fn days_from_now(t: Option<f64>) -> Option<f64> {
    t.map(|t| (t - NOW) / 86_400.0)
}

/// 03-integer-step-gauge: pods in a namespace ran exactly 40 for weeks, then exactly 55 since
/// a deploy 1, 3 or 7 days ago. Quota 110, threshold 99, horizon 60 days: no exhaustion, 55 at
/// the horizon (±5 %), the 95 % upper bound under 99.
#[test]
fn a_step_in_a_noise_free_count_is_a_new_level() {
    for days in [1, 3, 7] {
        let points = 28 * DAY + 1;
        let values = (0..points)
            .map(|i| if i + days * DAY >= points - 1 { 55.0 } else { 40.0 })
            .collect();
        let fc = forecast(&ending_now(values), 60 * DAY, &Settings::default()).expect("forecast");
        let at_horizon = last(&fc.mean);
        assert!(
            (52.25..=57.75).contains(&at_horizon),
            "step {days}d: {at_horizon} at +60 d"
        );
        assert!(last(upper95(&fc)) <= 99.0, "step {days}d: upper {}", last(upper95(&fc)));
        assert_eq!(
            exhaustion(&fc, 99.0, Direction::Above),
            Exhaustion::default(),
            "step {days}d"
        );
        assert!(!fc.diagnostics.method.is_flat() || fc.diagnostics.trend_per_day == 0.0);
    }
}

/// 09-recovered-spike: two jobs serve ~1,000 req/s with a daily cycle between 700 and 1,300;
/// `api` also has one sample of 1.3e9 req/s (a new counter taken as an increase from zero) on
/// day 20 and ten minutes at 0 (a restart) on day 24. Threshold 2,000 req/s, horizon 90 days:
/// neither has an exhaustion date, and `api` looks like `control` (peak within 10 %, 95 %
/// bounds at the horizon within 0.8-1.25 times).
#[test]
fn one_recovered_glitch_changes_nothing() {
    let start = NOW - 28.0 * 86_400.0;
    let spike = start + 20.0 * 86_400.0 + 13.0 * 3600.0;
    let dip = (
        start + 24.0 * 86_400.0 + 9.0 * 3600.0,
        start + 24.0 * 86_400.0 + 9.0 * 3600.0 + 600.0,
    );
    let base: Vec<f64> = (0..=28 * DAY)
        .map(|i| {
            let t = start + i as f64 * STEP;
            let phase = (t % 86_400.0) / 86_400.0 - 0.25;
            1000.0 + 300.0 * (2.0 * std::f64::consts::PI * phase).sin() + 15.0 * gauss(i, 9)
        })
        .collect();
    let api: Vec<f64> = base
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let t = start + i as f64 * STEP;
            if t == spike {
                1.3e9
            } else if (dip.0..=dip.1).contains(&t) {
                0.0
            } else {
                v
            }
        })
        .collect();
    let horizon = 90 * DAY;
    let settings = Settings::default();
    let api = forecast(&ending_now(api), horizon, &settings).expect("api");
    let control = forecast(&ending_now(base), horizon, &settings).expect("control");
    for (name, fc) in [("api", &api), ("control", &control)] {
        assert_eq!(
            exhaustion(fc, 2000.0, Direction::Above),
            Exhaustion::default(),
            "{name}"
        );
        assert_eq!(
            fc.diagnostics.periods_secs.first(),
            Some(&86_400.0),
            "{name} keeps its day"
        );
    }
    let peak = |fc: &Forecast| fc.mean.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let ratio = peak(&api) / peak(&control);
    assert!((0.9..=1.1).contains(&ratio), "peak ratio {ratio}");
    assert!(peak(&api) > 1200.0, "the daily peak is forecast: {}", peak(&api));
    for (what, a, c) in [
        ("upper 95", last(upper95(&api)), last(upper95(&control))),
        ("lower 95", last(lower95(&api)), last(lower95(&control))),
    ] {
        let ratio = a / c;
        assert!((0.8..=1.25).contains(&ratio), "{what} at the horizon: {a} vs {c}");
    }
}

/// 12-level-shift-forecast: series that jumped to a new level and hold it, 5-minute steps,
/// forecast 30 days (8,640 steps) by `headroom forecast`: at the new level (±10 %) at +5 min
/// and +30 d, with a 95 % band that contains it (1 % slack) and, for the noisy one, stays
/// within 0 and twice the level.
#[test]
fn a_level_shift_is_forecast_at_the_new_level() {
    let three_days = 3 * DAY + 1;
    let after = |i: usize, points: usize| i + DAY >= points - 1;
    let cases: Vec<(&str, Vec<f64>, f64)> = vec![
        (
            "from100",
            (0..three_days)
                .map(|i| if after(i, three_days) { 200.0 } else { 100.0 })
                .collect(),
            200.0,
        ),
        (
            "from0",
            (0..three_days)
                .map(|i| if after(i, three_days) { 1e6 } else { 0.0 })
                .collect(),
            1e6,
        ),
        (
            "from0_noisy",
            (0..three_days)
                .map(|i| if after(i, three_days) { 1e6 } else { 0.0 } + 1000.0 * gauss(i, 5))
                .collect(),
            1e6,
        ),
        (
            "from0_28d",
            (0..=28 * DAY)
                .map(|i| if after(i, 28 * DAY + 1) { 1e6 } else { 0.0 })
                .collect(),
            1e6,
        ),
    ];
    for (name, values, level) in cases {
        let fc = forecast(&ending_now(values), 8640, &offline_settings()).expect("forecast");
        for step in [0, 8639] {
            let yhat = fc.mean[step];
            assert!((yhat - level).abs() <= 0.1 * level, "{name} step {}: {yhat}", step + 1);
        }
        let (lo, hi) = (last(lower95(&fc)), last(upper95(&fc)));
        assert!(lo <= 1.01 * level && hi >= 0.99 * level, "{name}: [{lo}, {hi}]");
        if name == "from0_noisy" {
            assert!(lo >= 0.0 && hi <= 2.0 * level, "{name}: [{lo}, {hi}]");
        }
        if name == "from0_28d" {
            let (lo, hi) = (lower95(&fc)[0], upper95(&fc)[0]);
            assert!(lo <= 1.01 * level && hi >= 0.99 * level, "{name} step 1: [{lo}, {hi}]");
        }
    }
}

/// 12-dst-daily-peak: hourly, 2026-03-15 to 2026-04-05, peaking at 09:00 Paris time every day
/// (08:00 UTC before the change of 2026-03-29, 07:00 UTC after). In the clock the timestamps'
/// offsets give (as `headroom forecast` reads them), or in the named zone, both forecast days
/// peak at 07:00 UTC.
#[test]
fn a_daily_peak_keeps_its_local_hour_across_daylight_saving() {
    let start = 1_773_532_800.0; // 2026-03-15T00:00:00Z
    let change = 1_774_746_000.0; // 2026-03-29T01:00:00Z
    let hours = 21 * 24;
    let offset = |t: f64| if t >= change { 7200 } else { 3600 };
    let values: Vec<f64> = (0..hours)
        .map(|h| {
            let t = start + h as f64 * 3600.0;
            let local_hour = ((t + f64::from(offset(t))) / 3600.0).rem_euclid(24.0);
            100.0 + 80.0 * (-(local_hour - 9.0).powi(2) / 4.0).exp()
        })
        .collect();
    let grid = Grid {
        start,
        step: 3600.0,
        values,
    };
    let observed = LocalClock::observed(
        (0..hours)
            .map(|h| {
                let t = start + h as f64 * 3600.0;
                (t, offset(t))
            })
            .collect(),
    );
    let zone = LocalClock::from_iana("Europe/Paris").expect("zone");
    for clock in [observed, zone] {
        let settings = Settings {
            clock: clock.clone(),
            ..offline_settings()
        };
        let fc = forecast(&grid, 48, &settings).expect("forecast");
        for day in 0..2 {
            let window = day * 24..(day + 1) * 24;
            let peak = window
                .max_by(|&a, &b| fc.mean[a].total_cmp(&fc.mean[b]))
                .expect("a peak");
            let hour = (fc.timestamp(peak) / 3600.0).rem_euclid(24.0);
            assert_eq!(hour, 7.0, "day {day} with {clock:?}");
        }
    }
}

/// 01-sawtooth-guard: two 100 GB log filesystems fill 2 GB a day and are rotated at 03:00 UTC.
/// `flat` loses all of it at each rotation: no exhaustion. `leaky` keeps 0.6 GB a day: it
/// first reaches 90 GB 35.92 days from now; likely within ±10 %, earliest between 17.97 and
/// 39.52 days.
#[test]
fn a_log_rotation_sawtooth_keeps_its_dates() {
    const GB: f64 = 1e9;
    let start = NOW - 28.0 * 86_400.0;
    let rotation = 3.0 * 3600.0;
    let first = ((start - rotation) / 86_400.0).floor() * 86_400.0 + rotation;
    let used = |leaky: bool, t: f64| {
        let days = (t - first) / 86_400.0;
        let (whole, part) = (days.floor(), days - days.floor());
        if leaky {
            50.0 * GB + 0.6 * GB * whole + 2.0 * GB * part
        } else {
            60.0 * GB + 2.0 * GB * part
        }
    };
    for (leaky, seed) in [(false, 1), (true, 2)] {
        let values = (0..=28 * DAY)
            .map(|i| used(leaky, start + i as f64 * STEP) + 0.02 * GB * gauss(i, seed))
            .collect();
        let fc = forecast(&ending_now(values), 60 * DAY, &Settings::default()).expect("forecast");
        let x = exhaustion(&fc, 90.0 * GB, Direction::Above);
        if leaky {
            let likely = days_from_now(x.likely).expect("likely");
            let earliest = days_from_now(x.earliest).expect("earliest");
            assert!((32.34..=39.52).contains(&likely), "likely {likely} d");
            assert!((17.97..=39.52).contains(&earliest), "earliest {earliest} d");
        } else {
            assert_eq!(x, Exhaustion::default(), "flat: {:?}", fc.diagnostics);
        }
    }
}
