//! The candidate forecasting methods, each fitted on the deseasonalised current regime.
//!
//! No single method wins on operations data: a disk fills linearly, a request rate follows
//! its week, a CPU series after a deploy just sits at a new level, a cache fills toward a
//! plateau. The engine backtests the candidates on the series' own past and keeps the one that
//! forecast it best ([`super::backtest`]).

use std::borrow::Cow;

use super::seasonal::{Decomposition, least_squares_line, median};

/// A forecasting method the engine can choose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Repeat the last full cycle of the longest season (with excursions taken out).
    SeasonalNaive,
    /// Seasonal profile on a flat level (the median of the last day of deseasonalised values).
    SeasonalLevel,
    /// Seasonal profile on a flat level (the median of the whole current regime, up to two
    /// weeks): steadier than the last day for noisy series that do not drift.
    SeasonalRegimeLevel,
    /// Seasonal profile on a least-squares line through the current regime.
    SeasonalLinear,
    /// Seasonal profile on a damped Holt trend fitted to the current regime.
    SeasonalDamped,
    /// Seasonal profile on a constant-percentage growth (a line through the logarithm of the
    /// regime): compounding growth, for multiplicative series only.
    ExponentialTrend,
    /// Seasonal profile on a growth that slows toward a plateau (`a − b·e^(−t/τ)` fitted since
    /// the last jump of the level): a cache warming up, retention reaching its steady state. A
    /// candidate only when the history shows the slowing down.
    SaturatingTrend,
    /// A counter or cumulative series: its increments, with their own daily and weekly
    /// pattern, at the mean rate of the last day, added up.
    RecentIncrements,
    /// A counter or cumulative series: its increments, with their own daily and weekly
    /// pattern, at the mean rate of the last week, added up.
    SeasonalIncrements,
    /// The series never changed.
    Constant,
}

impl Method {
    /// Every method, in the order candidates are tried (ties go to the earlier).
    pub const ALL: [Method; 10] = [
        Method::SeasonalLevel,
        Method::SeasonalRegimeLevel,
        Method::SeasonalLinear,
        Method::SeasonalDamped,
        Method::SeasonalNaive,
        Method::ExponentialTrend,
        Method::SaturatingTrend,
        Method::SeasonalIncrements,
        Method::RecentIncrements,
        Method::Constant,
    ];

    /// A short stable name (used in metrics labels and JSON).
    pub fn name(self) -> &'static str {
        match self {
            Method::SeasonalNaive => "seasonal_naive",
            Method::SeasonalLevel => "level",
            Method::SeasonalRegimeLevel => "regime_level",
            Method::SeasonalLinear => "linear_trend",
            Method::SeasonalDamped => "damped_trend",
            Method::ExponentialTrend => "exponential_trend",
            Method::SaturatingTrend => "saturating_trend",
            Method::RecentIncrements => "recent_increments",
            Method::SeasonalIncrements => "seasonal_increments",
            Method::Constant => "constant",
        }
    }

    /// Whether the method forecasts no growth at all (a level, or a repeated cycle).
    pub fn is_flat(self) -> bool {
        matches!(
            self,
            Method::SeasonalNaive | Method::SeasonalLevel | Method::SeasonalRegimeLevel | Method::Constant
        )
    }
}

/// A history prepared for forecasting: decomposed, with its current regime located.
pub struct Prepared<'a> {
    pub values: &'a [f64],
    pub decomposition: &'a Decomposition,
    /// The deseasonalised series with excursions interpolated away: what level and trend are
    /// fitted on.
    pub level_series: Cow<'a, [f64]>,
    pub regime_start: usize,
    /// Where the level last jumped: growth curves run from there, across changes of slope.
    pub trend_start: usize,
    /// Grid steps in a day (at least 1).
    pub steps_per_day: usize,
    /// The damped trend's smoothing parameters, when already chosen (a backtest reuses those
    /// of the whole history at every origin).
    pub damping: Option<Damping>,
}

impl Prepared<'_> {
    fn regime(&self) -> &[f64] {
        &self.level_series[self.regime_start..]
    }
}

