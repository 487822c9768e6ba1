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

/// Prefix sums that give the least-squares line of any segment in O(1).
struct LinearSums {
    t: Vec<f64>,
    tt: Vec<f64>,
    y: Vec<f64>,
    ty: Vec<f64>,
    yy: Vec<f64>,
}

impl LinearSums {
    fn new(values: &[f64]) -> Self {
        let n = values.len();
        let mut sums = LinearSums {
            t: Vec::with_capacity(n + 1),
            tt: Vec::with_capacity(n + 1),
            y: Vec::with_capacity(n + 1),
            ty: Vec::with_capacity(n + 1),
            yy: Vec::with_capacity(n + 1),
        };
        let (mut t, mut tt, mut y, mut ty, mut yy) = (0.0, 0.0, 0.0, 0.0, 0.0);
        sums.push(t, tt, y, ty, yy);
        for (i, &v) in values.iter().enumerate() {
            let x = i as f64;
            t += x;
            tt += x * x;
            y += v;
            ty += x * v;
            yy += v * v;
            sums.push(t, tt, y, ty, yy);
        }
        sums
    }

    fn push(&mut self, t: f64, tt: f64, y: f64, ty: f64, yy: f64) {
        self.t.push(t);
        self.tt.push(tt);
        self.y.push(y);
        self.ty.push(ty);
        self.yy.push(yy);
    }

    /// Residual sum of squares of the least-squares line over `[lo, hi)`.
    fn sse(&self, lo: usize, hi: usize) -> f64 {
        let n = (hi - lo) as f64;
        let st = self.t[hi] - self.t[lo];
        let stt = self.tt[hi] - self.tt[lo];
        let sy = self.y[hi] - self.y[lo];
        let sty = self.ty[hi] - self.ty[lo];
        let syy = self.yy[hi] - self.yy[lo];
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
    let rho = lag1_autocorrelation(values, &sums).clamp(0.0, 0.995);
    let inflation = (1.0 + rho) / (1.0 - rho);
    let mut start = 0;
    loop {
        let len = n - start;
        if len < 2 * min_segment {
            return start;
        }
        let whole = sums.sse(start, n);
        let (split_sse, split) = best_split(&sums, start, n, min_segment);
        let n_eff = (len as f64 / inflation).max(4.0);
        // Two lines instead of one: three more parameters (break point, level, slope).
        let gain = n_eff * (whole.max(1e-300) / split_sse.max(1e-300)).ln();
        let penalty = 3.0 * n_eff.ln().max(1.0) + 6.0;
        if split_sse > 0.0 && gain > penalty {
            start = split;
        } else {
            return start;
        }
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

/// Lag-1 autocorrelation of the residuals of one line through the whole series.
fn lag1_autocorrelation(values: &[f64], sums: &LinearSums) -> f64 {
    let n = values.len();
    let nf = n as f64;
    let st = sums.t[n];
    let stt = sums.tt[n];
    let sy = sums.y[n];
    let sty = sums.ty[n];
    let var_t = stt - st * st / nf;
    let slope = if var_t > 0.0 { (sty - st * sy / nf) / var_t } else { 0.0 };
    let intercept = (sy - slope * st) / nf;
    let residual = |i: usize| values[i] - intercept - slope * i as f64;
    let (mut num, mut den) = (0.0, 0.0);
    for i in 0..n {
        let r = residual(i);
        den += r * r;
        if i > 0 {
            num += r * residual(i - 1);
        }
    }
    if den > 0.0 { num / den } else { 0.0 }
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
