//! Counters and cumulative series: forecast the increments, then add them up.
//!
//! Bytes written, requests served, a disk that is never cleaned: such a series only grows, and
//! how fast it grows follows the clock (the business day writes, the night does not). A line
//! through the cumulative values averages that rhythm away, so over the next day it is early
//! in the morning and late in the evening. Its increments, though, are an ordinary seasonal
//! series: their daily and weekly pattern is learnt with the same robust decomposition as any
//! other, their rate is the mean of a recent window, and the forecast is their running sum.
//! The intervals come from the backtest of those running sums, so they widen as the errors
//! of a rate add up.

use super::backtest::{self, BacktestErrors};
use super::methods::Method;
use super::seasonal::{self, Decomposition, SeasonalMode};

/// Share of steps that may go against a counter's direction (a few deletions on a disk that
/// is never cleaned).
const AGAINST: f64 = 0.01;

/// Share of a counter's movement that may go against its direction: deletions on a disk that
/// is never cleaned are small next to what it gains. A series that gives back what it gained
/// (a weekly restart of a leaking process, a log rotation) is a sawtooth, not a counter,
/// however rarely it drops.
const AGAINST_AMOUNT: f64 = 0.1;

/// `Some(1.0)` when `values` only grow (at most 1 % of their steps go down, and by at most a
/// tenth of what they gain), `Some(-1.0)` when they only shrink, `None` otherwise or when
/// they never move.
pub fn direction(values: &[f64]) -> Option<f64> {
    let (mut up, mut down, mut flat) = (0usize, 0usize, 0usize);
    let (mut gained, mut lost) = (0.0f64, 0.0f64);
    for pair in values.windows(2) {
        match pair[1].partial_cmp(&pair[0]) {
            Some(std::cmp::Ordering::Greater) => {
                up += 1;
                gained += pair[1] - pair[0];
            }
            Some(std::cmp::Ordering::Less) => {
                down += 1;
                lost += pair[0] - pair[1];
            }
            _ => flat += 1,
        }
    }
    let steps = (up + down + flat).max(1) as f64;
    if down as f64 / steps <= AGAINST && up > 0 && up as f64 / steps > AGAINST && lost <= AGAINST_AMOUNT * gained {
        Some(1.0)
    } else if up as f64 / steps <= AGAINST
        && down > 0
        && down as f64 / steps > AGAINST
        && gained <= AGAINST_AMOUNT * lost
    {
        Some(-1.0)
    } else {
        None
    }
}

/// A counter's forecast: the chosen rate window, the path, and what the backtest measured.
pub struct CounterForecast {
    pub method: Method,
    pub mean: Vec<f64>,
    pub errors: BacktestErrors,
    /// Seasonal periods of the increments, in grid steps.
    pub periods: Vec<usize>,
    /// Mean growth per grid step over the horizon (in the series' own direction).
    pub growth_per_step: f64,
    /// Peak-to-trough deviation of the cumulative pattern from a straight line over its
    /// longest period.
    pub amplitude: f64,
}

/// The increments' rate windows, in grid steps: the last day, the last week.
fn window(method: Method, steps_per_day: usize) -> usize {
    match method {
        Method::RecentIncrements => steps_per_day,
        _ => 7 * steps_per_day,
    }
}

const METHODS: [Method; 2] = [Method::SeasonalIncrements, Method::RecentIncrements];

