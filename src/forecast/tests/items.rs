//! One test per behaviour the engine promises about the shapes real series take, each on an
//! input of its own (other levels, steps, noise, zones than the field cases).

use super::shapes::{gauss, hump, uniform};
use crate::forecast::{Forecast, Grid, LocalClock, Method, SeasonalMode, Settings, forecast};
use crate::model::Direction;
use crate::recommend::exhaustion::exhaustion;

const NOW: f64 = 1_790_000_000.0;

fn grid(step: f64, values: Vec<f64>) -> Grid {
    Grid {
        start: NOW - (values.len() - 1) as f64 * step,
        step,
        values,
    }
}

/// Days from the end of the history to the first index at or past `n` where `truth` reaches
/// `threshold`.
fn true_crossing_days(truth: impl Fn(usize) -> f64, n: usize, step: f64, threshold: f64) -> f64 {
    let i = (n..n + 1_000_000)
        .find(|&i| truth(i) >= threshold)
        .expect("the truth crosses");
    (i - (n - 1)) as f64 * step / 86_400.0
}

fn likely_days(fc: &Forecast, threshold: f64) -> f64 {
    let likely = exhaustion(fc, threshold, Direction::Above)
        .likely
        .expect("a likely crossing");
    (likely - fc.last_timestamp) / 86_400.0
}

fn band_half_width(fc: &Forecast, level: f64, h: usize) -> f64 {
    let band = fc.band(level).expect("band");
    (band.upper[h] - band.lower[h]) / 2.0
}

/// Item 1. A pool's connections follow a daily cycle around 60 and dropped to 45 four days ago
/// (10-minute steps, noise): the forecast holds the new level, with no growth, and its 95 %
/// band at the horizon carries the risk of another shift without spanning several.
#[test]
fn a_shift_in_a_noisy_seasonal_gauge_is_a_level() {
    let step = 600.0;
    let day = 144;
    let n = 21 * day;
    let truth = |i: usize| {
        let level = if i >= n - 4 * day { 45.0 } else { 60.0 };
        level + 8.0 * hump(i, day, 15.0, 3.0)
    };
    let values = (0..n).map(|i| truth(i) + 1.5 * gauss(i, 61)).collect();
    let fc = forecast(&grid(step, values), 45 * day, &Settings::default()).expect("forecast");
    assert!(fc.diagnostics.method.is_flat(), "{:?}", fc.diagnostics.method);
    assert_eq!(fc.diagnostics.trend_per_day, 0.0);
    let last_day = &fc.mean[fc.mean.len() - day..];
    let mean_level = last_day.iter().sum::<f64>() / day as f64
        - 8.0 * (0..day).map(|i| hump(i, day, 15.0, 3.0)).sum::<f64>() / day as f64;
    assert!((mean_level - 45.0).abs() < 2.0, "level at +45 d: {mean_level}");
    // Half a step of shift risk at least, and less than two steps.
    let width = band_half_width(&fc, 0.95, fc.mean.len() - 1);
    assert!(width > 7.5 && width < 30.0, "95 % half-width at +45 d: {width}");
}

/// Item 1. Replicas went 3 → 6 → 4, exactly, and have held 4 for two days (2-minute steps):
/// the forecast is exactly 4 throughout, and its band widens from almost nothing to a share
/// of a typical step (never zero width at the horizon, never a whole step).
#[test]
fn a_constant_regime_stays_constant_and_its_band_does_not_collapse() {
    let step = 120.0;
    let day = 720;
    let n = 20 * day;
    let values = (0..n)
        .map(|i| match i {
            i if i < 10 * day => 3.0,
            i if i < 18 * day => 6.0,
            _ => 4.0,
        })
        .collect();
    let fc = forecast(&grid(step, values), 30 * day, &Settings::default()).expect("forecast");
    assert!(fc.mean.iter().all(|&m| (m - 4.0).abs() < 1e-9), "{:?}", fc.diagnostics);
    let at_end = band_half_width(&fc, 0.95, fc.mean.len() - 1);
    assert!(at_end > 0.1 && at_end < 2.5, "95 % half-width at +30 d: {at_end}");
    assert!(band_half_width(&fc, 0.95, 0) < 0.01);
    assert!(band_half_width(&fc, 0.8, fc.mean.len() - 1) < at_end);
}

