//! Seasonal periods and a robust seasonal decomposition.
//!
//! Infrastructure load follows the clock: a daily cycle, often a weekly one. Periods are
//! proposed from the calendar (day, week, in grid steps) plus whatever augurs' periodogram
//! finds (snapped to the nearest calendar period, since its Welch grid never lands exactly on
//! 288 or 2016), and each is kept only if it explains a real share of the variance.
//!
//! The decomposition is MSTL-shaped but built for speed and robustness: a moving-average trend
//! over the longest period, then one profile per period from the per-phase **median** of the
//! recent cycles, so an incident spike on one day does not become part of every day.

use augurs::seasons::{Detector, PeriodogramDetector};

/// A seasonal share of variance below this is treated as noise, not a cycle.
const MIN_STRENGTH: f64 = 0.12;
/// A period is only believed after this many cycles: with two, a trend and a cycle cannot be
/// told apart.
const MIN_CYCLES: usize = 3;
/// At most this many recent cycles feed a profile: enough for a robust median, recent enough
/// to follow a drifting pattern.
const MAX_CYCLES: usize = 8;

/// How the seasonal pattern combines with the level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SeasonalMode {
    /// The swing is the same size whatever the level (`level + season`).
    Additive,
    /// The swing grows with the level (`level × season`), as traffic and the CPU of a growing
    /// service do. Profiles are estimated on the log scale; the level and trend stay on the
    /// original scale, so a linear growth is still extrapolated as linear.
    Multiplicative,
}

/// The result of [`decompose`]: per-period profiles indexed by grid phase.
#[derive(Clone, Debug)]
pub struct Decomposition {
    pub mode: SeasonalMode,
    /// Periods in grid steps, ascending.
    pub periods: Vec<usize>,
    /// One profile per period, `profile[i % period]` is the seasonal value at grid index `i`
    /// (on the log scale in multiplicative mode).
    pub profiles: Vec<Vec<f64>>,
    /// The input with the seasonal pattern taken out, in the input's units.
    pub deseasonalized: Vec<f64>,
    /// The summed profiles over the periods' least common multiple, when that is not huge:
    /// one lookup per point instead of one per period.
    combined: Option<Vec<f64>>,
    /// In multiplicative mode, `exp` of `combined`: the factor itself, ready to multiply.
    factors: Option<Vec<f64>>,
}

/// Longest combined profile worth precomputing.
const MAX_COMBINED: usize = 1 << 20;

impl Decomposition {
    fn new(mode: SeasonalMode, periods: Vec<usize>, profiles: Vec<Vec<f64>>, deseasonalized: Vec<f64>) -> Self {
        let mut decomposition = Decomposition {
            mode,
            periods,
            profiles,
            deseasonalized,
            combined: None,
            factors: None,
        };
        decomposition.combine();
        decomposition
    }

    /// Precomputes the combined profile (after the profiles change).
    fn combine(&mut self) {
        let lcm = self.periods.iter().try_fold(1usize, |acc, &p| {
            let l = acc / gcd(acc, p) * p;
            (l <= MAX_COMBINED).then_some(l)
        });
        self.combined = match lcm {
            Some(l) if !self.periods.is_empty() => Some((0..l).map(|i| self.sum_profiles(i)).collect()),
            _ => None,
        };
        self.factors = match (&self.combined, self.mode) {
            (Some(combined), SeasonalMode::Multiplicative) => Some(combined.iter().map(|s| s.exp()).collect()),
            _ => None,
        };
    }

    fn sum_profiles(&self, index: usize) -> f64 {
        self.periods
            .iter()
            .zip(&self.profiles)
            .map(|(&period, profile)| profile[index % period])
            .sum()
    }

    /// The summed seasonal component at grid index `index` (may lie past the history).
    fn seasonal_at(&self, index: usize) -> f64 {
        match &self.combined {
            Some(combined) => combined[index % combined.len()],
            None => self.sum_profiles(index),
        }
    }