/// Forecasts a counter (`sign` from [`direction`]) `horizon` steps ahead.
pub fn forecast(
    values: &[f64],
    sign: f64,
    step_secs: f64,
    horizon: usize,
    backtest_origins: usize,
    steps_per_day: usize,
) -> CounterForecast {
    let n = values.len();
    let growing: Vec<f64> = values.iter().map(|v| sign * v).collect();
    let increments: Vec<f64> = growing.windows(2).map(|w| w[1] - w[0]).collect();
    let candidates = seasonal::candidate_periods(&increments, step_secs);
    let full = seasonal::decompose(&increments, &candidates, SeasonalMode::Additive, 2, &[]);
    let periods = seasonal::select_periods(&increments, &full);
    let decomposition = if periods == candidates {
        full
    } else {
        seasonal::decompose(&increments, &periods, SeasonalMode::Additive, 2, &[])
    };
    let steps_per_day = steps_per_day.max(1);

    let min_train = periods.first().copied().unwrap_or(36);
    let (backtest_horizon, cuts) = backtest::origins(n, horizon, backtest_origins, 0, min_train);
    let mut results: Vec<(Method, BacktestErrors)> = METHODS.iter().map(|&m| (m, BacktestErrors::default())).collect();
    if let Some(&earliest) = cuts.iter().min() {
        // One decomposition at the earliest origin serves every origin: its profiles come
        // from data before all of them.
        let early = seasonal::decompose(&increments[..earliest - 1], &periods, SeasonalMode::Additive, 1, &[]);
        let rates = deseasonalized_prefix_sums(&increments, &early);
        for &cut in &cuts {
            let actual = &growing[cut..cut + backtest_horizon];
            for (method, errors) in results.iter_mut() {
                let rate = mean_rate(&rates, cut - 1, window(*method, steps_per_day));
                let path = add_up(growing[cut - 1], rate, &early, cut - 1, backtest_horizon);
                errors.rows.push(actual.iter().zip(&path).map(|(a, f)| a - f).collect());
            }
        }
    }
    let (method, errors) = results
        .into_iter()
        .min_by(|a, b| a.1.mean_absolute().total_cmp(&b.1.mean_absolute()))
        .unwrap_or((Method::SeasonalIncrements, BacktestErrors::default()));

    let rates = deseasonalized_prefix_sums(&increments, &decomposition);
    let rate = mean_rate(&rates, n - 1, window(method, steps_per_day));
    let path = add_up(growing[n - 1], rate, &decomposition, n - 1, horizon);
    let growth_per_step = (path[horizon - 1] - growing[n - 1]) / horizon as f64;
    CounterForecast {
        method,
        mean: path.iter().map(|v| sign * v).collect(),
        errors,
        amplitude: cumulative_amplitude(&decomposition),
        periods: decomposition.periods,
        growth_per_step,
    }
}

/// Prefix sums of the deseasonalised increments.
fn deseasonalized_prefix_sums(increments: &[f64], decomposition: &Decomposition) -> Vec<f64> {
    let mut sums = Vec::with_capacity(increments.len() + 1);
    sums.push(0.0);
    for (j, &d) in increments.iter().enumerate() {
        sums.push(sums[j] + decomposition.deseason(j, d));
    }
    sums
}

/// The mean deseasonalised increment over the `window` increments before increment `end`.
fn mean_rate(sums: &[f64], end: usize, window: usize) -> f64 {
    let start = end.saturating_sub(window.max(1));
    if end <= start {
        return 0.0;
    }
    (sums[end] - sums[start]) / (end - start) as f64
}

/// The running sum from `last` of `steps` increments at `rate` with their seasonal pattern,
/// the first being increment `first` (never below zero: a counter does not go back).
fn add_up(last: f64, rate: f64, decomposition: &Decomposition, first: usize, steps: usize) -> Vec<f64> {
    let mut total = last;
    (0..steps)
        .map(|h| {
            total += decomposition.reseason(first + h, rate).max(0.0);
            total
        })
        .collect()
}

/// How far the running sum of one longest cycle of the increments' profile strays from a
/// straight line, peak to trough.
fn cumulative_amplitude(decomposition: &Decomposition) -> f64 {
    let Some(&longest) = decomposition.periods.last() else {
        return 0.0;
    };
    let (mut total, mut lo, mut hi) = (0.0, 0.0f64, 0.0f64);
    for j in 0..longest {
        total += decomposition.seasonal_at(j);
        lo = lo.min(total);
        hi = hi.max(total);
    }
    hi - lo
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::testing::noise;

    #[test]
    fn directions() {
        assert_eq!(direction(&[1.0, 2.0, 2.0, 3.0]), Some(1.0));
        assert_eq!(direction(&[3.0, 2.0, 1.0]), Some(-1.0));
        assert_eq!(direction(&[1.0, 2.0, 1.0, 2.0]), None);
        assert_eq!(direction(&[5.0; 10]), None);
    }

    #[test]
    fn a_business_day_counter_grows_in_the_day_and_not_at_night() {
        let day = 96;
        let rate = |i: usize| {
            let hour = (i % day) as f64 / 4.0;
            if (9.0..18.0).contains(&hour) { 10.0 } else { 0.5 }
        };
        let n = 21 * day;
        let mut total = 0.0;
        let values: Vec<f64> = (0..n + day)
            .map(|i| {
                total += rate(i) * (1.0 + 0.3 * noise(i, 51));
                total
            })
            .collect();
        let fc = forecast(&values[..n], 1.0, 900.0, day, 6, day);
        // The next day's growth: almost none overnight, most of it in business hours.
        let night = fc.mean[4 * 4] - values[n - 1];
        let whole = fc.mean[day - 1] - values[n - 1];
        let truth = values[n + day - 1] - values[n - 1];
        assert!(night < 0.1 * whole, "night {night} of {whole}");
        assert!((whole - truth).abs() < 0.1 * truth, "{whole} vs {truth}");
        assert_eq!(fc.periods.first(), Some(&day));
    }
}