/// The used bytes of a 500 GB disk that grew 3 GB a day, was cleaned four days ago from about
/// 372 GB down to 250 GB, and has refilled since at 2.2 GB a day with a business-day swing.
fn cleaned_disk(i: usize, n: usize) -> f64 {
    let day = 288;
    let cleanup = n - 4 * day;
    let days = i as f64 / day as f64;
    let base = if i < cleanup {
        300.0 + 3.0 * days
    } else {
        250.0 + 2.2 * (i - cleanup) as f64 / day as f64
    };
    base + 3.0 * hump(i, day, 14.0, 3.0)
}

/// Item 2 (and the "done when"): a disk cleaned and refilling at a steady slope gets
/// the post-cleanup crossing date within ±10 %, and says the growth it forecasts.
#[test]
fn a_disk_cleaned_and_refilling_gets_its_crossing_date_within_ten_percent() {
    let step = 300.0;
    let n = 28 * 288;
    let values = (0..n).map(|i| cleaned_disk(i, n) + 0.3 * gauss(i, 62)).collect();
    let fc = forecast(&grid(step, values), 120 * 288, &Settings::default()).expect("forecast");
    let threshold = 450.0;
    let truth = true_crossing_days(|i| cleaned_disk(i, n), n, step, threshold);
    let likely = likely_days(&fc, threshold);
    assert!(
        (likely - truth).abs() <= 0.1 * truth,
        "likely in {likely:.1} d, truly {truth:.1} d ({:?})",
        fc.diagnostics
    );
    assert!(!fc.diagnostics.method.is_flat(), "{:?}", fc.diagnostics.method);
    assert!(
        (fc.diagnostics.trend_per_day - 2.2).abs() < 0.22,
        "{}",
        fc.diagnostics.trend_per_day
    );
    let cleanup = NOW - 4.0 * 86_400.0;
    let regime_start = fc.diagnostics.regime_start.expect("the cleanup is a change");
    assert!((regime_start - cleanup).abs() <= 6.0 * 3600.0);
}

/// Item 2: what the justification states as growth (`trend_per_day`) is the growth the
/// forecast itself has, day over day, whatever the method.
#[test]
fn the_stated_growth_is_the_growth_forecast() {
    let day = 288;
    let n = 28 * day;
    let shapes: Vec<Vec<f64>> = vec![
        (0..n).map(|i| cleaned_disk(i, n) + 0.3 * gauss(i, 63)).collect(),
        (0..n).map(|i| if i < n - 3 * day { 20.0 } else { 31.0 }).collect(),
        (0..n)
            .map(|i| 70.0 - 0.4 * i as f64 / day as f64 + 5.0 * hump(i, day, 10.0, 2.0) + gauss(i, 64))
            .collect(),
        (0..n)
            .map(|i| 50.0 + 10.0 * hump(i, day, 20.0, 4.0) + 2.0 * gauss(i, 65))
            .collect(),
    ];
    for values in shapes {
        let fc = forecast(&grid(300.0, values), 20 * day, &Settings::default()).expect("forecast");
        let day_mean = |d: usize| fc.mean[d * day..(d + 1) * day].iter().sum::<f64>() / day as f64;
        let forecast_per_day = (day_mean(19) - day_mean(0)) / 19.0;
        let stated = fc.diagnostics.trend_per_day;
        let tolerance = 0.05 * stated.abs().max(forecast_per_day.abs()) + 1e-6;
        assert!(
            (stated - forecast_per_day).abs() <= tolerance,
            "stated {stated}, forecast {forecast_per_day} ({:?})",
            fc.diagnostics.method
        );
    }
}

