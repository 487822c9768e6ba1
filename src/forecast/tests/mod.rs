//! Forecasts of synthetic series whose truth is known, each checked against that truth with a
//! stated tolerance.

use super::*;
use crate::model::Direction;
use crate::recommend::exhaustion::exhaustion;

mod cases;
mod items;
mod shapes;

use crate::series::Sample;

const STEP: f64 = 300.0;
const DAY: usize = 288;

use super::testing::noise;

fn grid(values: Vec<f64>) -> Grid {
    Grid {
        start: 1_700_000_000.0,
        step: STEP,
        values,
    }
}

fn daily(i: usize) -> f64 {
    (2.0 * std::f64::consts::PI * i as f64 / DAY as f64).sin()
}

fn weekly(i: usize) -> f64 {
    (2.0 * std::f64::consts::PI * i as f64 / (7 * DAY) as f64).sin()
}

fn mean_abs_error(forecast: &[f64], truth: impl Fn(usize) -> f64, offset: usize) -> f64 {
    forecast
        .iter()
        .enumerate()
        .map(|(h, f)| (f - truth(offset + h)).abs())
        .sum::<f64>()
        / forecast.len() as f64
}

#[test]
fn seasonal_series_with_trend_is_followed() {
    let truth = |i: usize| 100.0 + 0.01 * i as f64 + 15.0 * daily(i) + 6.0 * weekly(i);
    let n = 28 * DAY;
    let values = (0..n).map(|i| truth(i) + 2.0 * noise(i, 1)).collect();
    let fc = forecast(&grid(values), 7 * DAY, &Settings::default()).expect("forecast");
    assert_eq!(fc.diagnostics.periods_secs, vec![86_400.0, 7.0 * 86_400.0]);
    // Within 2 units (of a 15-unit daily swing) on average over a week ahead.
    let mae = mean_abs_error(&fc.mean, truth, n);
    assert!(mae < 2.0, "mae {mae}, method {:?}", fc.diagnostics.method);
    assert!(
        (fc.diagnostics.trend_per_day - 0.01 * DAY as f64).abs() < 0.5,
        "trend {}",
        fc.diagnostics.trend_per_day
    );
}

#[test]
fn level_shift_starts_a_new_regime() {
    // +30 at day 24: the forecast must sit at the new level, not average the two.
    let truth = |i: usize| 50.0 + 10.0 * daily(i) + if i >= 24 * DAY { 30.0 } else { 0.0 };
    let n = 28 * DAY;
    let values = (0..n).map(|i| truth(i) + noise(i, 2)).collect();
    let fc = forecast(&grid(values), DAY, &Settings::default()).expect("forecast");
    let regime_start = fc.diagnostics.regime_start.expect("a changepoint");
    let shift_at = 1_700_000_000.0 + (24 * DAY) as f64 * STEP;
    assert!(
        (regime_start - shift_at).abs() <= 6.0 * 3600.0,
        "regime starts {regime_start}, shift at {shift_at}"
    );
    let mae = mean_abs_error(&fc.mean, truth, n);
    assert!(mae < 2.5, "mae {mae}");
}

#[test]
fn incident_spikes_do_not_poison_the_forecast() {
    let truth = |i: usize| 40.0 + 10.0 * daily(i);
    let n = 21 * DAY;
    let values = (0..n)
        .map(|i| {
            let spike = if i % (3 * DAY) == DAY / 3 { 400.0 } else { 0.0 };
            truth(i) + noise(i, 3) + spike
        })
        .collect();
    let fc = forecast(&grid(values), DAY, &Settings::default()).expect("forecast");
    let mae = mean_abs_error(&fc.mean, truth, n);
    assert!(mae < 2.0, "mae {mae}");
}

