//! Putting irregular samples on a regular time grid.
//!
//! Seasonal maths works on positions (index `i` is `start + i * step`), so samples must sit on
//! a fixed grid first. Scrape jitter is absorbed by rounding to the nearest grid point; missing
//! steps become NaN and are filled by linear interpolation, with the count kept so a caller can
//! say how much of the history was invented.

use crate::series::Sample;

/// Values on a regular grid; `NaN` marks a missing step until [`Grid::fill_gaps`] runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    /// Unix seconds of `values[0]`.
    pub start: f64,
    /// Seconds between grid points.
    pub step: f64,
    pub values: Vec<f64>,
}

impl Grid {
    /// Builds a grid from samples in any order. Non-finite values count as missing.
    /// `step` is inferred (the median spacing) when `None`. Returns `None` when there is no
    /// finite sample at all, or the step cannot be inferred (a single sample).
    pub fn from_samples(samples: &[Sample], step: Option<f64>) -> Option<Grid> {
        let mut finite: Vec<Sample> = samples
            .iter()
            .copied()
            .filter(|s| s.value.is_finite() && s.timestamp.is_finite())
            .collect();
        if finite.is_empty() {
            return None;
        }
        if !finite.is_sorted_by(|a, b| a.timestamp <= b.timestamp) {
            finite.sort_by(|a, b| a.timestamp.total_cmp(&b.timestamp));
        }
        let step = match step {
            Some(step) if step > 0.0 => step,
            _ => infer_step(&finite)?,
        };
        let start = finite[0].timestamp;
        let last = finite[finite.len() - 1].timestamp;
        let len = ((last - start) / step).round() as usize + 1;
        let mut sums = vec![0.0; len];
        let mut counts = vec![0u32; len];
        for sample in &finite {
            let index = ((sample.timestamp - start) / step).round() as usize;
            let index = index.min(len - 1);
            sums[index] += sample.value;
            counts[index] += 1;
        }
        let values = sums
            .iter()
            .zip(&counts)
            .map(|(sum, &count)| if count > 0 { sum / f64::from(count) } else { f64::NAN })
            .collect();
        Some(Grid { start, step, values })
    }

    /// Builds a grid from values already on a regular grid starting at `start`: non-finite
    /// values count as missing, and missing values at either end are dropped, as
    /// [`Grid::from_samples`] does. `None` when no value is finite.
    pub fn from_regular(start: f64, step: f64, mut values: Vec<f64>) -> Option<Grid> {
        let first = values.iter().position(|v| v.is_finite())?;
        let last = values.iter().rposition(|v| v.is_finite())?;
        values.truncate(last + 1);
        values.drain(..first);
        for value in values.iter_mut().filter(|v| !v.is_finite()) {
            *value = f64::NAN;
        }
        Some(Grid {
            start: start + first as f64 * step,
            step,
            values,
        })
    }

    /// Unix seconds of grid point `index` (which may lie past the end, for forecasts).
    pub fn timestamp(&self, index: usize) -> f64 {
        self.start + index as f64 * self.step
    }

    /// Unix seconds of the last grid point.
    pub fn end(&self) -> f64 {
        self.timestamp(self.values.len().saturating_sub(1))
    }

    /// Number of grid points holding a real (not interpolated) value.
    pub fn observed(&self) -> usize {
        self.values.iter().filter(|v| v.is_finite()).count()
    }

    /// Keeps only the last `max_points` grid points.
    pub fn keep_last(&mut self, max_points: usize) {
        if self.values.len() > max_points {
            let drop = self.values.len() - max_points;
            self.values.drain(..drop);
            self.start += drop as f64 * self.step;
        }
    }

    /// Fills missing steps by linear interpolation between their neighbours; returns how many
    /// were filled. Leading and trailing gaps cannot occur (the grid starts and ends on samples).
    pub fn fill_gaps(&mut self) -> usize {
        fill_gaps(&mut self.values)
    }
}

