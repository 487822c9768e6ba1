//! The forecasting core: one history in, one forecast with calibrated intervals out.
//!
//! This module is plain synchronous code with no IO and no knowledge of Prometheus, HTTP or
//! where results go (an architecture rule checked by `tests/architecture.rs`). The daemon and
//! `headroom forecast` call the same [`forecast`] function.
//!
//! Per series: put the samples on a regular grid and fill gaps ([`grid`]); find the seasons the
//! data supports ([`seasonal`]); find where the current regime begins ([`regime`]); backtest
//! every candidate method from several origins inside the history and keep the best
//! ([`backtest`], [`methods`]); size the 80 % and 95 % bands from that method's own backtest
//! errors.

pub mod accuracy;
pub mod backtest;
pub mod grid;
pub mod methods;
pub mod outliers;
pub mod regime;
pub mod seasonal;
#[cfg(test)]
pub mod testing;

use std::fmt;

pub use grid::Grid;
pub use methods::Method;
pub use seasonal::SeasonalMode;

/// The interval levels every forecast carries.
pub const LEVELS: [f64; 2] = [0.8, 0.95];

/// How much history a forecast needs, and how hard to look for the best method.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Below this span of history (seconds) the engine refuses to forecast.
    pub min_history_secs: f64,
    /// Below this many observed points the engine refuses to forecast.
    pub min_points: usize,
    /// Backtest origins per series (more: better calibrated intervals, slower).
    pub backtest_origins: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            min_history_secs: 86_400.0,
            min_points: 24,
            backtest_origins: 6,
        }
    }
}

/// A prediction interval at one level.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Band {
    pub level: f64,
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
}

/// What the engine learnt about a series, kept to justify what it says.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Diagnostics {
    pub method: Method,
    /// How the seasonal pattern combines with the level.
    pub seasonal_mode: SeasonalMode,
    /// Seasonal periods used, in seconds.
    pub periods_secs: Vec<f64>,
    /// Grid points in the history, and how many were real samples (the rest interpolated).
    pub history_points: usize,
    pub observed_points: usize,
    /// Unix seconds where the current regime starts, when a changepoint was found.
    pub regime_start: Option<f64>,
    /// Slope of the deseasonalised current regime, in units per day.
    pub trend_per_day: f64,
    /// Peak-to-trough amplitude of the seasonal pattern.
    pub seasonal_amplitude: f64,
    /// Backtest error of the chosen method, scaled by the in-sample error of the daily
    /// seasonal-naive forecast (MASE); `None` when it could not be computed.
    pub backtest_mase: Option<f64>,
}

/// A forecast on the history's grid, starting one step after its last point.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Forecast {
    /// Unix seconds of `mean[0]`.
    pub start: f64,
    pub step: f64,
    pub mean: Vec<f64>,
    /// One band per entry of [`LEVELS`], in that order.
    pub bands: Vec<Band>,
    /// Unix seconds and value of the last point of the history.
    pub last_timestamp: f64,
    pub last_value: f64,
    pub diagnostics: Diagnostics,
}

impl Forecast {
    /// Unix seconds of forecast step `index`.
    pub fn timestamp(&self, index: usize) -> f64 {
        self.start + index as f64 * self.step
    }

    /// The band at `level`, if the forecast carries it.
    pub fn band(&self, level: f64) -> Option<&Band> {
        self.bands.iter().find(|b| (b.level - level).abs() < 1e-9)
    }
}

/// A forecast reduced to what outlives a cycle: diagnostics, the value at the horizon, and the
/// path at no more than [`SUMMARY_POINTS`] points (for charts). A full 60-day forecast at
/// 5-minute steps is ~700 KB; a fleet keeps thousands of these between cycles.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ForecastSummary {
    pub diagnostics: Diagnostics,
    /// Seconds between grid points of the history and forecast.
    pub step: f64,
    pub last_timestamp: f64,
    pub last_value: f64,
    /// Unix seconds of the last forecast step.
    pub horizon_end: f64,
    /// The path, every `path_stride` steps from the first forecast step, ending at the horizon.
    pub path: Vec<PathPoint>,
}

/// One point of a summarised forecast path.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct PathPoint {
    pub timestamp: f64,
    pub mean: f64,
    pub lower_80: f64,
    pub upper_80: f64,
    pub lower_95: f64,
    pub upper_95: f64,
}

/// Most points kept in a [`ForecastSummary`] path.
pub const SUMMARY_POINTS: usize = 240;