#[test]
fn gaps_are_survived() {
    let truth = |i: usize| 200.0 + 0.05 * i as f64 + 20.0 * daily(i);
    let n = 14 * DAY;
    let samples: Vec<Sample> = (0..n)
        .filter(|i| !(3 * DAY..4 * DAY).contains(i) && i % 7 != 3) // a whole day missing and scattered misses
        .map(|i| Sample {
            timestamp: 1_700_000_000.0 + i as f64 * STEP,
            value: truth(i) + noise(i, 4),
        })
        .collect();
    let g = Grid::from_samples(&samples, None).expect("grid");
    assert_eq!(g.values.len(), n);
    let fc = forecast(&g, DAY, &Settings::default()).expect("forecast");
    assert!(fc.diagnostics.observed_points < n);
    let mae = mean_abs_error(&fc.mean, truth, n);
    assert!(mae < 3.0, "mae {mae}");
}

#[test]
fn filling_disk_with_daily_cycle_crosses_when_the_truth_does() {
    // Used bytes grow 2 GB a day with a 3 GB daily swing from 20 GB; 100 GB capacity,
    // threshold 90 %: 76 GB at the end of the 28 days of history, 90 GB about 7 days later.
    let truth = |i: usize| 20.0 + 2.0 * i as f64 / DAY as f64 + 1.5 * daily(i);
    let n = 28 * DAY;
    let values = (0..n).map(|i| truth(i) + 0.3 * noise(i, 5)).collect();
    let fc = forecast(&grid(values), 30 * DAY, &Settings::default()).expect("forecast");
    let result = exhaustion(&fc, 90.0, Direction::Above);
    let true_cross = (n..).find(|&i| truth(i) >= 90.0).expect("truth crosses");
    let now = fc.last_timestamp;
    let true_at = 1_700_000_000.0 + true_cross as f64 * STEP;
    let likely = result.likely.expect("likely crossing");
    let error = (likely - true_at).abs() / (true_at - now);
    assert!(error < 0.05, "likely off by {:.1} % of the runway", error * 100.0);
    let earliest = result.earliest.expect("earliest");
    assert!(earliest <= likely);
}

#[test]
fn flat_noisy_cpu_never_crosses() {
    let values = (0..28 * DAY)
        .map(|i| 0.35 + 0.1 * daily(i) + 0.05 * weekly(i) + 0.02 * noise(i, 6))
        .collect();
    let fc = forecast(&grid(values), 30 * DAY, &Settings::default()).expect("forecast");
    let result = exhaustion(&fc, 0.8, Direction::Above);
    assert_eq!(result.likely, None, "method {:?}", fc.diagnostics.method);
    assert_eq!(result.earliest, None);
}

#[test]
fn constant_series_is_constant() {
    let fc = forecast(&grid(vec![5.0; 500]), 10, &Settings::default()).expect("forecast");
    assert_eq!(fc.diagnostics.method, Method::Constant);
    assert!(fc.mean.iter().all(|&v| v == 5.0));
}

#[test]
fn too_short_says_so() {
    let result = forecast(&grid(vec![1.0, 2.0, 3.0, 4.0]), 10, &Settings::default());
    assert!(matches!(
        result,
        Err(NoForecast::InsufficientHistory { observed_points: 4, .. })
    ));
    let empty = Grid {
        start: 0.0,
        step: 60.0,
        values: vec![f64::NAN; 3],
    };
    assert_eq!(forecast(&empty, 10, &Settings::default()), Err(NoForecast::NoData));
}

#[test]
fn intervals_cover_noise_at_roughly_their_level() {
    let truth = |i: usize| 10.0 + 3.0 * daily(i);
    let n = 21 * DAY;
    let values: Vec<f64> = (0..n + DAY).map(|i| truth(i) + 2.0 * noise(i, 7)).collect();
    let fc = forecast(&grid(values[..n].to_vec()), DAY, &Settings::default()).expect("forecast");
    for band in &fc.bands {
        let inside = (0..DAY)
            .filter(|&h| values[n + h] >= band.lower[h] && values[n + h] <= band.upper[h])
            .count();
        let coverage = inside as f64 / DAY as f64;
        assert!(
            (coverage - band.level).abs() < 0.1,
            "level {} coverage {coverage}",
            band.level
        );
    }
}

