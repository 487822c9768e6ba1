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

use augurs::seasons::{Detector, PeriodogramDetector};

/// A seasonal share of variance below this is treated as noise, not a cycle.
const MIN_STRENGTH: f64 = 0.12;
/// A period is only believed after this many cycles: with two, a trend and a cycle cannot be
/// told apart.
const MIN_CYCLES: usize = 3;
/// At most this many recent cycles feed a profile: enough for a robust median, recent enough
/// to follow a drifting pattern.
const MAX_CYCLES: usize = 8;
/// The earlier and later halves of the history must show patterns at least this correlated
/// for a period to be believed.
const MIN_REPEAT: f64 = 0.3;
/// The periodogram looks at no more than this many points (longer series are averaged down).
const PERIODOGRAM_POINTS: usize = 1024;

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

/// Calendar periods (day, week) in grid steps that the history covers three times, plus
/// periodogram peaks snapped to them. Returned ascending and deduplicated, before the tests of
/// [`select_periods`].
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
    // period is taken as that period. A long series is averaged down first: the cycles worth
    // finding are hours long, and the periodogram's cost grows with the points.
    if n >= 16 {
        let factor = n.div_ceil(PERIODOGRAM_POINTS).max(1);
        let reduced: Vec<f64> = if factor > 1 {
            values
                .chunks_exact(factor)
                .map(|c| c.iter().sum::<f64>() / factor as f64)
                .collect()
        } else {
            values.to_vec()
        };
        let detector = PeriodogramDetector::builder()
            .min_period(4)
            .max_period((reduced.len() / 2) as u32)
            .threshold(0.25)
            .build();
        for period in detector.detect(&reduced).into_iter().map(|p| p as usize * factor) {
            if period < 4 || n < MIN_CYCLES * period {
                continue;
            }
            let near_calendar = periods
                .iter()
                .any(|&c| (period as f64 - c as f64).abs() <= 0.06 * c as f64);
            let hours = period as f64 * step_secs / 3600.0;
            // Keep only other cycles that are a whole number of hours (cron-like jobs).
            let whole_hours = hours.round();
            if !near_calendar && whole_hours >= 1.0 && (hours - whole_hours).abs() < 0.05 * hours {
                let snapped = (whole_hours * 3600.0 / step_secs).round() as usize;
                if snapped >= 4 && n >= MIN_CYCLES * snapped {
                    periods.push(snapped);
                }
            }
        }
    }
    periods.sort_unstable();
    periods.dedup();
    periods
}

/// The periods of `decomposition` (made with every candidate) that explain at least
/// [`MIN_STRENGTH`] of the variance left once the trend is removed, and whose pattern repeats
/// between the earlier and later halves of the history.
pub fn select_periods(values: &[f64], decomposition: &Decomposition) -> Vec<usize> {
    if decomposition.periods.is_empty() {
        return Vec::new();
    }
    let n = values.len();
    let mut remainder: Vec<f64> = decomposition
        .deseasonalized
        .iter()
        .zip(&decomposition.trend)
        .map(|(d, t)| d - t)
        .collect();
    // One wild point must not decide what is noise: the remainder is clipped at five robust
    // standard deviations.
    let mut absolute: Vec<f64> = remainder.iter().map(|r| r.abs()).collect();
    let clip = 5.0 * 1.4826 * median(&mut absolute);
    if clip > 0.0 {
        remainder.iter_mut().for_each(|r| *r = r.clamp(-clip, clip));
    }
    let remainder_var = variance(&remainder);
    let mut with_season = vec![0.0; n];
    decomposition
        .periods
        .iter()
        .zip(&decomposition.profiles)
        .filter(|&(&period, profile)| {
            let mut phase = 0;
            for (slot, r) in with_season.iter_mut().zip(&remainder) {
                *slot = r + profile[phase];
                phase += 1;
                if phase == period {
                    phase = 0;
                }
            }
            let total = variance(&with_season);
            total > 0.0 && 1.0 - remainder_var / total >= MIN_STRENGTH && repeats(&with_season, period)
        })
        .map(|(&period, _)| period)
        .collect()
}