/// Forecasts `horizon` steps past the end of `prepared.values` with `method`.
pub fn predict(method: Method, prepared: &Prepared<'_>, horizon: usize) -> Vec<f64> {
    let n = prepared.values.len();
    level_path(method, prepared, horizon)
        .into_iter()
        .enumerate()
        .map(|(h, level)| prepared.decomposition.reseason(n + h, level))
        .collect()
}

/// The deseasonalised level `method` forecasts at each of the `horizon` steps past the end.
pub fn level_path(method: Method, prepared: &Prepared<'_>, horizon: usize) -> Vec<f64> {
    let n = prepared.values.len();
    match method {
        Method::Constant => vec![prepared.values[n - 1]; horizon],
        Method::SeasonalNaive => {
            // Repeat the last cycle as it would have been without its excursions: last week's
            // outage should not be forecast to happen again.
            let period = prepared.decomposition.periods.last().copied().unwrap_or(1).min(n);
            (0..horizon)
                .map(|h| prepared.level_series[n - period + h % period])
                .collect()
        }
        Method::SeasonalLevel => vec![recent_level(prepared); horizon],
        Method::SeasonalRegimeLevel => {
            let regime = prepared.regime();
            let steps_per_two_weeks = prepared.steps_per_day * 14;
            let mut tail = regime[regime.len().saturating_sub(steps_per_two_weeks.max(12))..].to_vec();
            vec![median(&mut tail); horizon]
        }
        Method::SeasonalLinear => line_ahead(prepared.regime(), horizon),
        Method::ExponentialTrend => {
            let regime = prepared.regime();
            if regime.iter().any(|v| *v <= 0.0) {
                return line_ahead(regime, horizon);
            }
            let logs: Vec<f64> = regime.iter().map(|v| v.ln()).collect();
            line_ahead(&logs, horizon).into_iter().map(f64::exp).collect()
        }
        Method::SaturatingTrend => {
            let stretch = &prepared.level_series[prepared.trend_start.min(prepared.regime_start)..];
            match saturating_fit(stretch) {
                Some(fit) => (0..horizon).map(|h| fit.at((stretch.len() + h) as f64)).collect(),
                None => line_ahead(prepared.regime(), horizon),
            }
        }
        Method::SeasonalDamped => {
            let window = damped_window(prepared.regime(), prepared.steps_per_day);
            let damping = prepared.damping.unwrap_or_else(|| damping_for(window));
            let (level, trend, _) = damped_run(window, damping);
            let phi = damping.2;
            let mut damping = 0.0;
            let mut factor = 1.0;
            (0..horizon)
                .map(|_| {
                    factor *= phi;
                    damping += factor;
                    level + damping * trend
                })
                .collect()
        }
        // Counters are forecast by their increments ([`super::counter`]); on a level series
        // the nearest equivalent is the regime's line.
        Method::RecentIncrements | Method::SeasonalIncrements => line_ahead(prepared.regime(), horizon),
    }
}

/// The least-squares line through `values`, continued `horizon` steps past their end.
fn line_ahead(values: &[f64], horizon: usize) -> Vec<f64> {
    let (intercept, slope) = least_squares_line(values);
    let end = values.len() as f64;
    (0..horizon).map(|h| intercept + slope * (end + h as f64)).collect()
}

/// The median of the last day (or the shortest season, or 24 steps) of the current regime.
fn recent_level(prepared: &Prepared<'_>) -> f64 {
    let regime = prepared.regime();
    let window = prepared
        .decomposition
        .periods
        .first()
        .copied()
        .unwrap_or(24)
        .max(12)
        .min(regime.len());
    let mut tail = regime[regime.len() - window..].to_vec();
    median(&mut tail)
}

/// `a + b·e^(−t/τ)`: a growth (or decline) that slows toward the plateau `a`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Saturating {
    pub plateau: f64,
    pub gap: f64,
    pub tau: f64,
    /// Squared error of this fit and of a straight line, on the regime averaged into at most
    /// 128 blocks.
    pub sse: f64,
    pub line_sse: f64,
    /// The slope of the fit at the end of the regime, and the slope of the straight line.
    pub end_slope: f64,
    pub line_slope: f64,
}

impl Saturating {
    /// The fitted value at regime position `t`.
    pub fn at(&self, t: f64) -> f64 {
        self.plateau + self.gap * (-t / self.tau).exp()
    }