#[test]
fn summary_keeps_the_horizon_in_a_few_points() {
    let values = (0..2000)
        .map(|i| 100.0 + 0.01 * i as f64 + 3.0 * daily(i) + noise(i, 8))
        .collect();
    let fc = forecast(&grid(values), 5000, &Settings::default()).expect("forecast");
    let summary = fc.summary();
    assert!(
        summary.path.len() <= SUMMARY_POINTS + 1,
        "{} points",
        summary.path.len()
    );
    let end = summary.at_horizon().expect("a path");
    assert_eq!(end.mean, fc.mean[4999]);
    assert_eq!(summary.horizon_end, fc.timestamp(4999));
    assert!(end.lower_95 <= end.lower_80 && end.upper_80 <= end.upper_95);
}

/// A log disk: used space climbs 12 GB through each day and is rotated away at 03:00, on top
/// of 1.5 GB/day of growth. What matters for exhaustion is when a daily peak crosses.
fn sawtooth_used(i: usize) -> f64 {
    let day_fraction = (i % DAY) as f64 / DAY as f64;
    let since_rotation = (day_fraction - 3.0 / 24.0).rem_euclid(1.0);
    90.0 + 1.5 * i as f64 / DAY as f64 + 12.0 * since_rotation
}

#[test]
fn nightly_sawtooth_crosses_at_its_peaks() {
    let n = 28 * DAY;
    let values = (0..n).map(|i| sawtooth_used(i) + 0.2 * noise(i, 9)).collect();
    let fc = forecast(&grid(values), 60 * DAY, &Settings::default()).expect("forecast");
    assert_eq!(fc.diagnostics.periods_secs.first(), Some(&86_400.0));
    let threshold = 180.0;
    let true_cross = (n..).find(|&i| sawtooth_used(i) >= threshold).expect("truth crosses");
    let now = fc.last_timestamp;
    let true_at = 1_700_000_000.0 + true_cross as f64 * STEP;
    let result = exhaustion(&fc, threshold, Direction::Above);
    let likely = result.likely.expect("likely crossing");
    let error = (likely - true_at).abs() / (true_at - now);
    assert!(
        error < 0.10,
        "likely off by {:.1} % of the runway ({:?})",
        error * 100.0,
        fc.diagnostics.method
    );
    // Between the peaks the forecast falls back as the logs are rotated, like the series does.
    let after_rotation = fc.mean[DAY - (n % DAY) + 3 * DAY / 24 + 2];
    let before_rotation = fc.mean[DAY - (n % DAY) + 3 * DAY / 24 - 2];
    assert!(
        before_rotation - after_rotation > 8.0,
        "{before_rotation} -> {after_rotation}"
    );
}

#[test]
fn irregular_cleanups_still_warn_through_the_earliest_estimate() {
    // Cleanups every 2 to 4 days at varying times: no season captures them. The expected path
    // follows the middle of the teeth; the pessimistic bound must reach the peaks' crossing
    // no later than the truth does.
    let n = 28 * DAY;
    let mut resets = vec![0usize];
    while *resets.last().expect("a reset") < n + 60 * DAY {
        let last = *resets.last().expect("a reset");
        resets.push(last + 2 * DAY + (noise(last, 10).abs() * 2.0 * DAY as f64) as usize);
    }
    let used = |i: usize| {
        let since = i - resets.iter().rev().find(|&&r| r <= i).copied().unwrap_or(0);
        100.0 + 1.0 * i as f64 / DAY as f64 + 5.0 * since as f64 / DAY as f64
    };
    let values = (0..n).map(|i| used(i) + 0.2 * noise(i, 11)).collect();
    let fc = forecast(&grid(values), 60 * DAY, &Settings::default()).expect("forecast");
    let threshold = 160.0;
    let true_cross = (n..).find(|&i| used(i) >= threshold).expect("truth crosses");
    let true_at = 1_700_000_000.0 + true_cross as f64 * STEP;
    let earliest = exhaustion(&fc, threshold, Direction::Above)
        .earliest
        .expect("earliest crossing");
    assert!(
        earliest <= true_at,
        "earliest {earliest} after the true peak crossing {true_at}"
    );
}