/// Whether the pattern of `period` in `series` (detrended, other seasons removed) in the
/// earlier half of its cycles resembles the pattern in the later half: the correlation of the
/// two phase-binned mean profiles. A step, a ramp or a one-off event leaves a "pattern" in one
/// half only.
fn repeats(series: &[f64], period: usize) -> bool {
    let cycles = series.len() / period;
    if cycles < 2 {
        return false;
    }
    let first = series.len() - cycles * period;
    let split = first + (cycles / 2) * period;
    let bins = period.min(48);
    let bin_of: Vec<usize> = (0..period).map(|phase| phase * bins / period).collect();
    let profile = |part: &[f64]| {
        let mut sums = vec![0.0; bins];
        let mut counts = vec![0usize; bins];
        for cycle in part.chunks_exact(period) {
            for (v, &bin) in cycle.iter().zip(&bin_of) {
                sums[bin] += v;
                counts[bin] += 1;
            }
        }
        sums.iter()
            .zip(&counts)
            .map(|(s, &c)| s / c.max(1) as f64)
            .collect::<Vec<f64>>()
    };
    correlation(&profile(&series[first..split]), &profile(&series[split..])) >= MIN_REPEAT
}

/// Pearson correlation; 0 when either side is constant.
fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len()) as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        ab += (x - ma) * (y - mb);
        aa += (x - ma) * (x - ma);
        bb += (y - mb) * (y - mb);
    }
    if aa > 0.0 && bb > 0.0 {
        ab / (aa * bb).sqrt()
    } else {
        0.0
    }
}

/// How the seasonal pattern of a history combines with its level, as measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModeChoice {
    pub mode: SeasonalMode,
    /// In growing mode, the swing's growth rate per grid step (continuously compounded) and
    /// the grid index where the profiles have their measured size.
    pub growth: f64,
    pub origin: f64,
}

