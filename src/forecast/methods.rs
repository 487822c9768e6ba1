//! The candidate forecasting methods, each fitted on the deseasonalised current regime.
//!
//! No single method wins on operations data: a disk fills linearly, a request rate follows
//! its week, a CPU series after a deploy just sits at a new level. The engine backtests
//! every candidate on the series' own past and keeps the one that forecast it best
//! ([`super::backtest`]).

use super::seasonal::{Decomposition, median};

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
    /// Seasonal profile on a least-squares line through the last three days of the regime:
    /// follows a growth rate that changed recently (for series that only grow or only shrink).
    RecentLinear,
    /// The series never changed.
    Constant,
}

impl Method {
    /// A short stable name (used in metrics labels and JSON).
    pub fn name(self) -> &'static str {
        match self {
            Method::SeasonalNaive => "seasonal_naive",
            Method::SeasonalLevel => "level",
            Method::SeasonalRegimeLevel => "regime_level",
            Method::SeasonalLinear => "linear_trend",
            Method::SeasonalDamped => "damped_trend",
            Method::RecentLinear => "recent_linear_trend",
            Method::ExponentialTrend => "exponential_trend",
            Method::Constant => "constant",
        }
    }
}

/// A history prepared for forecasting: decomposed, with its current regime located.
pub struct Prepared<'a> {
    pub values: &'a [f64],
    pub decomposition: Decomposition,
    /// The deseasonalised series with excursions interpolated away: what level and trend are
    /// fitted on.
    pub level_series: Vec<f64>,
    pub regime_start: usize,
    /// Grid steps in a day (at least 1).
    pub steps_per_day: usize,
}

impl Prepared<'_> {
    fn regime(&self) -> &[f64] {
        &self.level_series[self.regime_start..]
    }
}

/// Forecasts `horizon` steps past the end of `prepared.values` with `method`.
pub fn predict(method: Method, prepared: &Prepared<'_>, horizon: usize) -> Vec<f64> {
    let n = prepared.values.len();
    let reseason = |h: usize, value: f64| prepared.decomposition.reseason(n + h, value);
    match method {
        Method::Constant => vec![prepared.values[n - 1]; horizon],
        Method::SeasonalNaive => {
            // Repeat the last cycle as it would have been without its excursions: last week's
            // outage should not be forecast to happen again.
            let period = prepared.decomposition.periods.last().copied().unwrap_or(1).min(n);
            (0..horizon)
                .map(|h| {
                    let i = n - period + h % period;
                    prepared.decomposition.reseason(i, prepared.level_series[i])
                })
                .collect()
        }
        Method::SeasonalLevel => {
            let level = recent_level(prepared);
            (0..horizon).map(|h| reseason(h, level)).collect()
        }
        Method::SeasonalRegimeLevel => {
            let regime = prepared.regime();
            let steps_per_two_weeks = prepared.steps_per_day * 14;
            let mut tail = regime[regime.len().saturating_sub(steps_per_two_weeks.max(12))..].to_vec();
            let level = median(&mut tail);
            (0..horizon).map(|h| reseason(h, level)).collect()
        }
        Method::SeasonalLinear => {
            let regime = prepared.regime();
            let (intercept, slope) = least_squares_line(regime);
            let end = (regime.len() - 1) as f64;
            (0..horizon)
                .map(|h| reseason(h, intercept + slope * (end + 1.0 + h as f64)))
                .collect()
        }
        Method::ExponentialTrend => {
            let regime = prepared.regime();
            if regime.iter().any(|v| *v <= 0.0) {
                return predict(Method::SeasonalLinear, prepared, horizon);
            }
            let logs: Vec<f64> = regime.iter().map(|v| v.ln()).collect();
            let (intercept, slope) = least_squares_line(&logs);
            let end = (logs.len() - 1) as f64;
            (0..horizon)
                .map(|h| reseason(h, (intercept + slope * (end + 1.0 + h as f64)).exp()))
                .collect()
        }
        Method::RecentLinear => {
            let regime = prepared.regime();
            let recent = &regime[regime.len().saturating_sub(3 * prepared.steps_per_day)..];
            let (intercept, slope) = least_squares_line(recent);
            let end = (recent.len() - 1) as f64;
            (0..horizon)
                .map(|h| reseason(h, intercept + slope * (end + 1.0 + h as f64)))
                .collect()
        }
        Method::SeasonalDamped => {
            // The last two weeks decide the damped trend: with these smoothing constants the
            // state forgets older data anyway, and the grid search costs a pass per candidate.
            let regime = prepared.regime();
            let (level, trend, phi) = damped_holt(&regime[regime.len().saturating_sub(14 * prepared.steps_per_day)..]);
            let mut damping = 0.0;
            let mut factor = 1.0;
            (0..horizon)
                .map(|h| {
                    factor *= phi;
                    damping += factor;
                    reseason(h, level + damping * trend)
                })
                .collect()
        }
    }
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

/// Least-squares `(intercept, slope)` of `values` against their index.
pub fn least_squares_line(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    if values.len() < 2 {
        return (values.first().copied().unwrap_or(0.0), 0.0);
    }
    let mean_t = (n - 1.0) / 2.0;
    let mean_y = values.iter().sum::<f64>() / n;
    let (mut cov, mut var) = (0.0, 0.0);
    for (i, v) in values.iter().enumerate() {
        let dt = i as f64 - mean_t;
        cov += dt * (v - mean_y);
        var += dt * dt;
    }
    let slope = if var > 0.0 { cov / var } else { 0.0 };
    (mean_y - slope * mean_t, slope)
}

/// Damped Holt (ETS A,Ad,N) with smoothing parameters chosen on a small grid by one-step
/// squared error. Returns the final level, trend and damping factor.
fn damped_holt(values: &[f64]) -> (f64, f64, f64) {
    const ALPHAS: [f64; 3] = [0.05, 0.15, 0.4];
    const BETAS: [f64; 2] = [0.01, 0.05];
    const PHIS: [f64; 2] = [0.98, 0.995];
    let n = values.len();
    if n < 3 {
        return (values.last().copied().unwrap_or(0.0), 0.0, 0.98);
    }
    // Initial slope from the first tenth of the regime, robust to a noisy first step.
    let init_span = (n / 10).clamp(2, n - 1);
    let initial_trend = (values[init_span] - values[0]) / init_span as f64;
    let mut best = (f64::INFINITY, values[n - 1], 0.0, PHIS[0]);
    for alpha in ALPHAS {
        for beta in BETAS {
            for phi in PHIS {
                let (mut level, mut trend, mut sse) = (values[0], initial_trend, 0.0);
                for &y in &values[1..] {
                    let predicted = level + phi * trend;
                    let error = y - predicted;
                    sse += error * error;
                    let new_level = predicted + alpha * error;
                    trend = phi * trend + alpha * beta * error;
                    level = new_level;
                }
                if sse < best.0 {
                    best = (sse, level, trend, phi);
                }
            }
        }
    }
    (best.1, best.2, best.3)
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
        let (level, trend, phi) = damped_holt(&values);
        assert!((level - 1008.0).abs() < 1.0, "level {level}");
        // Ten steps ahead the damped path is within 1 % of the line.
        let ahead: f64 = level + (1..=10).map(|k| phi.powi(k)).sum::<f64>() * trend;
        assert!((ahead - 1028.0).abs() < 10.0, "ahead {ahead}");
    }
}
