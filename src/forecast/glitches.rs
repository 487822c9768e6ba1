//! Glitches: single samples and short bursts that come straight back.
//!
//! `rate()` over a counter gives one absurd point when a new series' first value is taken as an
//! increase from zero; a restart gives a few minutes at zero; a runaway job gives a 20-minute
//! burst. None of these says anything about the future, yet one point at 1e9 dominates every
//! variance, least-squares line and backtest error it touches. They are taken out of the
//! series before anything is fitted on it.
//!
//! A point is a glitch when it lies far from the running median of its neighbourhood (about
//! half an hour either side), in a run short enough for that median to ignore, that is back at
//! the median before the history ends, and that does not recur at the same time of day or week
//! (a nightly job's spike is a season, not a glitch). Running medians keep steps and ramps
//! intact, so level shifts, cleanups and sawtooth resets are never glitches.

use super::seasonal::median;

/// How far (in robust scale units) from the running median a glitch lies.
const THRESHOLD: f64 = 12.0;
/// Seconds either side of a point in its neighbourhood.
const REACH_SECS: f64 = 1800.0;

/// Replaces glitches in `values` (on a grid of `step_secs`) by interpolation between their
/// neighbours; returns how many points were replaced.
pub fn remove_glitches(values: &mut [f64], step_secs: f64) -> usize {
    let n = values.len();
    let reach = ((REACH_SECS / step_secs).round() as usize).clamp(2, 60);
    if n < 4 * reach + 4 {
        return 0;
    }
    let scale = robust_scale(values);
    let limit = THRESHOLD * scale;
    // A point of a glitch (a run of at most `reach` points) differs from the points just
    // beyond the run on both sides, which are at most `reach + 1` steps away: only points that
    // differ that much from both are candidates, and only they get their running median.
    let far = reach + 1;
    let mut residuals = Residuals::new(values, reach);
    let flagged: Vec<bool> = (0..n)
        .map(|i| {
            let left = (i >= far).then(|| (values[i] - values[i - far]).abs());
            let right = (i + far < n).then(|| (values[i] - values[i + far]).abs());
            let apart = match (left, right) {
                (Some(l), Some(r)) => l.min(r),
                (Some(d), None) | (None, Some(d)) => d,
                (None, None) => 0.0,
            };
            apart > limit / 2.0 && residuals.at(i).abs() > limit
        })
        .collect();
    let day = (86_400.0 / step_secs).round() as usize;
    let week = 7 * day;
    let back = (reach / 2).max(2);
    // (start, stop, peak |residual|) of each glitch.
    let mut runs: Vec<(usize, usize, f64)> = Vec::new();
    let mut i = 0;
    while i < n {
        if !flagged[i] {
            i += 1;
            continue;
        }
        let mut end = i;
        while end < n && flagged[end] {
            end += 1;
        }
        // Take the ramp into and out of the glitch with it: neighbours on the same side of the
        // median by more than a third of the threshold.
        let sign = residuals.at(i).signum();
        let (mut start, mut stop) = (i, end);
        while start > 0 && i - start < reach && {
            let r = residuals.at(start - 1);
            r.signum() == sign && r.abs() > limit / 3.0
        } {
            start -= 1;
        }
        while stop < n && stop - end < reach && {
            let r = residuals.at(stop);
            r.signum() == sign && r.abs() > limit / 3.0
        } {
            stop += 1;
        }
        let short = stop - start <= reach;
        let came_back = start >= back && stop + back <= n && !flagged[stop..stop + back].iter().any(|&f| f);
        if short && came_back && !(i..end).any(|j| residuals.recurs(j, &[day, week])) {
            let peak = (i..end).map(|j| residuals.at(j).abs()).fold(0.0f64, f64::max);
            runs.push((start, stop, peak));
        }
        i = end;
    }
    // Glitches are rare: about one a week at most. A series with more such bursts (tweets, a
    // busy queue) is bursty by nature: there only a burst far beyond most others (a counter
    // reset's absurd rate) is one.
    let weeks = n as f64 * step_secs / (7.0 * 86_400.0);
    let rare = (weeks.ceil() as usize).max(2);
    if runs.len() > rare {
        let mut peaks: Vec<f64> = runs.iter().map(|r| r.2).collect();
        peaks.sort_by(f64::total_cmp);
        let typical = peaks[(peaks.len() * 3) / 4];
        runs.retain(|r| r.2 > 5.0 * typical);
    }
    let mut replaced = 0;
    for (start, stop, _) in runs {
        let (left, right) = (values[start - 1], values[stop]);
        let span = (stop - start + 1) as f64;
        for (k, value) in values[start..stop].iter_mut().enumerate() {
            *value = left + (right - left) * (k + 1) as f64 / span;
        }
        replaced += stop - start;
    }
    replaced
}

/// Each point's distance from the median of its window (`reach` points either side, fewer at
/// the ends), computed when first asked for.
struct Residuals<'a> {
    values: &'a [f64],
    reach: usize,
    known: Vec<f64>,
    window: Vec<f64>,
}

impl<'a> Residuals<'a> {
    fn new(values: &'a [f64], reach: usize) -> Self {
        Residuals {
            values,
            reach,
            known: vec![f64::NAN; values.len()],
            window: Vec::with_capacity(2 * reach + 1),
        }
    }

    fn at(&mut self, i: usize) -> f64 {
        if self.known[i].is_nan() {
            let lo = i.saturating_sub(self.reach);
            let hi = (i + self.reach + 1).min(self.values.len());
            self.window.clear();
            self.window.extend_from_slice(&self.values[lo..hi]);
            self.known[i] = self.values[i] - median(&mut self.window);
        }
        self.known[i]
    }