/// Chooses how the seasonal pattern of `values` combines with its level, from an additive
/// decomposition of it: the swing of each cycle of the shortest period is measured (the least
/// squares factor of the profile that fits that cycle) next to its level.
///
/// - The swing follows the level (proportional to it explains at least half of how the
///   swings vary, the level moving by 5 % or more): multiplicative. A constant hump on a
///   growing base stays additive.
/// - Otherwise, the swing grows by a steady percentage with time (t ≥ 5, the growth explaining
///   at least 40 % of how the swings vary, and by 8 % or more over the history): growing.
/// - Otherwise: additive.
pub fn choose_mode(values: &[f64], additive: &Decomposition) -> ModeChoice {
    let additive_choice = ModeChoice {
        mode: SeasonalMode::Additive,
        growth: 0.0,
        origin: 0.0,
    };
    let Some(&shortest) = additive.periods.first() else {
        return additive_choice;
    };
    let n = values.len();
    let cycles = n / shortest;
    if cycles < 4 {
        return additive_choice;
    }
    let first = n - cycles * shortest;
    // (cycle index, level, swing) per cycle.
    let mut measured: Vec<(f64, f64, f64)> = Vec::with_capacity(cycles);
    for k in 0..cycles {
        let range = first + k * shortest..first + (k + 1) * shortest;
        let (mut fit, mut norm, mut level) = (0.0, 0.0, 0.0);
        for i in range {
            let s = additive.seasonal_at(i);
            fit += (values[i] - additive.trend[i]) * s;
            norm += s * s;
            level += additive.trend[i];
        }
        if norm > 0.0 {
            measured.push((k as f64, level / shortest as f64, fit / norm));
        }
    }
    // Cycles with an incident in them measure nothing: swings far from the others are dropped.
    let mut swings: Vec<f64> = measured.iter().map(|m| m.2).collect();
    let centre = median(&mut swings);
    let mut deviations: Vec<f64> = measured.iter().map(|m| (m.2 - centre).abs()).collect();
    let spread = 1.4826 * median(&mut deviations);
    if spread > 0.0 {
        measured.retain(|m| (m.2 - centre).abs() <= 5.0 * spread);
    }
    let k = measured.len();
    if k < 4 {
        return additive_choice;
    }
    let kf = k as f64;
    let mean_swing = measured.iter().map(|m| m.2).sum::<f64>() / kf;
    let constant_sse: f64 = measured.iter().map(|m| (m.2 - mean_swing).powi(2)).sum();
    if constant_sse <= 0.0 || mean_swing <= 0.0 {
        return additive_choice;
    }
    // Proportional to the level: swing = c × level / typical level.
    let mut levels: Vec<f64> = measured.iter().map(|m| m.1).collect();
    let typical = median(&mut levels);
    levels.sort_by(f64::total_cmp);
    let (low, high) = (levels[k / 10], levels[k - 1 - k / 10]);
    if low > 0.0 && high / low >= 1.05 && values.iter().all(|v| *v > 0.0) {
        let (mut num, mut den) = (0.0, 0.0);
        for m in &measured {
            let r = m.1 / typical;
            num += m.2 * r;
            den += r * r;
        }
        let c = num / den;
        let proportional_sse: f64 = measured.iter().map(|m| (m.2 - c * m.1 / typical).powi(2)).sum();
        if c > 0.0 && proportional_sse <= 0.5 * constant_sse {
            return ModeChoice {
                mode: SeasonalMode::Multiplicative,
                growth: 0.0,
                origin: 0.0,
            };
        }
    }
    // Growing with time: ln(swing) = a + b × cycle (a swing that grows by a steady
    // percentage), b significantly above zero.
    if k >= 7 && measured.iter().all(|m| m.2 > 0.0) {
        let logs: Vec<(f64, f64)> = measured.iter().map(|m| (m.0, m.2.ln())).collect();
        let mean_k = logs.iter().map(|m| m.0).sum::<f64>() / kf;
        let mean_log = logs.iter().map(|m| m.1).sum::<f64>() / kf;
        let (mut cov, mut var) = (0.0, 0.0);
        for m in &logs {
            cov += (m.0 - mean_k) * (m.1 - mean_log);
            var += (m.0 - mean_k).powi(2);
        }
        let slope = cov / var;
        let flat_sse: f64 = logs.iter().map(|m| (m.1 - mean_log).powi(2)).sum();
        let line_sse: f64 = logs
            .iter()
            .map(|m| (m.1 - mean_log - slope * (m.0 - mean_k)).powi(2))
            .sum();
        let standard_error = (line_sse / (kf - 2.0) / var).sqrt();
        let span = logs[k - 1].0 - logs[0].0;
        if slope > 0.0 && slope >= 5.0 * standard_error && line_sse <= 0.6 * flat_sse && slope * span >= 1.08f64.ln() {
            // The profiles were measured over the last cycles: their size is the swing at the
            // middle of those.
            let profile_cycles = cycles.min(MAX_CYCLES) as f64;
            let origin_cycle = cycles as f64 - profile_cycles / 2.0;
            return ModeChoice {
                mode: SeasonalMode::Growing,
                growth: slope / shortest as f64,
                origin: first as f64 + origin_cycle * shortest as f64,
            };
        }
    }
    additive_choice
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

/// The trend of `values` segment by segment, `breaks` being the ascending indices where a new
/// segment starts: a centred moving average of `window` within a segment long enough for it,
/// a least-squares line through a shorter one. A moving average across a level shift would
/// turn the step into a ramp a window wide.
pub fn segmented_trend(values: &[f64], window: usize, breaks: &[usize]) -> Vec<f64> {
    let n = values.len();
    let mut trend = Vec::with_capacity(n);
    let mut start = 0;
    for end in breaks.iter().copied().filter(|&b| b > 0 && b < n).chain([n]) {
        if end <= start {
            continue;
        }
        let segment = &values[start..end];
        if segment.len() >= window.max(2) {
            trend.extend(moving_average(segment, window));
        } else {
            let (intercept, slope) = least_squares_line(segment);
            trend.extend((0..segment.len()).map(|i| intercept + slope * i as f64));
        }
        start = end;
    }
    trend
}

/// Least-squares `(intercept, slope)` of `values` against their index.
pub fn least_squares_line(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    if values.len() < 2 {
        return (values.first().copied().unwrap_or(0.0), 0.0);
    }
    let mean_t = (n - 1.0) / 2.0;
    let (mut sum_y, mut sum_ty) = (0.0, 0.0);
    for (i, v) in values.iter().enumerate() {
        sum_y += v;
        sum_ty += i as f64 * v;
    }
    let mean_y = sum_y / n;
    // Σ (t − t̄)² over 0..n is n (n² − 1) / 12.
    let var = n * (n * n - 1.0) / 12.0;
    let cov = sum_ty - n * mean_t * mean_y;
    let slope = if var > 0.0 { cov / var } else { 0.0 };
    (mean_y - slope * mean_t, slope)
}

/// Centred moving average with window `window`. Where the window would run past either end,
/// the trend is extended linearly from the nearest full windows instead: a partial window over
/// a seasonal series is biased by the part of the cycle it happens to cover.
pub fn moving_average(values: &[f64], window: usize) -> Vec<f64> {
    let n = values.len();
    let window = window.clamp(1, n.max(1));
    let half = window / 2;
    // Grid points whose whole window lies inside the series.
    let first_full = half;
    let last_full = (n + half).saturating_sub(window);
    if n < window || last_full < first_full + 1 {
        let mean = values.iter().sum::<f64>() / n.max(1) as f64;
        return vec![mean; n];
    }
    let mut out = vec![0.0; n];
    // A running sum slides over the series; it is recomputed every few thousand steps so that
    // rounding errors cannot accumulate.
    let scale = 1.0 / window as f64;
    let mut i = first_full;
    while i <= last_full {
        let stop = (i + 4096).min(last_full + 1);
        let lo = i - half;
        let mut sum: f64 = values[lo..lo + window].iter().sum();
        out[i] = sum * scale;
        // Entering and leaving values for the points after `i`, up to `stop`.
        let entering = &values[lo + window..stop - half + window - 1];
        let leaving = &values[lo..stop - half - 1];
        for ((slot, enter), leave) in out[i + 1..stop].iter_mut().zip(entering).zip(leaving) {
            sum += enter - leave;
            *slot = sum * scale;
        }
        i = stop;
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
    // Seasonal profiles take thousands of medians of four (weeks) or eight (days) values:
    // those have branch-free forms.
    if let &mut [a, b, c, d] = values
        && !(a.is_nan() || b.is_nan() || c.is_nan() || d.is_nan())
    {
        let low = a.min(b).min(c.min(d));
        let high = a.max(b).max(c.max(d));
        return (a + b + c + d - low - high) / 2.0;
    }
    if values.len() == 8 && values.iter().all(|v| !v.is_nan()) {
        return small_median(values);
    }
    let mid = values.len() / 2;
    // An insertion sort beats the general selection algorithm on a few values.
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

/// The median of `values` and their median absolute deviation from it (`values` end up
/// sorted). After sorting, the deviations fall toward the median and rise after it: their
/// median is found by walking outward from the middle, without a second sort.
pub fn median_and_mad(values: &mut [f64]) -> (f64, f64) {
    let k = values.len();
    if k == 0 {
        return (0.0, 0.0);
    }
    if k == 8 && values.iter().all(|v| !v.is_nan()) {
        sort8(values);
    } else if k == 4 && values.iter().all(|v| !v.is_nan()) {
        for (a, b) in [(0, 1), (2, 3), (0, 2), (1, 3), (1, 2)] {
            let (low, high) = (values[a].min(values[b]), values[a].max(values[b]));
            values[a] = low;
            values[b] = high;
        }
    } else {
        values.sort_unstable_by(f64::total_cmp);
    }
    let center = if k % 2 == 1 {
        values[k / 2]
    } else {
        (values[k / 2 - 1] + values[k / 2]) / 2.0
    };
    // Merge the two monotone runs of deviations, smallest first, up to the middle one(s).
    let (mut left, mut right) = (k / 2, k / 2);
    let mut next = || {
        let from_left = (left > 0).then(|| center - values[left - 1]);
        let from_right = (right < k).then(|| values[right] - center);
        match (from_left, from_right) {
            (Some(l), Some(r)) if l <= r => {
                left -= 1;
                l
            }
            (Some(l), None) => {
                left -= 1;
                l
            }
            (_, Some(r)) => {
                right += 1;
                r
            }
            (None, None) => 0.0,
        }
    };
    let mut previous = 0.0;
    for _ in 0..(k - 1) / 2 {
        previous = next();
    }
    let mad = if k % 2 == 1 {
        next()
    } else {
        let lower = if k >= 2 { next() } else { previous };
        let upper = next();
        (lower + upper) / 2.0
    };
    (center, mad.abs())
}

/// Sorts 8 values without NaN with a sorting network (no branches to mispredict).
fn sort8(values: &mut [f64]) {
    const NETWORK: [(usize, usize); 19] = [
        (0, 1),
        (2, 3),
        (4, 5),
        (6, 7),
        (0, 2),
        (1, 3),
        (4, 6),
        (5, 7),
        (1, 2),
        (5, 6),
        (0, 4),
        (3, 7),
        (1, 5),
        (2, 6),
        (1, 4),
        (3, 6),
        (2, 4),
        (3, 5),
        (3, 4),
    ];
    for (a, b) in NETWORK {
        let (low, high) = (values[a].min(values[b]), values[a].max(values[b]));
        values[a] = low;
        values[b] = high;
    }
}

/// The median of 8 values without NaN, through a sorting network.
fn small_median(values: &[f64]) -> f64 {
    let mut sorted = [0.0; 8];
    sorted.copy_from_slice(values);
    sort8(&mut sorted);
    (sorted[3] + sorted[4]) / 2.0
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