/// Item 3. A cache node's memory follows its day and week; one copy of it has a 1e12 spike,
/// fifteen minutes at zero and a twenty-minute burst three hours before the end. Both get the
/// same seasons, the same method, no regime change, the same peak and the same bands.
#[test]
fn glitches_neither_remove_a_season_nor_start_a_regime_nor_widen_the_bands() {
    let day = 288;
    let n = 35 * day;
    let clean: Vec<f64> = (0..n)
        .map(|i| {
            let weekday = if (i / day) % 7 < 5 { 1.0 } else { 0.6 };
            40.0 + 20.0 * weekday * hump(i, day, 11.0, 3.0) + 0.8 * gauss(i, 66)
        })
        .collect();
    let mut glitched = clean.clone();
    glitched[12 * day + 100] = 1e12;
    for v in &mut glitched[27 * day + 30..27 * day + 33] {
        *v = 0.0;
    }
    for v in &mut glitched[n - 36..n - 32] {
        *v *= 1.5;
    }
    let settings = Settings::default();
    let a = forecast(&grid(300.0, glitched), 30 * day, &settings).expect("glitched");
    let b = forecast(&grid(300.0, clean), 30 * day, &settings).expect("clean");
    assert_eq!(a.diagnostics.periods_secs, b.diagnostics.periods_secs);
    assert_eq!(a.diagnostics.periods_secs, vec![86_400.0, 604_800.0]);
    assert_eq!(a.diagnostics.regime_start, None);
    assert_eq!(a.diagnostics.method, b.diagnostics.method);
    let peak = |fc: &Forecast| fc.mean.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    assert!((peak(&a) / peak(&b) - 1.0).abs() < 0.05, "{} vs {}", peak(&a), peak(&b));
    for level in [0.8, 0.95] {
        let (wa, wb) = (
            band_half_width(&a, level, 30 * day - 1),
            band_half_width(&b, level, 30 * day - 1),
        );
        assert!((wa / wb - 1.0).abs() < 0.1, "{level}: {wa} vs {wb}");
    }
}

/// Item 3. A 400 GB disk grows 0.5 % a day; a 25-minute burst of writes two hours before
/// the end comes straight back. The growth stays 2 GB a day, with no new regime.
#[test]
fn a_burst_in_the_last_hours_is_not_a_new_regime() {
    let day = 288;
    let n = 21 * day;
    let truth = |i: usize| 150.0 + 2.0 * i as f64 / day as f64;
    let values = (0..n)
        .map(|i| truth(i) + 0.2 * gauss(i, 74) + if (n - 29..n - 24).contains(&i) { 35.0 } else { 0.0 })
        .collect();
    let fc = forecast(&grid(300.0, values), 60 * day, &Settings::default()).expect("forecast");
    assert_eq!(fc.diagnostics.regime_start, None);
    assert!((fc.diagnostics.trend_per_day - 2.0).abs() < 0.1, "{:?}", fc.diagnostics);
    let at_horizon = fc.mean[60 * day - 1];
    assert!((at_horizon - truth(n + 60 * day - 1)).abs() < 3.0, "{at_horizon}");
}

/// Item 4. Retention filling toward its steady state (30-minute steps): the growth slows, so
/// the crossing is where the curve crosses, not where a line through the last days would.
#[test]
fn a_fill_that_slows_toward_a_plateau_is_not_forecast_as_a_line() {
    let step = 1800.0;
    let day = 48;
    let n = 28 * day;
    let truth =
        |i: usize| 80.0 + 300.0 * (1.0 - (-(i as f64) / (25.0 * day as f64)).exp()) + 4.0 * hump(i, day, 3.0, 2.0);
    let values = (0..n).map(|i| truth(i) + 2.5 * gauss(i, 67)).collect();
    let fc = forecast(&grid(step, values), 120 * day, &Settings::default()).expect("forecast");
    let threshold = 345.0;
    let true_days = true_crossing_days(truth, n, step, threshold);
    let likely = likely_days(&fc, threshold);
    assert_eq!(fc.diagnostics.method, Method::SaturatingTrend);
    assert!(
        (likely - true_days).abs() <= 0.15 * true_days,
        "likely {likely:.1} d, truly {true_days:.1} d"
    );
}

