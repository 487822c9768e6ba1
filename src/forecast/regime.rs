//! Finding where the current regime of a series begins.
//!
//! A volume migrated to a bigger disk, a service that doubled its replicas, a retention change:
//! after such an event the history before it says little about the future. This module looks
//! for the last point where a piecewise-linear fit beats a single line by more than the noise
//! explains, so trend and level are fitted on the current regime only.
//!
//! Splits are scored in O(1) each from prefix sums, so the scan is O(n). Neighbouring residuals
//! of operations data are strongly correlated, which makes a plain BIC see changepoints
//! everywhere; the penalty therefore uses the effective sample size `n (1 - rho) / (1 + rho)`.

use super::stats;

/// Prefix sums that give the least-squares line of any segment in O(1): for each prefix,
/// the sums of t, t², y, t·y and y².
struct LinearSums {
    sums: Vec<[f64; 5]>,
}

impl LinearSums {
    fn new(values: &[f64]) -> Self {
        let mut sums = Vec::with_capacity(values.len() + 1);
        let mut running = [0.0; 5];
        sums.push(running);
        for (i, &v) in values.iter().enumerate() {
            let x = i as f64;
            running[0] += x;
            running[1] += x * x;
            running[2] += v;
            running[3] += x * v;
            running[4] += v * v;
            sums.push(running);
        }
        LinearSums { sums }
    }

    /// The five sums over `[lo, hi)`.
    fn over(&self, lo: usize, hi: usize) -> [f64; 5] {
        let (a, b) = (&self.sums[lo], &self.sums[hi]);
        [b[0] - a[0], b[1] - a[1], b[2] - a[2], b[3] - a[3], b[4] - a[4]]
    }

    /// The least-squares line over `[lo, hi)`: `(intercept at lo, slope per step)`.
    fn line(&self, lo: usize, hi: usize) -> (f64, f64) {
        let n = (hi - lo) as f64;
        let [st, stt, sy, sty, _] = self.over(lo, hi);
        let var_t = stt - st * st / n;
        let slope = if var_t > 0.0 { (sty - st * sy / n) / var_t } else { 0.0 };
        let mean_t = st / n;
        (sy / n - slope * (mean_t - lo as f64), slope)
    }

    /// Residual sum of squares of the least-squares line over `[lo, hi)`.
    fn sse(&self, lo: usize, hi: usize) -> f64 {
        let n = (hi - lo) as f64;
        let [st, stt, sy, sty, syy] = self.over(lo, hi);
        let var_t = stt - st * st / n;
        let var_y = syy - sy * sy / n;
        if var_t <= 0.0 {
            return var_y.max(0.0);
        }
        let cov = sty - st * sy / n;
        (var_y - cov * cov / var_t).max(0.0)
    }
}

/// The index where the last regime starts (0 when the whole history is one regime).
/// `min_segment` is the shortest regime worth believing, in grid steps.
pub fn last_regime_start(values: &[f64], min_segment: usize) -> usize {
    let n = values.len();
    let min_segment = min_segment.max(8);
    if n < 2 * min_segment {
        return 0;
    }
    let sums = LinearSums::new(values);
    let inflation = inflation(values, &sums, 0, n);
    let mut start = 0;
    while let Some(split) = significant_split(&sums, start, n, min_segment, inflation) {
        start = split;
    }
    start
}

/// Every index where a new regime starts (ascending; empty when the history is one regime):
/// the splits of a binary segmentation, each two lines beating one by more than the
/// autocorrelation-aware penalty. The last one is [`last_regime_start`]'s answer.
pub fn change_points(values: &[f64], min_segment: usize) -> Vec<usize> {
    let n = values.len();
    let min_segment = min_segment.max(8);
    if n < 2 * min_segment {
        return Vec::new();
    }
    let sums = LinearSums::new(values);
    let inflation = inflation(values, &sums, 0, n);
    let mut found = Vec::new();
    let mut pending = vec![(0, n)];
    // At most 16 segments: a series that changes more often than that is noise to this model.
    while let Some((lo, hi)) = pending.pop() {
        if found.len() >= 15 {
            break;
        }
        if let Some(split) = significant_split(&sums, lo, hi, min_segment, inflation) {
            found.push(split);
            pending.push((lo, split));
            pending.push((split, hi));
        }
    }
    found.sort_unstable();
    found
}