impl Forecast {
    /// Summarises the forecast (see [`ForecastSummary`]).
    pub fn summary(&self) -> ForecastSummary {
        let steps = self.mean.len();
        let stride = steps.div_ceil(SUMMARY_POINTS).max(1);
        let (b80, b95) = (self.band(0.8), self.band(0.95));
        let mut indices: Vec<usize> = (0..steps).step_by(stride).collect();
        if steps > 0 && indices.last() != Some(&(steps - 1)) {
            indices.push(steps - 1);
        }
        let at = |b: Option<&Band>, i: usize, lower: bool| {
            b.map_or(self.mean[i], |b| if lower { b.lower[i] } else { b.upper[i] })
        };
        ForecastSummary {
            diagnostics: self.diagnostics.clone(),
            step: self.step,
            last_timestamp: self.last_timestamp,
            last_value: self.last_value,
            horizon_end: self.timestamp(steps.saturating_sub(1)),
            path: indices
                .into_iter()
                .map(|i| PathPoint {
                    timestamp: self.timestamp(i),
                    mean: self.mean[i],
                    lower_80: at(b80, i, true),
                    upper_80: at(b80, i, false),
                    lower_95: at(b95, i, true),
                    upper_95: at(b95, i, false),
                })
                .collect(),
        }
    }
}

impl ForecastSummary {
    /// The last point of the path (the forecast at the horizon).
    pub fn at_horizon(&self) -> Option<&PathPoint> {
        self.path.last()
    }
}

/// Why no forecast was made.
#[derive(Clone, Debug, PartialEq)]
pub enum NoForecast {
    /// Too little history to say anything honest.
    InsufficientHistory {
        observed_points: usize,
        span_secs: f64,
        needed_points: usize,
        needed_secs: f64,
    },
    /// No finite sample at all.
    NoData,
}

impl fmt::Display for NoForecast {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoForecast::InsufficientHistory {
                observed_points,
                span_secs,
                needed_points,
                needed_secs,
            } => write!(
                f,
                "insufficient history: {observed_points} points over {:.1} h, need at least {needed_points} points over {:.1} h",
                span_secs / 3600.0,
                needed_secs / 3600.0
            ),
            NoForecast::NoData => f.write_str("no data: the series has no finite sample"),
        }
    }
}

/// Forecasts `horizon` grid steps past the end of `grid`.
pub fn forecast(grid: &Grid, horizon: usize, settings: &Settings) -> Result<Forecast, NoForecast> {
    let observed = grid.observed();
    if observed == 0 {
        return Err(NoForecast::NoData);
    }
    let span = grid.end() - grid.start;
    if observed < settings.min_points.max(2) || span + 1e-9 < settings.min_history_secs {
        return Err(NoForecast::InsufficientHistory {
            observed_points: observed,
            span_secs: span,
            needed_points: settings.min_points.max(2),
            needed_secs: settings.min_history_secs,
        });
    }
    let mut filled = grid.clone();
    filled.fill_gaps();
    let values = &filled.values;
    let n = values.len();
    let horizon = horizon.max(1);

    let (lo, hi) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
        (lo.min(v), hi.max(v))
    });
    if hi - lo <= 1e-12 * hi.abs().max(1.0) {
        return Ok(constant_forecast(&filled, horizon, observed));
    }

    let candidates = seasonal::candidate_periods(values, grid.step);
    let (periods, candidates_decomposition) = seasonal::select_periods_keeping(values, &candidates);
    let steps_per_day = ((86_400.0 / grid.step).round() as usize).max(1);
    // The shortest regime worth believing: a full season, or 36 steps, or 1/40 of the history.
    let min_segment = periods.first().copied().unwrap_or(36).max(n / 40);
    // A series that only grows (a cumulative counter, a disk never cleaned) will keep growing:
    // methods that forecast it flat or repeating are not candidates, whatever a short backtest
    // says. Likewise for a series that only shrinks.
    let monotone = is_monotone(values);
    let mut methods = Vec::new();
    if !monotone {
        methods.extend([
            Method::SeasonalLevel,
            Method::SeasonalRegimeLevel,
            Method::SeasonalLinear,
            Method::SeasonalDamped,
        ]);
    } else {
        // Damping assumes growth slows down; a counter's bursts and pauses say nothing of that.
        methods.extend([Method::SeasonalLinear, Method::RecentLinear]);
    }
    if !periods.is_empty() && !monotone {
        methods.push(Method::SeasonalNaive);
    }
    let shape = backtest::Shape {
        periods: periods.clone(),
        min_segment,
        steps_per_day,
        clean: !monotone,
    };

    // A multiplicative pattern needs positive data, and only differs from an additive one
    // where the level moves enough.
    let mut modes = vec![SeasonalMode::Additive];
    if !periods.is_empty() && lo > 0.0 && hi / lo > 1.2 {
        modes.push(SeasonalMode::Multiplicative);
    }
    // Backtest origins sit in the current regime (found on the whole history).
    // When every candidate period was kept, the selection's decomposition is this one.
    let additive = if candidates_decomposition.periods == periods {
        backtest::prepare_with(values, candidates_decomposition, &shape)
    } else {
        backtest::prepare(values, SeasonalMode::Additive, &shape)
    };
    let regime_start = additive.regime_start;
    let min_train = periods.first().copied().unwrap_or(36);
    let (backtest_horizon, cuts) = backtest::origins(n, horizon, settings.backtest_origins, regime_start, min_train);
    // The lowest backtest error wins; ties go to the earlier (simpler) candidate.
    let mut best: Option<(Method, SeasonalMode, backtest::BacktestErrors, f64)> = None;
    for &mode in &modes {
        // Compounding growth goes with a swing that grows with the level.
        let mut methods = methods.clone();
        if mode == SeasonalMode::Multiplicative && !monotone {
            methods.push(Method::ExponentialTrend);
        }
        for (method, errors) in backtest::run(values, mode, &shape, &methods, backtest_horizon, &cuts) {
            let score = errors.mean_absolute();
            if best.as_ref().is_none_or(|b| score < b.3) {
                best = Some((method, mode, errors, score));
            }
        }
    }
    let (method, seasonal_mode, errors) = best.map(|(m, mode, e, _)| (m, mode, e)).unwrap_or((
        Method::SeasonalLevel,
        SeasonalMode::Additive,
        backtest::BacktestErrors::default(),
    ));

    let prepared = match seasonal_mode {
        SeasonalMode::Additive => additive,
        SeasonalMode::Multiplicative => backtest::prepare(values, seasonal_mode, &shape),
    };
    let mean = methods::predict(method, &prepared, horizon);
    let bands = LEVELS
        .iter()
        .map(|&level| {
            let widths = backtest::interval_half_widths(&errors, level, horizon);
            Band {
                level,
                lower: mean.iter().zip(&widths).map(|(m, w)| m - w).collect(),
                upper: mean.iter().zip(&widths).map(|(m, w)| m + w).collect(),
            }
        })
        .collect();

    let steps_per_day = 86_400.0 / grid.step;
    let regime_start = prepared.regime_start;
    let (_, slope) = methods::least_squares_line(&prepared.level_series[regime_start..]);
    let scale = seasonal_naive_scale(values, periods.first().copied());
    let backtest_mae = errors.mean_absolute();
    let diagnostics = Diagnostics {
        method,
        seasonal_mode,
        periods_secs: periods.iter().map(|&p| p as f64 * grid.step).collect(),
        history_points: n,
        observed_points: observed,
        regime_start: (regime_start > 0).then(|| filled.timestamp(regime_start)),
        trend_per_day: slope * steps_per_day,
        seasonal_amplitude: prepared.decomposition.amplitude(),
        backtest_mase: (scale > 0.0 && backtest_mae.is_finite()).then(|| backtest_mae / scale),
    };
    Ok(Forecast {
        start: filled.end() + grid.step,
        step: grid.step,
        mean,
        bands,
        last_timestamp: filled.end(),
        last_value: values[n - 1],
        diagnostics,
    })
}

