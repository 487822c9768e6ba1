//! Rolling-origin backtests: choosing a method and calibrating its intervals.
//!
//! The series is cut at several origins inside its own history; every candidate forecasts
//! from each origin and is scored against what happened next. The best candidate wins, and its
//! errors, by horizon, become the interval widths: a split-conformal scheme, so an 80 % band
//! is as wide as 80 % of the method's own past errors on this very series, not a textbook
//! formula that assumes Gaussian white noise.

use std::borrow::Cow;

use super::methods::{Damping, Method, Prepared, predict};
use super::outliers::Excursion;
use super::seasonal::{Decomposition, ModeChoice, SeasonalMode, decompose};

/// Errors of one method at each horizon step, one row per origin.
#[derive(Clone, Debug, Default)]
pub struct BacktestErrors {
    /// `rows[o][h]` = actual − forecast at step `h + 1` from origin `o`.
    pub rows: Vec<Vec<f64>>,
}

impl BacktestErrors {
    /// Mean absolute error over all origins and steps.
    pub fn mean_absolute(&self) -> f64 {
        let (sum, count) = self
            .rows
            .iter()
            .flatten()
            .fold((0.0, 0usize), |(s, c), e| (s + e.abs(), c + 1));
        if count == 0 { f64::INFINITY } else { sum / count as f64 }
    }

    /// Number of horizon steps each row covers.
    pub fn horizon(&self) -> usize {
        self.rows.iter().map(Vec::len).min().unwrap_or(0)
    }
}

/// Where to cut a history of `n` points for a backtest of `horizon` steps, with every origin
/// inside the current regime (which starts at `regime_start`) after at least `min_train`
/// points of it: history from before a level shift says nothing about which method forecasts
/// the series as it is now. When the regime is short, the backtest horizon shrinks to fit;
/// when it is too short for any origin, the origins fall back to the whole history.
/// Returns the backtest horizon and the cut points (most recent first).
pub fn origins(n: usize, horizon: usize, count: usize, regime_start: usize, min_train: usize) -> (usize, Vec<usize>) {
    let count = count.max(1);
    let first_allowed = (regime_start + min_train).max(n / 2).max(8);
    let available = n.saturating_sub(first_allowed);
    if available >= 8 {
        let backtest_horizon = horizon.min(n / 4).min(available / 2).max(1);
        let room = available - backtest_horizon;
        let spacing = if count > 1 {
            (room / (count - 1)).clamp(1, backtest_horizon)
        } else {
            1
        };
        let cuts: Vec<usize> = (0..count)
            .map_while(|k| n.checked_sub(backtest_horizon + k * spacing))
            .filter(|&cut| cut >= first_allowed)
            .collect();
        if !cuts.is_empty() {
            return (backtest_horizon, cuts);
        }
    }
    let backtest_horizon = horizon.min(n / 4).max(1);
    let spacing = backtest_horizon.min(n / (4 * count)).max(1);
    let cuts = (0..count)
        .map_while(|k| n.checked_sub(backtest_horizon + k * spacing))
        .filter(|&cut| cut >= n / 2 && cut >= 8)
        .collect();
    (backtest_horizon, cuts)
}

/// What the engine decided about a series once, before comparing methods on it.
#[derive(Clone, Debug, PartialEq)]
pub struct Shape {
    /// Seasonal periods in grid steps, ascending.
    pub periods: Vec<usize>,
    /// How the seasonal pattern combines with the level.
    pub mode: ModeChoice,
    /// Where level shifts split the trend (ascending grid indices).
    pub breaks: Vec<usize>,
    /// The shortest regime worth believing, in grid steps.
    pub min_segment: usize,
    /// Grid steps in a day (at least 1).
    pub steps_per_day: usize,
    /// Where the current regime of the whole history starts.
    pub regime_start: usize,
    /// Where the level last jumped (growth curves are fitted from there).
    pub trend_start: usize,
    /// The damped trend's smoothing parameters, chosen on the whole history.
    pub damping: Option<Damping>,
    /// The excursions taken out of the whole history.
    pub excursions: Vec<Excursion>,
}

/// A decomposition of `values` as `shape` says.
pub fn decompose_as(values: &[f64], shape: &Shape, passes: usize) -> Decomposition {
    let breaks: Vec<usize> = shape.breaks.iter().copied().filter(|&b| b < values.len()).collect();
    match shape.mode.mode {
        SeasonalMode::Growing => decompose(values, &shape.periods, SeasonalMode::Additive, passes, &breaks)
            .with_growth(values, shape.mode.growth, shape.mode.origin),
        mode => decompose(values, &shape.periods, mode, passes, &breaks),
    }
}