    /// Puts the seasonal pattern back onto a deseasonalised `value` at grid index `index`.
    pub fn reseason(&self, index: usize, value: f64) -> f64 {
        match self.mode {
            SeasonalMode::Additive => value + self.seasonal_at(index),
            SeasonalMode::Multiplicative => match &self.factors {
                Some(factors) => value * factors[index % factors.len()],
                None => value * self.seasonal_at(index).exp(),
            },
        }
    }

    /// Peak-to-trough amplitude of the seasonal pattern over the longest period, in the input's
    /// units at its latest deseasonalised level.
    pub fn amplitude(&self) -> f64 {
        let Some(&longest) = self.periods.last() else {
            return 0.0;
        };
        let level = self.deseasonalized.last().copied().unwrap_or(0.0);
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for i in 0..longest {
            let s = self.reseason(i, level);
            lo = lo.min(s);
            hi = hi.max(s);
        }
        if hi >= lo { hi - lo } else { 0.0 }
    }
}

/// Calendar periods (day, week) in grid steps that the history covers three times, plus
/// periodogram peaks snapped to them. Returned ascending and deduplicated, before the strength
/// test of [`select_periods`].
pub fn candidate_periods(values: &[f64], step_secs: f64) -> Vec<usize> {
    let n = values.len();
    let mut periods = Vec::new();
    for calendar_secs in [86_400.0, 7.0 * 86_400.0] {
        let steps = calendar_secs / step_secs;
        let rounded = steps.round();
        if rounded >= 4.0 && (steps - rounded).abs() < 1e-6 && n >= MIN_CYCLES * rounded as usize {
            periods.push(rounded as usize);
        }
    }
    // The periodogram may find a cycle the calendar does not name (a 12 h batch job, say).
    // Its peaks sit on a power-of-two frequency grid, so a peak within 6 % of a calendar
    // period is taken as that period.
    if n >= 16 {
        let detector = PeriodogramDetector::builder()
            .min_period(4)
            .max_period((n / 2) as u32)
            .threshold(0.25)
            .build();
        let detected = detector.detect(values);
        for period in detected.into_iter().map(|p| p as usize) {
            if period < 4 || n < MIN_CYCLES * period {
                continue;
            }
            let near_calendar = periods
                .iter()
                .any(|&c| (period as f64 - c as f64).abs() <= 0.06 * c as f64);
            let sub_daily_hours = period as f64 * step_secs / 3600.0;
            // Keep only other cycles that are a whole number of hours (cron-like jobs).
            if !near_calendar && (sub_daily_hours - sub_daily_hours.round()).abs() < 0.05 * sub_daily_hours {
                periods.push(period);
            }
        }
    }
    periods.sort_unstable();
    periods.dedup();
    periods
}

/// Decomposes with every candidate period and keeps those whose component explains at least
/// [`MIN_STRENGTH`] of the variance left once the trend is removed.
pub fn select_periods(values: &[f64], candidates: &[usize]) -> Vec<usize> {
    select_periods_keeping(values, candidates).0
}

/// [`select_periods`], also returning the decomposition with every candidate: when every
/// candidate is kept, it is the additive decomposition the forecast needs anyway.
pub fn select_periods_keeping(values: &[f64], candidates: &[usize]) -> (Vec<usize>, Decomposition) {
    let full = decompose(values, candidates);
    if full.periods.is_empty() {
        return (Vec::new(), full);
    }
    let trend = moving_average(&subtract_seasonal(values, &full), *candidates.last().unwrap_or(&1));
    let remainder: Vec<f64> = full.deseasonalized.iter().zip(&trend).map(|(d, t)| d - t).collect();
    let remainder_var = variance(&remainder);
    let kept = full
        .periods
        .iter()
        .zip(&full.profiles)
        .filter(|&(&period, profile)| {
            let with_season: Vec<f64> = remainder
                .iter()
                .enumerate()
                .map(|(i, r)| r + profile[i % period])
                .collect();
            let total = variance(&with_season);
            total > 0.0 && 1.0 - remainder_var / total >= MIN_STRENGTH
        })
        .map(|(&period, _)| period)
        .collect();
    (kept, full)
}