/// Item 4. A report job's daily peak grows 4 % a week while the mean stays flat (10-minute
/// steps): the forecast follows the peaks, and crosses when they do.
#[test]
fn a_daily_peak_that_grows_on_its_own_is_forecast_at_its_peaks() {
    let step = 600.0;
    let day = 144;
    let n = 28 * day;
    let truth = |i: usize| {
        let size = 40.0 * 1.04f64.powf(i as f64 / (7 * day) as f64);
        let shape = hump(i, day, 11.0, 1.0);
        // The hump's daily mean, so that the mean of every day is 200.
        200.0 + size * (shape - 0.1044)
    };
    let values = (0..n).map(|i| truth(i) + 1.0 * gauss(i, 68)).collect();
    let fc = forecast(&grid(step, values), 90 * day, &Settings::default()).expect("forecast");
    assert_eq!(fc.diagnostics.seasonal_mode, SeasonalMode::Growing);
    let threshold = 265.0;
    let true_days = true_crossing_days(truth, n, step, threshold);
    let likely = likely_days(&fc, threshold);
    assert!(
        (likely - true_days).abs() <= 0.15 * true_days,
        "likely {likely:.1} d, truly {true_days:.1} d"
    );
}

/// Item 4. A constant 25-unit afternoon hump on a base growing 0.5 a day, its limit about 100
/// days away: the pattern is additive, and the pessimistic date is weeks away, not hours.
#[test]
fn a_constant_hump_on_a_growing_base_stays_additive_and_its_earliest_date_honest() {
    let day = 288;
    let n = 28 * day;
    let truth = |i: usize| 60.0 + 0.5 * i as f64 / day as f64 + 25.0 * hump(i, day, 14.0, 2.5);
    let values = (0..n).map(|i| truth(i) + gauss(i, 69)).collect();
    let fc = forecast(&grid(300.0, values), 150 * day, &Settings::default()).expect("forecast");
    assert_eq!(fc.diagnostics.seasonal_mode, SeasonalMode::Additive);
    let threshold = 150.0;
    let true_days = true_crossing_days(truth, n, 300.0, threshold);
    let likely = likely_days(&fc, threshold);
    assert!(
        (likely - true_days).abs() <= 0.1 * true_days,
        "likely {likely:.1} d, truly {true_days:.1} d"
    );
    let earliest = exhaustion(&fc, threshold, Direction::Above).earliest.expect("earliest");
    let earliest_days = (earliest - fc.last_timestamp) / 86_400.0;
    assert!(
        earliest_days >= 0.7 * true_days,
        "earliest in {earliest_days:.1} d, truly {true_days:.1} d"
    );
}

/// Item 4. Requests to a service that grows 4 % a week, its daily swing growing with it
/// (15-minute steps): multiplicative, compounding, and the crossing where the truth's is.
#[test]
fn a_swing_that_grows_with_the_level_is_multiplicative() {
    let step = 900.0;
    let day = 96;
    let n = 28 * day;
    let truth = |i: usize| {
        let level = 800.0 * 1.04f64.powf(i as f64 / (7 * day) as f64);
        level * (1.0 + 0.35 * hump(i, day, 19.0, 3.0) - 0.1)
    };
    let values = (0..n).map(|i| truth(i) * (1.0 + 0.01 * gauss(i, 73))).collect();
    let fc = forecast(&grid(step, values), 120 * day, &Settings::default()).expect("forecast");
    assert_eq!(fc.diagnostics.seasonal_mode, SeasonalMode::Multiplicative);
    let threshold = 1500.0;
    let true_days = true_crossing_days(truth, n, step, threshold);
    let likely = likely_days(&fc, threshold);
    assert!(
        (likely - true_days).abs() <= 0.1 * true_days,
        "likely {likely:.1} d, truly {true_days:.1} d ({:?})",
        fc.diagnostics.method
    );
}