/// Backtests every method in `methods` on `values` (glitches already removed).
///
/// The seasonal pattern is learnt once, from the history before the earliest origin, and
/// serves every origin: each origin then only takes its own excursions out (those it would
/// already have seen come back) and fits the methods on the current regime. Later origins use a slightly older pattern than they could: the errors lean
/// pessimistic, never optimistic.
pub fn run(
    values: &[f64],
    shape: &Shape,
    methods: &[Method],
    backtest_horizon: usize,
    cuts: &[usize],
) -> Vec<(Method, BacktestErrors)> {
    let mut results: Vec<(Method, BacktestErrors)> = methods.iter().map(|&m| (m, BacktestErrors::default())).collect();
    let Some(&earliest) = cuts.iter().min() else {
        return results;
    };
    let decomposition = decompose_as(&values[..earliest], shape, 1);
    let deseasonalized = decomposition.deseason_all(values);
    // The excursions found on the whole history are where this one's are too.
    let mut cleaned = deseasonalized.clone();
    for excursion in &shape.excursions {
        excursion.interpolate(&mut cleaned);
    }
    let found = &shape.excursions;
    for &cut in cuts {
        // Excursions this origin would not yet have seen come back are not taken out.
        let mut level_series = Cow::Borrowed(&cleaned[..cut]);
        for excursion in found.iter().filter(|e| e.start < cut && !e.seen_back_by(cut)) {
            let end = excursion.end.min(cut);
            level_series.to_mut()[excursion.start..end].copy_from_slice(&deseasonalized[excursion.start..end]);
        }
        // Every origin lies in the current regime, after its start: that start is where each
        // one's methods fit from.
        let regime_start = shape.regime_start.min(cut.saturating_sub(1));
        let prepared = Prepared {
            values: &values[..cut],
            decomposition: &decomposition,
            level_series,
            regime_start,
            trend_start: shape.trend_start.min(regime_start),
            steps_per_day: shape.steps_per_day.max(1),
            damping: shape.damping,
        };
        let actual = &values[cut..cut + backtest_horizon];
        for (method, errors) in results.iter_mut() {
            let forecast = predict(*method, &prepared, backtest_horizon);
            errors
                .rows
                .push(actual.iter().zip(&forecast).map(|(a, f)| a - f).collect());
        }
    }
    results
}

/// Half-widths of a symmetric interval at each step `1..=horizon`, calibrated on backtest
/// errors so that `level` of them fall inside. Beyond the backtested horizon the width grows
/// as a power of the horizon fitted to the backtest itself (between √h for noise-like errors
/// and h for trend-like errors).
pub fn interval_half_widths(errors: &BacktestErrors, level: f64, horizon: usize) -> Vec<f64> {
    let backtested = errors.horizon();
    if backtested == 0 || horizon == 0 {
        return vec![0.0; horizon];
    }
    // Quantiles are taken at ~50 log-spaced horizons and interpolated in between: one per step
    // would cost O(horizon²). Each pools the errors of nearby horizons (a window of ×1.5 either
    // side, widened until it holds at least MIN_POOL errors), so short horizons are not judged
    // on a handful of numbers; the quantiles are then made non-decreasing by isotonic
    // regression rather than a running maximum, which would ratchet up on noise.
    const MIN_POOL: usize = 30;
    let origins = errors.rows.len();
    let mut grid: Vec<usize> = Vec::new();
    let mut next = 1.0f64;
    while (next as usize) < backtested {
        grid.push(next as usize);
        next = (next * 1.15).max(next + 1.0);
    }
    grid.push(backtested);
    grid.dedup();
    let mut at_grid = Vec::with_capacity(grid.len());
    let mut pool = Vec::new();
    for &h in &grid {
        let mut lo = ((h as f64 / 1.5).ceil() as usize).max(1);
        let mut hi = ((h as f64 * 1.5).floor() as usize).clamp(h, backtested);
        while (hi - lo + 1) * origins < MIN_POOL && (lo > 1 || hi < backtested) {
            lo = lo.saturating_sub(1).max(1);
            hi = (hi + 1).min(backtested);
        }
        pool.clear();
        for row in &errors.rows {
            pool.extend(row[lo - 1..hi].iter().map(|e| e.abs()));
        }
        // Split-conformal finite-sample correction: the ceil((N + 1) q) / N quantile.
        let count = pool.len() as f64;
        let corrected = (((count + 1.0) * level).ceil() / count).min(1.0);
        at_grid.push(quantile(&mut pool, corrected));
    }
    let at_grid = isotonic_non_decreasing(&at_grid);
    let mut widths = Vec::with_capacity(backtested);
    let mut k = 0;
    for h in 1..=backtested {
        while k + 1 < grid.len() && grid[k + 1] <= h {
            k += 1;
        }
        let width = if k + 1 < grid.len() && grid[k] < h {
            let w = (h - grid[k]) as f64 / (grid[k + 1] - grid[k]) as f64;
            at_grid[k] + w * (at_grid[k + 1] - at_grid[k])
        } else {
            at_grid[k]
        };
        widths.push(width);
    }
    let growth = growth_exponent(&widths);
    let last = widths[backtested - 1];
    (1..=horizon)
        .map(|h| {
            if h <= backtested {
                widths[h - 1]
            } else {
                last * (h as f64 / backtested as f64).powf(growth)
            }
        })
        .collect()
}