/// Robust decomposition in `mode` (multiplicative needs positive values; others fall back to
/// additive).
pub fn decompose_in(values: &[f64], periods: &[usize], mode: SeasonalMode, passes: usize) -> Decomposition {
    decompose_with_logs(values, None, periods, mode, passes)
}

/// [`decompose_in`] with the logarithms of `values` already computed (a backtest decomposes
/// many prefixes of one series: their logarithms are prefixes of one vector).
pub fn decompose_with_logs(
    values: &[f64],
    logs: Option<&[f64]>,
    periods: &[usize],
    mode: SeasonalMode,
    passes: usize,
) -> Decomposition {
    if mode == SeasonalMode::Additive || values.iter().any(|v| *v <= 0.0) {
        return decompose_passes(values, periods, passes);
    }
    let computed;
    let logs = match logs {
        Some(logs) if logs.len() == values.len() => logs,
        _ => {
            computed = values.iter().map(|v| v.ln()).collect::<Vec<f64>>();
            &computed
        }
    };
    let mut decomposition = decompose_passes(logs, periods, passes);
    decomposition.mode = SeasonalMode::Multiplicative;
    decomposition.combine();
    let deseasonalized = values
        .iter()
        .enumerate()
        .map(|(i, v)| v / decomposition.reseason(i, 1.0))
        .collect();
    decomposition.deseasonalized = deseasonalized;
    decomposition
}

/// Robust additive decomposition with the given periods (ascending).
pub fn decompose(values: &[f64], periods: &[usize]) -> Decomposition {
    decompose_passes(values, periods, 2)
}

/// [`decompose`] with a given number of trend-and-profile passes: two by default; one is
/// cheaper and a little rougher (backtests use it).
pub fn decompose_passes(values: &[f64], periods: &[usize], passes: usize) -> Decomposition {
    let n = values.len();
    let periods: Vec<usize> = periods.iter().copied().filter(|&p| p >= 2 && 2 * p <= n).collect();
    let mut profiles: Vec<Vec<f64>> = periods.iter().map(|&p| vec![0.0; p]).collect();
    if periods.is_empty() {
        return Decomposition::new(SeasonalMode::Additive, periods, profiles, values.to_vec());
    }
    let longest = *periods.last().unwrap_or(&1);
    let mut seasonal_total = vec![0.0; n];
    let mut residual = vec![0.0; n];
    for _pass in 0..passes.max(1) {
        let deseasonalized: Vec<f64> = values.iter().zip(&seasonal_total).map(|(v, s)| v - s).collect();
        let trend = moving_average(&deseasonalized, longest);
        for k in 0..periods.len() {
            let period = periods[k];
            // What is left for this period: data minus trend minus the other periods (the
            // running total minus this period's own previous profile).
            let own = &profiles[k];
            let mut phase = 0;
            for i in 0..n {
                residual[i] = values[i] - trend[i] - (seasonal_total[i] - own[phase]);
                phase += 1;
                if phase == period {
                    phase = 0;
                }
            }
            let updated = phase_profile(&residual, period);
            let mut phase = 0;
            for total in seasonal_total.iter_mut() {
                *total += updated[phase] - own[phase];
                phase += 1;
                if phase == period {
                    phase = 0;
                }
            }
            profiles[k] = updated;
        }
    }
    let deseasonalized = values.iter().zip(&seasonal_total).map(|(v, s)| v - s).collect();
    Decomposition::new(SeasonalMode::Additive, periods, profiles, deseasonalized)
}

