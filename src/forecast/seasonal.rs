//! Seasonal periods and a robust seasonal decomposition.
//!
//! Infrastructure load follows the clock: a daily cycle, often a weekly one. Periods are
//! proposed from the calendar (day, week, in grid steps) plus whatever augurs' periodogram
//! finds (snapped to the nearest calendar period, since its Welch grid never lands exactly on
//! 288 or 2016). A period is kept only if it explains a real share of the variance and repeats:
//! the pattern of the earlier half of the history must resemble that of the later half.
//!
//! The decomposition is MSTL-shaped but built for speed and robustness: a moving-average trend
//! over the longest period, computed **within** each segment between level shifts (a moving
//! average across a step smears it into a ramp that every profile would then learn), then one
//! profile per period from the per-phase **median** of the recent cycles, so an incident spike
//! on one day does not become part of every day.
//!
//! How the pattern combines with the level is decided by the data ([`choose_mode`]): the
//! swing of each day is measured and compared with that day's level and with time.

pub use super::periods::{ModeChoice, candidate_periods, choose_mode, select_periods};
pub use super::stats::{least_squares_line, median, median_and_mad, moving_average, segmented_trend, variance};

/// At most this many recent cycles feed a profile: enough for a robust median, recent enough
/// to follow a drifting pattern.
pub(super) const MAX_CYCLES: usize = 8;

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
    /// The swing grows on its own by a steady percentage while the level does what it does (a
    /// daily peak that rises a few percent a week over a flat mean): `level + e^(g·t) × season`.
    Growing,
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
    /// The trend the profiles were measured against (segment by segment), in the input's units
    /// (on the log scale in multiplicative mode).
    pub trend: Vec<f64>,
    /// In growing mode, the swing's growth rate per grid step (continuously compounded), and
    /// the grid index where the profiles have their measured size.
    pub growth: f64,
    pub growth_origin: f64,
    /// The summed profiles over the periods' least common multiple, when that is not huge:
    /// one lookup per point instead of one per period.
    combined: Option<Vec<f64>>,
    /// In multiplicative mode, `exp` of `combined`: the factor itself, ready to multiply.
    factors: Option<Vec<f64>>,
}

/// Longest combined profile worth precomputing.
const MAX_COMBINED: usize = 1 << 20;

