//! Excursions: incidents, outages, a blizzard. Points far from the series' robust local level
//! that come back to it.
//!
//! A two-day collapse in traffic followed by recovery is not a new regime, and a single
//! incident spike is not growth. Both are replaced by linear interpolation before the level and
//! trend are fitted. What has not come back by the end of the history is left alone, because it
//! may be the start of a new regime ([`super::regime`] decides).
//!
//! The baseline is the running median of per-block medians (a block is about a day), so it
//! is not pulled by the excursion it is meant to expose.

use super::seasonal::median;

/// A point is an excursion when it lies this many robust standard deviations (1.4826 × MAD)
/// from the baseline.
const THRESHOLD: f64 = 6.0;
/// Runs longer than this many blocks are regimes, not excursions.
const MAX_RUN_BLOCKS: usize = 3;

/// An excursion that was interpolated away: `values[start..end]`, judged to have come back
/// from the `side` points after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Excursion {
    pub start: usize,
    pub end: usize,
    pub side: usize,
}

impl Excursion {
    /// Replaces `values[start..end]` by the line between the values on either side.
    pub fn interpolate(&self, values: &mut [f64]) {
        let (left, right) = (values[self.start - 1], values[self.end]);
        let span = (self.end - self.start + 1) as f64;
        for (k, value) in values[self.start..self.end].iter_mut().enumerate() {
            *value = left + (right - left) * (k + 1) as f64 / span;
        }
    }

    /// Whether a history cut at `cut` would already have seen this excursion come back.
    pub fn seen_back_by(&self, cut: usize) -> bool {
        self.end + self.side <= cut
    }
}

/// Replaces excursions in `values` by interpolation; returns how many points were replaced.
/// `block` is the baseline's resolution in points (about a day).
pub fn clean_excursions(values: &mut [f64], block: usize) -> usize {
    excursions(values, block).iter().map(|e| e.end - e.start).sum()
}