/// Per-phase median over the most recent cycles, smoothed around the circle, centred, and
/// shrunk toward zero by how much of it is noise.
///
/// A weekly profile from four weeks is a median of four values per phase: without shrinkage,
/// the noise of those four values would be forecast to repeat every week. The shrinkage is
/// empirical Bayes: the profile is scaled by `1 - noise variance / profile variance`, with the
/// noise variance of each phase median estimated from the spread inside its own bucket.
fn phase_profile(residual: &[f64], period: usize) -> Vec<f64> {
    let n = residual.len();
    let cycles = (n / period).min(MAX_CYCLES);
    let first = n - cycles * period;
    let mut profile = vec![0.0; period];
    let mut bucket = Vec::with_capacity(cycles + 1);
    let mut deviations = Vec::with_capacity(cycles + 1);
    let mut noise_variance = 0.0;
    for (phase, slot) in profile.iter_mut().enumerate() {
        bucket.clear();
        // Positions congruent to `phase` modulo `period`, within the recent cycles.
        let offset = (phase + period - first % period) % period;
        let mut i = first + offset;
        while i < n {
            bucket.push(residual[i]);
            i += period;
        }
        let center = median(&mut bucket);
        *slot = center;
        deviations.clear();
        deviations.extend(bucket.iter().map(|v| (v - center).abs()));
        let sigma = 1.4826 * median(&mut deviations);
        // The variance of a median of k values is about (pi / 2) sigma^2 / k.
        noise_variance += std::f64::consts::FRAC_PI_2 * sigma * sigma / bucket.len().max(1) as f64;
    }
    noise_variance /= period as f64;
    // Smooth with a circular moving average so that each profile has ~96 points of
    // resolution per cycle: the median of a few cycles is still noisy point to point.
    let window = (period / 96).max(1);
    if window > 1 {
        let half = window / 2;
        let smoothed: Vec<f64> = (0..period)
            .map(|i| {
                let sum: f64 = (0..window).map(|k| profile[(i + period + k - half) % period]).sum();
                sum / window as f64
            })
            .collect();
        profile = smoothed;
        noise_variance /= window as f64;
    }
    let mean = profile.iter().sum::<f64>() / period as f64;
    profile.iter_mut().for_each(|v| *v -= mean);
    let profile_variance = profile.iter().map(|v| v * v).sum::<f64>() / period as f64;
    if profile_variance > 0.0 {
        let keep = (1.0 - noise_variance / profile_variance).clamp(0.0, 1.0);
        profile.iter_mut().for_each(|v| *v *= keep);
    }
    profile
}

/// Removes an additive decomposition's seasonal part from `values` (same length).
fn subtract_seasonal(values: &[f64], decomposition: &Decomposition) -> Vec<f64> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| v - decomposition.seasonal_at(i))
        .collect()
}

/// Centred moving average with window `window`. Where the window would run past either end,
/// the trend is extended linearly from the nearest full windows instead: a partial window over
/// a seasonal series is biased by the part of the cycle it happens to cover.
pub fn moving_average(values: &[f64], window: usize) -> Vec<f64> {
    let n = values.len();
    let window = window.clamp(1, n.max(1));
    let mut prefix = Vec::with_capacity(n + 1);
    prefix.push(0.0);
    for v in values {
        prefix.push(prefix[prefix.len() - 1] + v);
    }
    let half = window / 2;
    let full = |i: usize| (prefix[i + window - half] - prefix[i - half]) / window as f64;
    // Grid points whose whole window lies inside the series.
    let first_full = half;
    let last_full = (n + half).saturating_sub(window);
    if n < window || last_full < first_full + 1 {
        let mean = prefix[n] / n.max(1) as f64;
        return vec![mean; n];
    }
    let mut out = vec![0.0; n];
    for (i, slot) in out.iter_mut().enumerate().take(last_full + 1).skip(first_full) {
        *slot = full(i);
    }
    // Slopes over up to half a window of full values at each end.
    let span = half.max(1).min(last_full - first_full);
    let head_slope = (out[first_full + span] - out[first_full]) / span as f64;
    let tail_slope = (out[last_full] - out[last_full - span]) / span as f64;
    for i in 0..first_full {
        out[i] = out[first_full] - head_slope * (first_full - i) as f64;
    }
    for i in last_full + 1..n {
        out[i] = out[last_full] + tail_slope * (i - last_full) as f64;
    }
    out
}