    /// Whether the regime shows a growth that slows down: the curve explains at least half
    /// of what a line leaves, runs the same way as the line, and has slowed to under 75 % of
    /// the line's rate by the end.
    pub fn is_evident(&self) -> bool {
        self.sse <= 0.5 * self.line_sse
            && self.line_slope != 0.0
            && self.end_slope.signum() == self.line_slope.signum()
            && self.end_slope.abs() <= 0.75 * self.line_slope.abs()
    }
}

/// Fits `a + b·e^(−t/τ)` to `values` (positions `0..len`) by least squares, `τ` from a grid of
/// fractions and multiples of the length. The fit runs on block means (at most 128 blocks):
/// the shape of a regime is in its blocks, not in its 5-minute noise.
pub fn saturating_fit(values: &[f64]) -> Option<Saturating> {
    let n = values.len();
    if n < 16 {
        return None;
    }
    let block = n.div_ceil(128);
    let points: Vec<(f64, f64)> = values
        .chunks(block)
        .enumerate()
        .map(|(k, chunk)| {
            let t = (k * block) as f64 + (chunk.len() as f64 - 1.0) / 2.0;
            (t, chunk.iter().sum::<f64>() / chunk.len() as f64)
        })
        .collect();
    let m = points.len() as f64;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / m;
    let mut xs = vec![0.0; points.len()];
    let mut fit_on = |x: &dyn Fn(f64) -> f64| {
        for (slot, p) in xs.iter_mut().zip(&points) {
            *slot = x(p.0);
        }
        let mean_x = xs.iter().sum::<f64>() / m;
        let (mut cov, mut var) = (0.0, 0.0);
        for (&x, &(_, y)) in xs.iter().zip(&points) {
            let dx = x - mean_x;
            cov += dx * (y - mean_y);
            var += dx * dx;
        }
        let b = if var > 0.0 { cov / var } else { 0.0 };
        let a = mean_y - b * mean_x;
        let sse: f64 = xs
            .iter()
            .zip(&points)
            .map(|(&x, &(_, y))| (y - a - b * x).powi(2))
            .sum();
        (a, b, sse)
    };
    let (_, line_slope, line_sse) = fit_on(&|t| t);
    let length = n as f64;
    let mut at = |tau: f64| {
        let (plateau, gap, sse) = fit_on(&|t| (-t / tau).exp());
        Saturating {
            plateau,
            gap,
            tau,
            sse,
            line_sse,
            end_slope: -gap / tau * (-(length - 1.0) / tau).exp(),
            line_slope,
        }
    };
    // τ from a sixteenth of the stretch to four times it, on a geometric grid, then refined
    // by golden-section search around the best grid point (the error is smooth in ln τ).
    const GRID: usize = 16;
    let ratio = 64f64.powf(1.0 / (GRID - 1) as f64);
    let grid: Vec<Saturating> = (0..GRID).map(|k| at(length / 16.0 * ratio.powi(k as i32))).collect();
    let best = (0..GRID).min_by(|&a, &b| grid[a].sse.total_cmp(&grid[b].sse))?;
    let (mut lo, mut hi) = (
        grid[best.saturating_sub(1)].tau.ln(),
        grid[(best + 1).min(GRID - 1)].tau.ln(),
    );
    let golden = 0.618_033_988_749_895;
    let (mut a, mut b) = (hi - golden * (hi - lo), lo + golden * (hi - lo));
    let (mut fa, mut fb) = (at(a.exp()), at(b.exp()));
    for _ in 0..12 {
        if fa.sse < fb.sse {
            hi = b;
            (b, fb) = (a, fa);
            a = hi - golden * (hi - lo);
            fa = at(a.exp());
        } else {
            lo = a;
            (a, fa) = (b, fb);
            b = lo + golden * (hi - lo);
            fb = at(b.exp());
        }
    }
    let refined = if fa.sse < fb.sse { fa } else { fb };
    Some(if refined.sse <= grid[best].sse {
        refined
    } else {
        grid[best]
    })
}

/// Smoothing parameters of a damped Holt trend: `(alpha, beta, phi)`.
pub type Damping = (f64, f64, f64);