/// Whether at least 99 % of the steps of a series go the same way, and it moved overall.
fn is_monotone(values: &[f64]) -> bool {
    let (mut up, mut down, mut flat) = (0usize, 0usize, 0usize);
    for pair in values.windows(2) {
        match pair[1].partial_cmp(&pair[0]) {
            Some(std::cmp::Ordering::Greater) => up += 1,
            Some(std::cmp::Ordering::Less) => down += 1,
            _ => flat += 1,
        }
    }
    let steps = (up + down + flat).max(1) as f64;
    (down as f64 / steps <= 0.01 && up > 0) || (up as f64 / steps <= 0.01 && down > 0)
}

/// The in-sample mean absolute error of the seasonal-naive forecast with `period` (or of the
/// naive forecast without one): the MASE denominator.
pub fn seasonal_naive_scale(values: &[f64], period: Option<usize>) -> f64 {
    let lag = period.unwrap_or(1).max(1);
    if values.len() <= lag {
        return 0.0;
    }
    let sum: f64 = values[lag..].iter().zip(values).map(|(a, b)| (a - b).abs()).sum();
    sum / (values.len() - lag) as f64
}

fn constant_forecast(grid: &Grid, horizon: usize, observed: usize) -> Forecast {
    let value = grid.values[grid.values.len() - 1];
    let mean = vec![value; horizon];
    Forecast {
        start: grid.end() + grid.step,
        step: grid.step,
        bands: LEVELS
            .iter()
            .map(|&level| Band {
                level,
                lower: mean.clone(),
                upper: mean.clone(),
            })
            .collect(),
        mean,
        last_timestamp: grid.end(),
        last_value: value,
        diagnostics: Diagnostics {
            method: Method::Constant,
            seasonal_mode: SeasonalMode::Additive,
            periods_secs: Vec::new(),
            history_points: grid.values.len(),
            observed_points: observed,
            regime_start: None,
            trend_per_day: 0.0,
            seasonal_amplitude: 0.0,
            backtest_mase: None,
        },
    }
}

#[cfg(test)]
mod tests;