/// Item 5. A New York evening peak (18:00 local) forecast across the autumn change: the
/// history ends on 2026-10-30 in summer time, the week ahead crosses 2026-11-01. In the zone's
/// clock the peak moves from 22:00 to 23:00 UTC on the change; the default clock is UTC, where
/// it stays at 22:00.
#[test]
fn a_forecast_across_a_clock_change_moves_its_peak_with_the_zone() {
    let zone = LocalClock::from_iana("America/New_York").expect("zone");
    let step = 900.0;
    let day = 96;
    let end = 1_793_376_000.0; // 2026-10-30T16:00:00Z
    let n = 21 * day;
    let start = end - (n - 1) as f64 * step;
    let values = (0..n)
        .map(|i| {
            let t = start + i as f64 * step;
            let local_hour = (zone.local(t) / 3600.0).rem_euclid(24.0);
            let d = (local_hour - 18.0).abs().min(24.0 - (local_hour - 18.0).abs());
            300.0 + 100.0 * (-d * d / 2.0).exp() + 3.0 * uniform(i, 70)
        })
        .collect::<Vec<f64>>();
    let grid = Grid { start, step, values };
    assert_eq!(Settings::default().clock, LocalClock::Utc);
    // The UTC days 2026-10-31, 2026-11-02 and 2026-11-03 (the change is on 2026-11-01).
    let days = [1_793_404_800.0, 1_793_577_600.0, 1_793_664_000.0];
    for (clock, hours) in [(zone.clone(), [22.0, 23.0, 23.0]), (LocalClock::Utc, [22.0; 3])] {
        let settings = Settings {
            clock,
            ..Settings::default()
        };
        let fc = forecast(&grid, 6 * day, &settings).expect("forecast");
        for (utc_day, hour) in days.iter().zip(hours) {
            let peak = (0..fc.mean.len())
                .filter(|&h| (0.0..86_400.0).contains(&(fc.timestamp(h) - utc_day)))
                .max_by(|&a, &b| fc.mean[a].total_cmp(&fc.mean[b]))
                .expect("a peak");
            let at = (fc.timestamp(peak) / 3600.0).rem_euclid(24.0).floor();
            assert_eq!(at, hour, "UTC day {utc_day} with {:?}", settings.clock);
        }
    }
}

/// Item 6. Bytes written by a batch service: a counter that only grows, fast in business hours
/// on weekdays, slowly otherwise. One day ahead, its increments' forecast beats a straight
/// line through the last 24 hours by far; its band widens with the horizon and holds the truth.
#[test]
fn a_counter_is_forecast_by_its_increments() {
    let day = 288;
    let n = 28 * day;
    let rate = |i: usize| {
        let weekday = (i / day) % 7 < 5;
        0.05 + if weekday {
            4.0 * hump(i, day, 13.0, 2.5)
        } else {
            0.2 * hump(i, day, 13.0, 2.5)
        }
    };
    let mut total = 5_000.0;
    let series: Vec<f64> = (0..n + day)
        .map(|i| {
            total += rate(i) * (1.0 + 0.4 * uniform(i, 71));
            total
        })
        .collect();
    let fc = forecast(&grid(300.0, series[..n].to_vec()), day, &Settings::default()).expect("forecast");
    assert!(
        matches!(
            fc.diagnostics.method,
            Method::RecentIncrements | Method::SeasonalIncrements
        ),
        "{:?}",
        fc.diagnostics.method
    );
    let mae = (0..day).map(|h| (fc.mean[h] - series[n + h]).abs()).sum::<f64>() / day as f64;
    let slope = (series[n - 1] - series[n - 1 - day]) / day as f64;
    let line = (0..day)
        .map(|h| (series[n - 1] + slope * (h + 1) as f64 - series[n + h]).abs())
        .sum::<f64>()
        / day as f64;
    assert!(mae * 2.0 < line, "increments {mae:.3}, 24-hour line {line:.3}");
    let widths: Vec<f64> = [11, 95, 287].iter().map(|&h| band_half_width(&fc, 0.95, h)).collect();
    assert!(
        widths[0] > 0.0 && widths[0] < widths[1] && widths[1] < widths[2],
        "{widths:?}"
    );
    let band = fc.band(0.95).expect("band");
    assert!(band.lower[day - 1] <= series[n + day - 1] && series[n + day - 1] <= band.upper[day - 1]);
}

