//! Which seasonal periods a history has, and how its seasonal pattern combines with its level.

use augurs::seasons::{Detector, PeriodogramDetector};

use super::seasonal::{Decomposition, MAX_CYCLES, SeasonalMode};
use super::stats::*;

/// A seasonal share of variance below this is treated as noise, not a cycle.
const MIN_STRENGTH: f64 = 0.12;
/// A period is only believed after this many cycles: with two, a trend and a cycle cannot be
/// told apart.
const MIN_CYCLES: usize = 3;
/// The earlier and later halves of the history must show patterns at least this correlated
/// for a period to be believed.
const MIN_REPEAT: f64 = 0.3;
/// The periodogram looks at no more than this many points (longer series are averaged down).
const PERIODOGRAM_POINTS: usize = 1024;

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