/// The non-decreasing sequence closest to `values` in least squares (pool adjacent violators).
fn isotonic_non_decreasing(values: &[f64]) -> Vec<f64> {
    // Blocks of (sum, count); merge while a block's mean falls below its predecessor's.
    let mut blocks: Vec<(f64, usize)> = Vec::with_capacity(values.len());
    for &v in values {
        blocks.push((v, 1));
        while blocks.len() > 1 {
            let (s2, c2) = blocks[blocks.len() - 1];
            let (s1, c1) = blocks[blocks.len() - 2];
            if s1 / c1 as f64 <= s2 / c2 as f64 {
                break;
            }
            blocks.pop();
            let last = blocks.len() - 1;
            blocks[last] = (s1 + s2, c1 + c2);
        }
    }
    blocks
        .into_iter()
        .flat_map(|(sum, count)| std::iter::repeat_n(sum / count as f64, count))
        .collect()
}

/// The exponent `g` of `w(h) ∝ h^g` over the second half of the backtested horizon, clamped to
/// [0.5, 1].
fn growth_exponent(widths: &[f64]) -> f64 {
    let n = widths.len();
    let (a, b) = (n / 4, n - 1);
    if n < 8 || widths[a] <= 0.0 || widths[b] <= widths[a] {
        return 0.5;
    }
    let g = (widths[b] / widths[a]).ln() / (((b + 1) as f64) / ((a + 1) as f64)).ln();
    g.clamp(0.5, 1.0)
}

/// The `q` quantile of `values` (reordered), by the nearest rank at or above `q`.
pub fn quantile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1;
    let (_, value, _) = values.select_nth_unstable_by(rank, f64::total_cmp);
    *value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_stay_in_the_second_half() {
        let (h, cuts) = origins(8064, 2016, 4, 0, 288);
        assert_eq!(h, 2016);
        assert_eq!(cuts.len(), 4);
        assert!(cuts.iter().all(|&c| c >= 4032 && c + h <= 8064));
    }

    #[test]
    fn origins_stay_in_a_recent_regime() {
        // A regime of 300 points at the end of 3,750: the backtest shrinks to fit inside it.
        let (h, cuts) = origins(3750, 288, 4, 3450, 36);
        assert!(h <= 132, "{h}");
        assert_eq!(cuts.len(), 4);
        assert!(cuts.iter().all(|&c| c >= 3486 && c + h <= 3750), "{cuts:?}");
    }

    #[test]
    fn isotonic_smoothing_pools_violators() {
        assert_eq!(isotonic_non_decreasing(&[1.0, 3.0, 2.0, 4.0]), vec![1.0, 2.5, 2.5, 4.0]);
        assert_eq!(isotonic_non_decreasing(&[5.0, 1.0]), vec![3.0, 3.0]);
    }

    #[test]
    fn widths_cover_the_requested_share_of_errors() {
        // Errors uniformly spread in [-10, 10] at every step: the 80 % half-width is ~8.
        let rows: Vec<Vec<f64>> = (0..4)
            .map(|o| (0..100).map(|h| ((h * 37 + o * 11) % 21) as f64 - 10.0).collect())
            .collect();
        let widths = interval_half_widths(&BacktestErrors { rows }, 0.8, 200);
        assert!(widths[50] >= 7.0 && widths[50] <= 10.0, "{}", widths[50]);
        assert!(widths[199] >= widths[99]);
    }
}