/// Linear interpolation over NaN runs; runs at either end take the nearest finite value.
pub fn fill_gaps(values: &mut [f64]) -> usize {
    let mut filled = 0;
    let mut last_finite: Option<usize> = None;
    let mut i = 0;
    while i < values.len() {
        if values[i].is_finite() {
            last_finite = Some(i);
            i += 1;
            continue;
        }
        let run_start = i;
        while i < values.len() && !values[i].is_finite() {
            i += 1;
        }
        let next = (i < values.len()).then_some(i);
        for j in run_start..i {
            values[j] = match (last_finite, next) {
                (Some(a), Some(b)) => {
                    let w = (j - a) as f64 / (b - a) as f64;
                    values[a] + w * (values[b] - values[a])
                }
                (Some(a), None) => values[a],
                (None, Some(b)) => values[b],
                (None, None) => 0.0,
            };
            filled += 1;
        }
    }
    filled
}

/// The median spacing of sorted samples, ignoring duplicates.
fn infer_step(sorted: &[Sample]) -> Option<f64> {
    // Most series are perfectly regular: then every spacing is the step.
    if let [first, second, ..] = sorted {
        let step = second.timestamp - first.timestamp;
        if step > 2.0 && sorted.windows(2).all(|w| w[1].timestamp - w[0].timestamp == step) {
            return Some(step.round());
        }
    }
    let mut diffs: Vec<f64> = sorted
        .windows(2)
        .map(|w| w[1].timestamp - w[0].timestamp)
        .filter(|d| *d > 1e-9)
        .collect();
    if diffs.is_empty() {
        return None;
    }
    let mid = diffs.len() / 2;
    let (_, median, _) = diffs.select_nth_unstable_by(mid, f64::total_cmp);
    // Scrape jitter makes spacings like 59.7 s or 60.4 s: above a few seconds, a step is a
    // whole number of seconds.
    Some(if *median > 2.0 { median.round() } else { *median })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(points: &[(f64, f64)]) -> Vec<Sample> {
        points
            .iter()
            .map(|&(timestamp, value)| Sample { timestamp, value })
            .collect()
    }

    #[test]
    fn a_regular_grid_matches_the_same_samples() {
        let step = 60.0;
        let values = vec![f64::NAN, 1.0, f64::INFINITY, 3.0, f64::NAN];
        let samples: Vec<Sample> = values
            .iter()
            .enumerate()
            .map(|(i, v)| Sample {
                timestamp: 1000.0 + i as f64 * step,
                value: *v,
            })
            .collect();
        let from_samples = Grid::from_samples(&samples, Some(step)).expect("grid");
        let regular = Grid::from_regular(1000.0, step, values).expect("grid");
        assert_eq!(regular.start, from_samples.start);
        assert_eq!(regular.values.len(), from_samples.values.len());
        assert!(regular.values[1].is_nan() && from_samples.values[1].is_nan());
        assert_eq!((regular.values[0], regular.values[2]), (1.0, 3.0));
        assert!(Grid::from_regular(0.0, 1.0, vec![f64::NAN]).is_none());
    }

    #[test]
    fn jitter_rounds_to_the_grid_and_gaps_are_filled() {
        let input = samples(&[(0.0, 1.0), (60.4, 2.0), (119.7, 3.0), (300.2, 6.0), (240.0, f64::NAN)]);
        let mut grid = Grid::from_samples(&input, None).expect("grid");
        assert_eq!(grid.step, 60.0);
        assert_eq!(grid.values.len(), 6);
        assert_eq!(grid.observed(), 4);
        assert_eq!(grid.fill_gaps(), 2);
        assert_eq!(grid.values, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }

    #[test]
    fn no_finite_sample_means_no_grid() {
        assert!(Grid::from_samples(&samples(&[(0.0, f64::NAN), (60.0, f64::INFINITY)]), None).is_none());
        assert!(Grid::from_samples(&samples(&[(0.0, 1.0)]), None).is_none());
        assert!(Grid::from_samples(&samples(&[(0.0, 1.0)]), Some(60.0)).is_some());
    }
}