/// The damped Holt (ETS A,Ad,N) smoothing parameters that forecast `values` best one step
/// ahead, from a small grid (by squared error). The twelve filters run side by side in one
/// pass.
pub fn damping_for(values: &[f64]) -> Damping {
    const ALPHAS: [f64; 3] = [0.05, 0.15, 0.4];
    const BETAS: [f64; 2] = [0.01, 0.05];
    const PHIS: [f64; 2] = [0.98, 0.995];
    const K: usize = 12;
    let grid: [Damping; K] = std::array::from_fn(|k| (ALPHAS[k / 4], BETAS[(k / 2) % 2], PHIS[k % 2]));
    let n = values.len();
    if n < 3 {
        return grid[0];
    }
    let init_span = (n / 10).clamp(2, n - 1);
    let initial_trend = (values[init_span] - values[0]) / init_span as f64;
    let mut level = [values[0]; K];
    let mut trend = [initial_trend; K];
    let mut sse = [0.0; K];
    for &y in &values[1..] {
        for k in 0..K {
            let (alpha, beta, phi) = grid[k];
            let predicted = level[k] + phi * trend[k];
            let error = y - predicted;
            sse[k] += error * error;
            level[k] = predicted + alpha * error;
            trend[k] = phi * trend[k] + alpha * beta * error;
        }
    }
    let best = (0..K).min_by(|&a, &b| sse[a].total_cmp(&sse[b])).unwrap_or(0);
    grid[best]
}

/// Runs a damped Holt filter over `values`: the final level and trend, and the one-step
/// squared error.
fn damped_run(values: &[f64], (alpha, beta, phi): Damping) -> (f64, f64, f64) {
    let n = values.len();
    if n < 3 {
        return (values.last().copied().unwrap_or(0.0), 0.0, 0.0);
    }
    // Initial slope from the first tenth of the regime, robust to a noisy first step.
    let init_span = (n / 10).clamp(2, n - 1);
    let initial_trend = (values[init_span] - values[0]) / init_span as f64;
    let (mut level, mut trend, mut sse) = (values[0], initial_trend, 0.0);
    for &y in &values[1..] {
        let predicted = level + phi * trend;
        let error = y - predicted;
        sse += error * error;
        level = predicted + alpha * error;
        trend = phi * trend + alpha * beta * error;
    }
    (level, trend, sse)
}

/// The stretch of the regime a damped trend is fitted on: its last two weeks (with these
/// smoothing constants the state forgets older data anyway).
pub fn damped_window(regime: &[f64], steps_per_day: usize) -> &[f64] {
    &regime[regime.len().saturating_sub(14 * steps_per_day)..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_squares_recovers_a_line() {
        let values: Vec<f64> = (0..50).map(|i| 3.0 + 0.5 * i as f64).collect();
        let (intercept, slope) = least_squares_line(&values);
        assert!((intercept - 3.0).abs() < 1e-9 && (slope - 0.5).abs() < 1e-9);
    }

    #[test]
    fn damped_holt_follows_a_clean_trend() {
        let values: Vec<f64> = (0..500).map(|i| 10.0 + 2.0 * i as f64).collect();
        let damping = damping_for(&values);
        let (level, trend, _) = damped_run(&values, damping);
        let phi = damping.2;
        assert!((level - 1008.0).abs() < 1.0, "level {level}");
        // Ten steps ahead the damped path is within 1 % of the line.
        let ahead: f64 = level + (1..=10).map(|k| phi.powi(k)).sum::<f64>() * trend;
        assert!((ahead - 1028.0).abs() < 10.0, "ahead {ahead}");
    }

    #[test]
    fn a_plateau_is_seen_in_a_slowing_fill_and_not_in_a_line() {
        let slowing: Vec<f64> = (0..4000)
            .map(|i| 100.0 - 80.0 * (-(i as f64) / 1500.0).exp() + crate::forecast::testing::noise(i, 41))
            .collect();
        let fit = saturating_fit(&slowing).expect("a fit");
        assert!(fit.is_evident(), "{fit:?}");
        assert!((fit.plateau - 100.0).abs() < 8.0, "{fit:?}");
        let line: Vec<f64> = (0..4000)
            .map(|i| 20.0 + 0.02 * i as f64 + crate::forecast::testing::noise(i, 42))
            .collect();
        assert!(!saturating_fit(&line).expect("a fit").is_evident());
    }
}