/// Item 7. The speed comes from learning the seasonal pattern once per backtest rather than at
/// every origin; the intervals must still be calibrated: on a weekly and daily series with a
/// trend and noise, the next week falls inside the 80 % and 95 % bands about that often.
#[test]
fn one_pattern_for_every_backtest_origin_still_gives_calibrated_bands() {
    let day = 288;
    let n = 28 * day;
    let truth = |i: usize| {
        let weekday = if (i / day) % 7 < 5 { 1.0 } else { 0.7 };
        500.0 + 0.5 * i as f64 / day as f64 + 60.0 * weekday * hump(i, day, 16.0, 4.0)
    };
    let values: Vec<f64> = (0..n + 7 * day).map(|i| truth(i) + 6.0 * gauss(i, 72)).collect();
    let fc = forecast(&grid(300.0, values[..n].to_vec()), 7 * day, &Settings::default()).expect("forecast");
    for band in &fc.bands {
        let inside = (0..7 * day)
            .filter(|&h| band.lower[h] <= values[n + h] && values[n + h] <= band.upper[h])
            .count() as f64
            / (7 * day) as f64;
        assert!((inside - band.level).abs() < 0.1, "{}: {inside}", band.level);
    }
}

/// Item 8. Every method and seasonal mode that can appear in output is documented, with when
/// it is chosen.
#[test]
fn every_method_name_is_documented() {
    let doc = include_str!("../../../docs/forecasting.md");
    // The rows of the table under "## Methods" (after its header): exactly the names the
    // engine can emit.
    let section = doc.split("\n## Methods\n").nth(1).expect("a Methods section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let documented: std::collections::BTreeSet<&str> = section
        .lines()
        .filter(|line| line.starts_with('|'))
        .skip(2)
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split('`').next())
        .collect();
    let emitted: std::collections::BTreeSet<&str> = Method::ALL.iter().map(|m| m.name()).collect();
    assert_eq!(documented, emitted, "the Methods table of docs/forecasting.md");
    for mode in ["additive", "multiplicative", "growing"] {
        assert!(
            doc.contains(&format!("`{mode}`")),
            "{mode} is not in docs/forecasting.md"
        );
    }
}

/// Item 3. A process that leaks 0.3 GB an hour and is restarted every week (a weekly
/// sawtooth from 25 to 75 GB) is not a new regime that grows after each restart: at any day
/// of the week, neither the expected path nor the 95 % bound reaches 90 GB within a week.
#[test]
fn a_weekly_restart_sawtooth_is_not_growth_after_each_restart() {
    let step = 3600.0;
    let week = 168;
    for (offset, noise) in [(0, 0.2), (30, 0.0), (70, 0.2), (120, 0.0), (160, 0.2)] {
        let n = 28 * 24 + offset;
        let values: Vec<f64> = (0..n)
            .map(|i| 25.0 + 0.3 * ((i + week - offset % week) % week) as f64 + noise * gauss(i, 5))
            .collect();
        let fc = forecast(&grid(step, values), week, &Settings::default()).expect("forecast");
        let crossing = exhaustion(&fc, 90.0, Direction::Above);
        assert!(
            crossing.likely.is_none() && crossing.earliest.is_none(),
            "offset {offset}: {:?} {:?}",
            fc.diagnostics.method,
            fc.diagnostics
        );
    }
}