/// The best split of `[lo, hi)` into two lines, if it beats one line by more than the penalty.
fn significant_split(sums: &LinearSums, lo: usize, hi: usize, min_segment: usize, inflation: f64) -> Option<usize> {
    let len = hi - lo;
    if len < 2 * min_segment {
        return None;
    }
    let whole = sums.sse(lo, hi);
    if whole <= 0.0 {
        return None;
    }
    let (split_sse, split) = best_split(sums, lo, hi, min_segment);
    let n_eff = (len as f64 / inflation).max(4.0);
    // Two lines instead of one: three more parameters (break point, level, slope). A perfect
    // fit (a step in a noise-free count) has a tiny but finite error, not a zero one.
    let gain = n_eff * (whole / split_sse.max(whole * 1e-12)).ln();
    let penalty = 3.0 * n_eff.ln().max(1.0) + 6.0;
    (gain > penalty).then_some(split)
}

/// How much autocorrelation inflates the variance of a mean: `(1 + rho) / (1 - rho)`, with
/// `rho` the lag-1 autocorrelation of the residuals of one line through `[lo, hi)`.
fn inflation(values: &[f64], sums: &LinearSums, lo: usize, hi: usize) -> f64 {
    let rho = lag1_autocorrelation(&values[lo..hi], sums, lo).clamp(0.0, 0.995);
    (1.0 + rho) / (1.0 - rho)
}

/// How strongly a regime grows or shrinks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SlopeEvidence {
    /// Least-squares slope per grid step.
    pub slope: f64,
    /// The slope over its standard error, the error widened for autocorrelated residuals.
    pub t: f64,
    /// Both halves of the regime grow the same way, each at least a quarter of the whole's
    /// rate: the slope is not one end pulling a line.
    pub sustained: bool,
    /// The share of the regime's variance the line explains.
    pub r_squared: f64,
}

impl SlopeEvidence {
    /// A slope that is significant (|t| ≥ `t`), sustained, and the main thing the regime
    /// does (the line explains at least half its variance): a bursty series that happens to
    /// end higher than it started does not qualify.
    pub fn holds(&self, t: f64) -> bool {
        self.sustained && self.t.abs() >= t && self.r_squared >= 0.5
    }
}

/// The slope of `values` and how much to believe it.
pub fn slope_evidence(values: &[f64]) -> SlopeEvidence {
    let n = values.len();
    if n < 8 {
        return SlopeEvidence {
            slope: 0.0,
            t: 0.0,
            sustained: false,
            r_squared: 0.0,
        };
    }
    let sums = LinearSums::new(values);
    let (_, slope) = sums.line(0, n);
    let rho = lag1_autocorrelation(values, &sums, 0).clamp(0.0, 0.99);
    let nf = n as f64;
    let var_t = (nf * nf - 1.0) * nf / 12.0;
    let sse = sums.sse(0, n);
    let sigma2 = sse / (nf - 2.0);
    let [_, _, sy, _, syy] = sums.over(0, n);
    let total = syy - sy * sy / nf;
    let r_squared = if total > 0.0 { 1.0 - sse / total } else { 0.0 };
    let standard_error = (sigma2 / var_t * (1.0 + rho) / (1.0 - rho)).sqrt();
    let t = if standard_error > 0.0 {
        slope / standard_error
    } else if slope != 0.0 {
        f64::INFINITY.copysign(slope)
    } else {
        0.0
    };
    let half = n / 2;
    let (_, first) = sums.line(0, half);
    let (_, second) = sums.line(half, n);
    let sustained = slope != 0.0
        && first.signum() == slope.signum()
        && second.signum() == slope.signum()
        && first.abs().min(second.abs()) >= 0.25 * slope.abs();
    SlopeEvidence {
        slope,
        t,
        sustained,
        r_squared,
    }
}