/// [`clean_excursions`], returning the excursions replaced.
pub fn excursions(values: &mut [f64], block: usize) -> Vec<Excursion> {
    let mut found = Vec::new();
    let n = values.len();
    let block = block.clamp(12, (n / 8).max(12));
    if n < 4 * block {
        return found;
    }
    let block_count = n.div_ceil(block);
    let block_medians: Vec<f64> = (0..block_count)
        .map(|b| {
            // Every other point is plenty for the median of a long block.
            let chunk_slice = &values[b * block..((b + 1) * block).min(n)];
            let mut chunk: Vec<f64> = chunk_slice
                .iter()
                .step_by(if block > 64 { 2 } else { 1 })
                .copied()
                .collect();
            median(&mut chunk)
        })
        .collect();
    // Running median of five blocks: one or two bad blocks cannot move it. Near the ends the
    // window shrinks symmetrically (three blocks, then one): a one-sided window would shift the
    // baseline of a trending series by a block's growth.
    let smoothed: Vec<f64> = (0..block_count)
        .map(|b| {
            let radius = 2.min(b).min(block_count - 1 - b);
            let mut window = block_medians[b - radius..=b + radius].to_vec();
            median(&mut window)
        })
        .collect();
    // The baseline runs linearly between block centres, and on along the nearest two centres'
    // line before the first and after the last (flat ends would make a rising series look like
    // an excursion at its end).
    let centers: Vec<f64> = (0..block_count)
        .map(|b| (b * block) as f64 + (((b + 1) * block).min(n) - b * block) as f64 / 2.0)
        .collect();
    let mut baseline = Vec::with_capacity(n);
    let mut b = 0;
    for i in 0..n {
        let x = i as f64 + 0.5;
        while b + 1 < block_count && centers[b + 1] <= x {
            b += 1;
        }
        let (b0, b1) = if b + 1 >= block_count {
            (block_count - 2, block_count - 1)
        } else {
            (b, b + 1)
        };
        let w = (x - centers[b0]) / (centers[b1] - centers[b0]);
        let value = smoothed[b0] + w * (smoothed[b1] - smoothed[b0]);
        baseline.push(value);
    }
    let residuals: Vec<f64> = values.iter().zip(&baseline).map(|(v, b)| v - b).collect();
    let mut absolute: Vec<f64> = residuals.iter().map(|r| r.abs()).collect();
    let scale = 1.4826 * median(&mut absolute);
    if scale <= 0.0 || !scale.is_finite() {
        return found;
    }
    let flagged: Vec<bool> = residuals.iter().map(|r| r.abs() > THRESHOLD * scale).collect();
    let mut i = 0;
    while i < n {
        if !flagged[i] {
            i += 1;
            continue;
        }
        // Widen the run to where the residual changes sign or falls within one scale, so the
        // ramp into and out of an excursion goes with it; by at most the run's own length on
        // each side, so a one-point spike cannot swallow a drifting stretch.
        let mut start = i;
        let mut end = i;
        while end < n && flagged[end] {
            end += 1;
        }
        let reach = end - start;
        let sign = residuals[i].signum();
        let (lowest, highest) = (start.saturating_sub(reach), (end + reach).min(n));
        while start > lowest && residuals[start - 1].signum() == sign && residuals[start - 1].abs() > scale {
            start -= 1;
        }
        while end < highest && residuals[end].signum() == sign && residuals[end].abs() > scale {
            end += 1;
        }
        // An excursion comes back: the level just after the run must match the level just
        // before it (within half the run's depth). A run that has not come back, or that
        // reaches the end of the history, may be a new regime and is left alone.
        let side = (block / 2).max(3);
        let depth = residuals[start..end].iter().map(|r| r.abs()).sum::<f64>() / (end - start) as f64;
        let came_back = start >= side && end + side <= n && {
            let before = median(&mut values[start - side..start].to_vec());
            let after = median(&mut values[end..end + side].to_vec());
            (after - before).abs() <= 0.5 * depth
        };
        if came_back && end - start <= MAX_RUN_BLOCKS * block {
            let excursion = Excursion { start, end, side };
            excursion.interpolate(values);
            found.push(excursion);
        }
        i = end.max(i + 1);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(i: usize) -> f64 {
        crate::forecast::testing::noise(i, 21)
    }

    #[test]
    fn a_dip_that_recovers_is_removed() {
        let mut values: Vec<f64> = (0..2000).map(|i| 100.0 + noise(i)).collect();
        for v in &mut values[1200..1330] {
            *v = 10.0;
        }
        let replaced = clean_excursions(&mut values, 100);
        assert!(replaced >= 130, "replaced {replaced}");
        assert!(values[1200..1330].iter().all(|v| (v - 100.0).abs() < 3.0));
    }

    #[test]
    fn a_shift_that_lasts_to_the_end_is_kept() {
        let mut values: Vec<f64> = (0..2000)
            .map(|i| if i < 1850 { 30.0 } else { 99.0 } + noise(i))
            .collect();
        clean_excursions(&mut values, 100);
        // Nothing after the shift is pulled toward the old level: every value stays within the
        // noise (±1) of the new one. (Where the block baseline still lags the shift, a few
        // noisy points may be re-interpolated between neighbours at the same level.)
        let worst = values[1850..].iter().map(|v| (v - 99.0).abs()).fold(0.0, f64::max);
        assert!(worst <= 1.0, "a value after the shift moved {worst} from the new level");
    }

    #[test]
    fn spikes_go_and_a_trend_stays() {
        let mut values: Vec<f64> = (0..3000).map(|i| 0.05 * i as f64 + noise(i)).collect();
        values[1000] += 500.0;
        values[2222] -= 400.0;
        let replaced = clean_excursions(&mut values, 100);
        assert!((2..=6).contains(&replaced), "replaced {replaced}");
        assert!((values[1000] - 50.0).abs() < 3.0 && (values[2222] - 111.1).abs() < 3.0);
        assert!((values[2999] - 149.95).abs() < 2.0);
    }
}