    /// Whether the deviation at `i` recurs one of `periods` earlier or later (give or take two
    /// steps): a season, not a glitch.
    fn recurs(&mut self, i: usize, periods: &[usize]) -> bool {
        let n = self.values.len();
        let r = self.at(i);
        let shortest = 2 * self.reach;
        for &period in periods.iter().filter(|&&p| p >= shortest && p < n) {
            for centre in [i.checked_sub(period), (i + period < n).then_some(i + period)]
                .into_iter()
                .flatten()
            {
                for j in centre.saturating_sub(2)..=(centre + 2).min(n - 1) {
                    let other = self.at(j);
                    if other.signum() == r.signum() && other.abs() >= 0.5 * r.abs() {
                        return true;
                    }
                }
            }
        }
        false
    }
}

/// The scale deviations are judged on: the larger of the noise (robust standard deviation of
/// second differences) and the median step-to-step change (a smooth noise-free series has no
/// noise but real steps). A series that barely ever moves gets a scale just above zero, so
/// any isolated blip stands out.
fn robust_scale(values: &[f64]) -> f64 {
    // Every other point is plenty for a median of thousands.
    let mut second: Vec<f64> = values
        .windows(3)
        .step_by(2)
        .map(|w| (w[2] - 2.0 * w[1] + w[0]).abs())
        .collect();
    let noise = 1.4826 * median(&mut second) / 6f64.sqrt();
    let mut steps: Vec<f64> = values.windows(2).step_by(2).map(|w| (w[1] - w[0]).abs()).collect();
    let typical_step = median(&mut steps);
    // The typical size of the values (not the largest: that may be the glitch).
    let mut sizes: Vec<f64> = values.iter().step_by(4).map(|v| v.abs()).collect();
    let magnitude = median(&mut sizes);
    noise.max(typical_step).max(1e-9 * magnitude).max(f64::MIN_POSITIVE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::testing::noise;

    const STEP: f64 = 300.0;
    const DAY: usize = 288;

    fn daily(i: usize) -> f64 {
        (2.0 * std::f64::consts::PI * i as f64 / DAY as f64).sin()
    }

    #[test]
    fn a_spike_a_dip_and_a_burst_go_a_season_stays() {
        let truth = |i: usize| 500.0 + 200.0 * daily(i);
        // Three weeks: three glitches are rare enough.
        let n = 21 * DAY;
        let mut values: Vec<f64> = (0..n).map(|i| truth(i) + 5.0 * noise(i, 2)).collect();
        values[3 * DAY + 40] = 4e9;
        for v in &mut values[5 * DAY + 7..5 * DAY + 10] {
            *v = 0.0;
        }
        for v in &mut values[n - 30..n - 25] {
            *v += 150.0;
        }
        let original = values.clone();
        let replaced = remove_glitches(&mut values, STEP);
        assert!((9..=16).contains(&replaced), "replaced {replaced}");
        let worst = (0..n).map(|i| (values[i] - truth(i)).abs()).fold(0.0, f64::max);
        assert!(worst < 20.0, "worst {worst}");
        // Everything else is untouched.
        let touched = (0..n).filter(|&i| values[i] != original[i]).count();
        assert_eq!(touched, replaced);
    }

    #[test]
    fn steps_sawtooth_resets_and_daily_spikes_are_not_glitches() {
        let n = 8 * DAY;
        // A level shift two hours before the end, a nightly reset, and a 10-minute job at 02:00.
        let mut values: Vec<f64> = (0..n)
            .map(|i| {
                let shift = if i >= n - 24 { 40.0 } else { 0.0 };
                let fill = (i % DAY) as f64 * 0.1;
                let job = if i % DAY == 24 || i % DAY == 25 { 60.0 } else { 0.0 };
                100.0 + shift + fill + job + 0.2 * noise(i, 3)
            })
            .collect();
        let original = values.clone();
        assert_eq!(remove_glitches(&mut values, STEP), 0);
        assert_eq!(values, original);
    }

    #[test]
    fn a_bursty_series_keeps_its_bursts_but_not_an_absurd_one() {
        // Tweets: a burst of 2 to 4 points every day or two, of varying size.
        let n = 14 * DAY;
        let mut values: Vec<f64> = (0..n).map(|i| 50.0 + 20.0 * daily(i) + 2.0 * noise(i, 5)).collect();
        let mut at = 100;
        while at + 10 < n {
            let size = 60.0 + 40.0 * noise(at, 6);
            for v in &mut values[at..at + 2 + at % 3] {
                *v += size;
            }
            at += 200 + (noise(at, 7).abs() * 300.0) as usize;
        }
        values[9 * DAY + 7] = 1e9;
        let original = values.clone();
        assert_eq!(remove_glitches(&mut values, STEP), 1);
        assert_eq!((0..n).filter(|&i| values[i] != original[i]).count(), 1);
        assert!(values[9 * DAY + 7] < 200.0);
    }

    #[test]
    fn a_blip_in_a_noise_free_count_goes() {
        let mut values: Vec<f64> = (0..2000).map(|i| if i < 1500 { 40.0 } else { 55.0 }).collect();
        values[700] = 41.0;
        assert_eq!(remove_glitches(&mut values, STEP), 1);
        assert_eq!(values[700], 40.0);
        assert_eq!(values[1500], 55.0);
    }
}