/// The split of `[start, n)` into two least-squares lines with the lowest total squared error,
/// each part at least `min_segment` long. Scans a coarse grid (an eighth of `min_segment`) and
/// then every point around the best grid point: the error is smooth in the split position at
/// that scale, and the full scan would cost a pass over every point for each call.
fn best_split(sums: &LinearSums, start: usize, n: usize, min_segment: usize) -> (f64, usize) {
    let (first, last) = (start + min_segment, n - min_segment);
    let cost = |split: usize| sums.sse(start, split) + sums.sse(split, n);
    let stride = (min_segment / 8).max(1);
    let mut best = (f64::INFINITY, first);
    let mut split = first;
    while split <= last {
        let sse = cost(split);
        if sse < best.0 {
            best = (sse, split);
        }
        split += stride;
    }
    if stride > 1 {
        let around = best.1;
        for split in around.saturating_sub(stride).max(first)..=(around + stride).min(last) {
            let sse = cost(split);
            if sse < best.0 {
                best = (sse, split);
            }
        }
    }
    best
}

/// Lag-1 autocorrelation of the residuals of one line through `values`, which start at index
/// `offset` of the series `sums` was built on.
fn lag1_autocorrelation(values: &[f64], sums: &LinearSums, offset: usize) -> f64 {
    let n = values.len();
    let (intercept, slope) = sums.line(offset, offset + n);
    let residual = |i: usize| values[i] - intercept - slope * i as f64;
    let (mut num, mut den) = (0.0, 0.0);
    let mut previous = 0.0;
    for i in 0..n {
        let r = residual(i);
        den += r * r;
        if i > 0 {
            num += r * previous;
        }
        previous = r;
    }
    if den > 0.0 { num / den } else { 0.0 }
}

/// The level jumps among the change points of `level`: `(index, size)` of each whose level
/// after differs from the level before (medians over `window` steps, or the segments if
/// shorter) by more than four times the current regime's noise (the others are changes of
/// slope).
pub(super) fn level_jumps(level: &[f64], changes: &[usize], regime_start: usize, window: usize) -> Vec<(usize, f64)> {
    if changes.is_empty() {
        return Vec::new();
    }
    let n = level.len();
    // The noise a jump must stand out from: the spread of the current regime around its line.
    let regime = &level[regime_start..];
    let (intercept, slope) = stats::least_squares_line(regime);
    // Every other point is plenty for a median of thousands.
    let mut residuals: Vec<f64> = regime
        .iter()
        .enumerate()
        .step_by(2)
        .map(|(i, v)| (v - intercept - slope * i as f64).abs())
        .collect();
    let noise = 1.4826 * stats::median(&mut residuals);
    let mut bounds = vec![0];
    bounds.extend_from_slice(changes);
    bounds.push(n);
    let mut jumps = Vec::new();
    for k in 1..bounds.len() - 1 {
        let (before, at, after) = (bounds[k - 1], bounds[k], bounds[k + 1]);
        let width = (at - before).min(after - at).min(window).max(1);
        let mut left = level[at - width..at].to_vec();
        let mut right = level[at..at + width].to_vec();
        let jump = (stats::median(&mut right) - stats::median(&mut left)).abs();
        if jump > 4.0 * noise {
            jumps.push((at, jump));
        }
    }
    jumps
}

/// Whether the level has been growing (or shrinking) ever more slowly since `trend_start`:
/// a curve toward a plateau fits that stretch far better than a line, and its slope in the
/// middle of the current regime matches that regime's own slope (within a factor of two).
pub(super) fn slows_down(level: &[f64], trend_start: usize, regime_start: usize, steps_per_day: usize) -> bool {
    let stretch = &level[trend_start..];
    if stretch.len() < 2 * steps_per_day {
        return false;
    }
    let Some(fit) = super::methods::saturating_fit(stretch).filter(|fit| fit.is_evident()) else {
        return false;
    };
    let regime = &level[regime_start..];
    let (_, regime_slope) = stats::least_squares_line(regime);
    let middle = (regime_start - trend_start) as f64 + regime.len() as f64 / 2.0;
    let curve_slope = -fit.gap / fit.tau * (-middle / fit.tau).exp();
    let ratio = curve_slope / regime_slope;
    regime_slope != 0.0 && (0.5..=2.0).contains(&ratio)
}