/// The median of `values` (reordered in place); 0 for an empty slice.
pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mid = values.len() / 2;
    // Seasonal profiles take thousands of medians of 4 to 8 values: an insertion sort beats
    // the general selection algorithm there by a wide margin.
    if values.len() <= 16 {
        for i in 1..values.len() {
            let mut j = i;
            while j > 0 && values[j - 1].total_cmp(&values[j]).is_gt() {
                values.swap(j - 1, j);
                j -= 1;
            }
        }
        return if values.len() % 2 == 1 {
            values[mid]
        } else {
            (values[mid - 1] + values[mid]) / 2.0
        };
    }
    let (_, upper, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    let upper = *upper;
    if values.len() % 2 == 1 {
        upper
    } else {
        let lower = values[..mid].iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lower + upper) / 2.0
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Population variance; 0 for fewer than two values.
pub fn variance(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn daily_weekly(n: usize, day: usize) -> Vec<f64> {
        (0..n)
            .map(|i| {
                let d = 2.0 * std::f64::consts::PI * i as f64 / day as f64;
                let w = 2.0 * std::f64::consts::PI * i as f64 / (7 * day) as f64;
                100.0 + 0.01 * i as f64 + 20.0 * d.sin() + 8.0 * w.sin()
            })
            .collect()
    }

    #[test]
    fn finds_daily_and_weekly_cycles_at_five_minutes() {
        let values = daily_weekly(28 * 288, 288);
        let candidates = candidate_periods(&values, 300.0);
        assert!(
            candidates.contains(&288) && candidates.contains(&2016),
            "{candidates:?}"
        );
        assert_eq!(select_periods(&values, &candidates), vec![288, 2016]);
    }

    #[test]
    fn a_trend_without_cycles_has_no_season() {
        let values: Vec<f64> = (0..4000)
            .map(|i| 5.0 + 0.3 * i as f64 + ((i * 7919) % 13) as f64 * 0.1)
            .collect();
        let candidates = candidate_periods(&values, 300.0);
        assert!(select_periods(&values, &candidates).is_empty());
    }

    #[test]
    fn medians_of_small_and_large_slices() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        let mut large: Vec<f64> = (0..101).rev().map(f64::from).collect();
        assert_eq!(median(&mut large), 50.0);
        let mut large_even: Vec<f64> = (0..100).map(f64::from).collect();
        assert_eq!(median(&mut large_even), 49.5);
        assert_eq!(median(&mut []), 0.0);
    }

    #[test]
    fn trend_at_the_edges_is_extended_not_truncated() {
        let values: Vec<f64> = (0..1000)
            .map(|i| 2.0 * i as f64 + 10.0 * (i as f64 * 0.3).sin())
            .collect();
        let trend = moving_average(&values, 100);
        assert!((trend[0] - 0.0).abs() < 3.0, "{}", trend[0]);
        assert!((trend[999] - 1998.0).abs() < 3.0, "{}", trend[999]);
    }

    #[test]
    fn profile_recovers_the_daily_shape_despite_a_spike() {
        let day = 48;
        let mut values: Vec<f64> = (0..day * 10)
            .map(|i| 10.0 * (2.0 * std::f64::consts::PI * i as f64 / day as f64).sin())
            .collect();
        values[day * 5 + 12] += 1000.0; // an incident spike
        let decomposition = decompose(&values, &[day]);
        let peak_phase = day / 4;
        assert!((decomposition.profiles[0][peak_phase] - 10.0).abs() < 0.5);
        assert!(decomposition.amplitude() > 19.0 && decomposition.amplitude() < 21.0);
    }
}