impl Decomposition {
    fn new(
        mode: SeasonalMode,
        periods: Vec<usize>,
        profiles: Vec<Vec<f64>>,
        deseasonalized: Vec<f64>,
        trend: Vec<f64>,
    ) -> Self {
        let mut decomposition = Decomposition {
            mode,
            periods,
            profiles,
            deseasonalized,
            trend,
            growth: 0.0,
            growth_origin: 0.0,
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
            Some(l) if !self.periods.is_empty() => {
                let mut combined = vec![0.0; l];
                for (&period, profile) in self.periods.iter().zip(&self.profiles) {
                    for cycle in combined.chunks_mut(period) {
                        for (c, p) in cycle.iter_mut().zip(profile) {
                            *c += p;
                        }
                    }
                }
                Some(combined)
            }
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

    /// The summed seasonal component at grid index `index` (may lie past the history), before
    /// any growth of the swing.
    pub fn seasonal_at(&self, index: usize) -> f64 {
        match &self.combined {
            Some(combined) => combined[index % combined.len()],
            None => self.sum_profiles(index),
        }
    }

    /// How large the swing is at grid index `index`, relative to the profiles (1 except in
    /// growing mode).
    pub fn swing_at(&self, index: usize) -> f64 {
        if self.mode == SeasonalMode::Growing {
            (self.growth * (index as f64 - self.growth_origin)).exp()
        } else {
            1.0
        }
    }

    /// Puts the seasonal pattern back onto a deseasonalised `value` at grid index `index`.
    pub fn reseason(&self, index: usize, value: f64) -> f64 {
        match self.mode {
            SeasonalMode::Additive => value + self.seasonal_at(index),
            SeasonalMode::Growing => value + self.swing_at(index) * self.seasonal_at(index),
            SeasonalMode::Multiplicative => match &self.factors {
                Some(factors) => value * factors[index % factors.len()],
                None => value * self.seasonal_at(index).exp(),
            },
        }
    }

    /// Takes the seasonal pattern out of `value` observed at grid index `index` (the inverse of
    /// [`Decomposition::reseason`]).
    pub fn deseason(&self, index: usize, value: f64) -> f64 {
        match self.mode {
            SeasonalMode::Additive => value - self.seasonal_at(index),
            SeasonalMode::Growing => value - self.swing_at(index) * self.seasonal_at(index),
            SeasonalMode::Multiplicative => value / self.reseason(index, 1.0),
        }
    }

    /// [`Decomposition::deseason`] of every value of `values` (the first at grid index 0).
    pub fn deseason_all(&self, values: &[f64]) -> Vec<f64> {
        match (&self.combined, self.mode) {
            (Some(combined), SeasonalMode::Additive) => {
                let mut out = Vec::with_capacity(values.len());
                for chunk in values.chunks(combined.len()) {
                    out.extend(chunk.iter().zip(combined).map(|(v, s)| v - s));
                }
                out
            }
            _ => values.iter().enumerate().map(|(i, &v)| self.deseason(i, v)).collect(),
        }
    }

    /// Peak-to-trough amplitude of the seasonal pattern over the longest period, in the input's
    /// units at its latest deseasonalised level (and swing).
    pub fn amplitude(&self) -> f64 {
        let Some(&longest) = self.periods.last() else {
            return 0.0;
        };
        let n = self.deseasonalized.len();
        let level = self.deseasonalized.last().copied().unwrap_or(0.0);
        let swing = self.swing_at(n.saturating_sub(1));
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for i in n..n + longest {
            let s = match self.mode {
                SeasonalMode::Multiplicative => self.reseason(i, level),
                _ => level + swing * self.seasonal_at(i),
            };
            lo = lo.min(s);
            hi = hi.max(s);
        }
        if hi >= lo { hi - lo } else { 0.0 }
    }

    /// Makes this additive decomposition a growing one: the swing at index `i` is
    /// `e^(growth × (i − origin))` times the profiles, and `values` are deseasonalised again
    /// accordingly.
    pub fn with_growth(mut self, values: &[f64], growth: f64, origin: f64) -> Self {
        self.mode = SeasonalMode::Growing;
        self.growth = growth;
        self.growth_origin = origin;
        self.combine();
        self.deseasonalized = values.iter().enumerate().map(|(i, &v)| self.deseason(i, v)).collect();
        self
    }
}

/// Robust decomposition in `mode` (multiplicative needs positive values; growing starts
/// additive and is applied with [`Decomposition::with_growth`]), with the trend computed within
/// the segments that `breaks` (ascending indices where a level shift starts a segment)
/// delimit.
pub fn decompose(
    values: &[f64],
    periods: &[usize],
    mode: SeasonalMode,
    passes: usize,
    breaks: &[usize],
) -> Decomposition {
    decompose_with_logs(values, None, periods, mode, passes, breaks)
}

/// [`decompose`] with the logarithms of `values` already computed.
pub fn decompose_with_logs(
    values: &[f64],
    logs: Option<&[f64]>,
    periods: &[usize],
    mode: SeasonalMode,
    passes: usize,
    breaks: &[usize],
) -> Decomposition {
    if mode != SeasonalMode::Multiplicative || values.iter().any(|v| *v <= 0.0) {
        return decompose_additive(values, periods, passes, breaks);
    }
    let computed;
    let logs = match logs {
        Some(logs) if logs.len() == values.len() => logs,
        _ => {
            computed = values.iter().map(|v| v.ln()).collect::<Vec<f64>>();
            &computed
        }
    };
    let mut decomposition = decompose_additive(logs, periods, passes, breaks);
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

/// Robust additive decomposition with the given periods (ascending) and trend segments.
fn decompose_additive(values: &[f64], periods: &[usize], passes: usize, breaks: &[usize]) -> Decomposition {
    let n = values.len();
    let periods: Vec<usize> = periods.iter().copied().filter(|&p| p >= 2 && 2 * p <= n).collect();
    let profiles: Vec<Vec<f64>> = periods.iter().map(|&p| vec![0.0; p]).collect();
    backfit(values, periods, profiles, passes, breaks)
}

impl Decomposition {
    /// `passes` more passes of this additive decomposition of the same `values`, from its
    /// profiles.
    pub fn refine(self, values: &[f64], passes: usize) -> Decomposition {
        backfit(values, self.periods, self.profiles, passes, &[])
    }
}

/// Backfitting: each pass fits the trend to the series minus the seasons, then each period's
/// profile to what the trend and the other periods leave.
fn backfit(
    values: &[f64],
    periods: Vec<usize>,
    mut profiles: Vec<Vec<f64>>,
    passes: usize,
    breaks: &[usize],
) -> Decomposition {
    let n = values.len();
    if periods.is_empty() {
        let trend = segmented_trend(values, 1, breaks);
        return Decomposition::new(SeasonalMode::Additive, periods, profiles, values.to_vec(), trend);
    }
    let longest = *periods.last().unwrap_or(&1);
    let mut seasonal_total = vec![0.0; n];
    for (&period, profile) in periods.iter().zip(&profiles) {
        for cycle in seasonal_total.chunks_mut(period) {
            for (total, p) in cycle.iter_mut().zip(profile) {
                *total += p;
            }
        }
    }
    let mut residual = vec![0.0; n];
    let mut deseasonalized: Vec<f64> = values.iter().zip(&seasonal_total).map(|(v, s)| v - s).collect();
    // The trend of the last pass is the one kept: the profiles moved little in that pass.
    let mut trend = Vec::new();
    for _pass in 0..passes.max(1) {
        trend = segmented_trend(&deseasonalized, longest, breaks);
        for k in 0..periods.len() {
            let period = periods[k];
            // What is left for this period: data minus trend minus the other periods (the
            // running total minus this period's own previous profile).
            let own = &profiles[k];
            let cycles = residual
                .chunks_mut(period)
                .zip(values.chunks(period))
                .zip(trend.chunks(period).zip(seasonal_total.chunks(period)));
            for ((r, v), (t, total)) in cycles {
                for j in 0..r.len() {
                    r[j] = v[j] - t[j] - (total[j] - own[j]);
                }
            }
            let updated = phase_profile(&residual, period);
            for cycle in seasonal_total.chunks_mut(period) {
                for (j, total) in cycle.iter_mut().enumerate() {
                    *total += updated[j] - own[j];
                }
            }
            profiles[k] = updated;
        }
        for ((d, v), s) in deseasonalized.iter_mut().zip(values).zip(&seasonal_total) {
            *d = v - s;
        }
    }
    Decomposition::new(SeasonalMode::Additive, periods, profiles, deseasonalized, trend)
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
        let (center, mad) = median_and_mad(&mut bucket);
        *slot = center;
        let sigma = 1.4826 * mad;
        // The variance of a median of k values is about (pi / 2) sigma^2 / k.
        noise_variance += std::f64::consts::FRAC_PI_2 * sigma * sigma / bucket.len().max(1) as f64;
    }
    noise_variance /= period as f64;
    // Smooth with a circular moving average so that each profile has ~96 points of
    // resolution per cycle: the median of a few cycles is still noisy point to point.
    let window = (period / 96).max(1);
    if window > 1 {
        let half = window / 2;
        let mut smoothed = vec![0.0; period];
        // The profile, wrapped around by a window at each end.
        let wrapped: Vec<f64> = profile[period - half..]
            .iter()
            .chain(&profile)
            .chain(&profile[..window])
            .copied()
            .collect();
        let mut sum: f64 = wrapped[..window].iter().sum();
        for (i, slot) in smoothed.iter_mut().enumerate() {
            *slot = sum / window as f64;
            sum += wrapped[i + window] - wrapped[i];
        }
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

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
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

    fn selected(values: &[f64], step: f64) -> Vec<usize> {
        let candidates = candidate_periods(values, step);
        select_periods(values, &decompose(values, &candidates, SeasonalMode::Additive, 2, &[]))
    }

    #[test]
    fn finds_daily_and_weekly_cycles_at_five_minutes() {
        let values = daily_weekly(28 * 288, 288);
        let candidates = candidate_periods(&values, 300.0);
        assert!(
            candidates.contains(&288) && candidates.contains(&2016),
            "{candidates:?}"
        );
        assert_eq!(selected(&values, 300.0), vec![288, 2016]);
    }

    #[test]
    fn a_trend_without_cycles_has_no_season() {
        let values: Vec<f64> = (0..4000)
            .map(|i| 5.0 + 0.3 * i as f64 + ((i * 7919) % 13) as f64 * 0.1)
            .collect();
        assert!(selected(&values, 300.0).is_empty());
    }

    #[test]
    fn a_step_is_not_a_season_once_the_trend_is_segmented() {
        // Flat, then a step a week before the end: a moving average across the step would
        // leave a weekly "pattern"; segments at the step leave none.
        let values: Vec<f64> = (0..28 * 288).map(|i| if i < 21 * 288 { 40.0 } else { 55.0 }).collect();
        let candidates = vec![288, 2016];
        let segmented = decompose(&values, &candidates, SeasonalMode::Additive, 2, &[21 * 288]);
        assert!(select_periods(&values, &segmented).is_empty());
        assert!(
            segmented
                .deseasonalized
                .iter()
                .zip(&values)
                .all(|(d, v)| (d - v).abs() < 1e-9)
        );
    }

    #[test]
    fn medians_of_small_and_large_slices() {
        for k in 1..=12 {
            let values: Vec<f64> = (0..k).map(|i| ((i * 7919) % 13) as f64 - 6.0).collect();
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            let expected = if k % 2 == 1 {
                sorted[k / 2]
            } else {
                (sorted[k / 2 - 1] + sorted[k / 2]) / 2.0
            };
            assert_eq!(median(&mut values.clone()), expected, "{k} values");
        }
        for k in 1..=12 {
            let values: Vec<f64> = (0..k).map(|i| ((i * 5087) % 17) as f64 * 0.5 - 3.0).collect();
            let center = median(&mut values.clone());
            let mut deviations: Vec<f64> = values.iter().map(|v| (v - center).abs()).collect();
            let mad = median(&mut deviations);
            assert_eq!(median_and_mad(&mut values.clone()), (center, mad), "{k} values");
        }
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
        let decomposition = decompose(&values, &[day], SeasonalMode::Additive, 2, &[]);
        let peak_phase = day / 4;
        assert!((decomposition.profiles[0][peak_phase] - 10.0).abs() < 0.5);
        assert!(decomposition.amplitude() > 19.0 && decomposition.amplitude() < 21.0);
    }

    #[test]
    fn the_mode_follows_what_the_swing_does() {
        let day = 96;
        let days = 28;
        let shape = |i: usize| (2.0 * std::f64::consts::PI * (i % day) as f64 / day as f64).sin();
        let noise = |i: usize| crate::forecast::testing::noise(i, 31);
        let choose = |values: &[f64]| {
            let additive = decompose(values, &[day], SeasonalMode::Additive, 2, &[]);
            choose_mode(values, &additive).mode
        };
        // A constant swing on a base that doubles: additive.
        let hump: Vec<f64> = (0..days * day)
            .map(|i| 100.0 + 100.0 * i as f64 / (days * day) as f64 + 20.0 * shape(i) + noise(i))
            .collect();
        assert_eq!(choose(&hump), SeasonalMode::Additive);
        // A swing proportional to that base: multiplicative.
        let traffic: Vec<f64> = (0..days * day)
            .map(|i| {
                let level = 100.0 + 100.0 * i as f64 / (days * day) as f64;
                level * (1.0 + 0.3 * shape(i)) + noise(i)
            })
            .collect();
        assert_eq!(choose(&traffic), SeasonalMode::Multiplicative);
        // A flat base whose swing grows 3 % a week: growing.
        let peaks: Vec<f64> = (0..days * day)
            .map(|i| 100.0 + 30.0 * 1.03f64.powf(i as f64 / (7 * day) as f64) * shape(i) + 0.5 * noise(i))
            .collect();
        assert_eq!(choose(&peaks), SeasonalMode::Growing);
    }
}