/// The chance of one more level shift within the horizon, for a history that has shifted
/// before. A backtest inside the current regime never sees a shift, so a step gauge would
/// otherwise get a zero-width band. The band widens by half the typical shift at the 95 %
/// level (a quarter at 80 %), reached once the horizon is as long as the history's time
/// between shifts, and in proportion before that.
pub(super) struct ShiftRisk {
    /// Median size of the history's level shifts.
    size: f64,
    /// Grid steps of history per shift.
    every: f64,
}

impl ShiftRisk {
    pub(super) fn new(jumps: &[(usize, f64)], history: usize) -> ShiftRisk {
        if jumps.is_empty() {
            return ShiftRisk { size: 0.0, every: 1.0 };
        }
        let mut sizes: Vec<f64> = jumps.iter().map(|j| j.1).collect();
        ShiftRisk {
            size: stats::median(&mut sizes),
            every: history as f64 / jumps.len() as f64,
        }
    }

    /// The extra half-width at forecast step `h` for the band at `level`.
    pub(super) fn half_width(&self, level: f64, h: usize) -> f64 {
        let share = if level >= 0.95 { 0.5 } else { 0.25 };
        share * self.size * (h as f64 / self.every).min(1.0)
    }
}

/// Whether the last period of `values` repeats the one before it, for one of `candidates` or
/// a week: the seasonal naive error over the last period is under a fifth of the spread within
/// it.
pub(super) fn repeats_last_period(values: &[f64], candidates: &[usize], steps_per_day: usize) -> bool {
    let n = values.len();
    let week = 7 * steps_per_day;
    candidates
        .iter()
        .copied()
        .chain((steps_per_day > 0).then_some(week))
        .any(|p| {
            if p < 2 || 2 * p > n {
                return false;
            }
            let last = &values[n - p..];
            let before = &values[n - 2 * p..n - p];
            let pairs = last.iter().zip(before).filter(|(a, b)| a.is_finite() && b.is_finite());
            let (mut error, mut count) = (0.0, 0usize);
            for (a, b) in pairs {
                error += (a - b).abs();
                count += 1;
            }
            let finite: Vec<f64> = last.iter().copied().filter(|v| v.is_finite()).collect();
            if count < p / 2 || finite.is_empty() {
                return false;
            }
            let mean = finite.iter().sum::<f64>() / finite.len() as f64;
            let spread = finite.iter().map(|v| (v - mean).abs()).sum::<f64>() / finite.len() as f64;
            spread > 0.0 && error / (count as f64) < 0.2 * spread
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(i: usize) -> f64 {
        crate::forecast::testing::noise(i, 22)
    }

    #[test]
    fn finds_a_recent_level_shift() {
        let values: Vec<f64> = (0..2000)
            .map(|i| 50.0 + noise(i) + if i >= 1700 { 15.0 } else { 0.0 })
            .collect();
        let start = last_regime_start(&values, 100);
        assert!((1690..=1710).contains(&start), "start {start}");
    }

    #[test]
    fn a_noisy_line_is_one_regime() {
        let values: Vec<f64> = (0..3000).map(|i| 10.0 + 0.01 * i as f64 + 2.0 * noise(i)).collect();
        assert_eq!(last_regime_start(&values, 100), 0);
    }

    #[test]
    fn finds_a_change_of_slope() {
        let values: Vec<f64> = (0..2000)
            .map(|i| {
                let x = i as f64;
                (if i < 1200 { 0.01 * x } else { 12.0 + 0.2 * (x - 1200.0) }) + 0.5 * noise(i)
            })
            .collect();
        let start = last_regime_start(&values, 100);
        assert!((1150..=1250).contains(&start), "start {start}");
    }
}
