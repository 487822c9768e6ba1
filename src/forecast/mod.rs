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
pub mod clock;
pub mod counter;
pub mod glitches;
pub mod grid;
pub mod methods;
pub mod outliers;
pub mod periods;
pub mod regime;
pub mod seasonal;
pub mod stats;
#[cfg(test)]
pub mod testing;

use std::fmt;

pub use clock::LocalClock;
pub use grid::Grid;
pub use methods::Method;
pub use seasonal::SeasonalMode;

use clock::LocalGrid;
use methods::Prepared;
use regime::{ShiftRisk, level_jumps, slows_down};

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
    /// The clock daily and weekly seasons are fitted in (default UTC): with a time zone,
    /// peaks keep their local hour across daylight-saving changes.
    pub clock: LocalClock,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            min_history_secs: 86_400.0,
            min_points: 24,
            backtest_origins: 6,
            clock: LocalClock::Utc,
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
    let horizon = horizon.max(1);
    let clock = &settings.clock;
    let until = filled.end() + horizon as f64 * filled.step;
    // Daily and weekly seasons follow the local clock: across a change of its offset, the
    // series is forecast on local time and read back at the UTC steps.
    if clock.changes_between(filled.start, until)
        && let Some(local) = LocalGrid::new(&filled, clock, horizon)
    {
        let inner = forecast_filled(&local.grid, local.horizon, settings, observed);
        let back = |series: &[f64]| local.back_to_utc(series, clock, filled.end(), filled.step, horizon);
        let mut diagnostics = inner.diagnostics;
        diagnostics.history_points = filled.values.len();
        diagnostics.regime_start = diagnostics.regime_start.map(|u| clock.utc(u));
        return Ok(Forecast {
            start: filled.end() + filled.step,
            step: filled.step,
            mean: back(&inner.mean),
            bands: inner
                .bands
                .iter()
                .map(|band| Band {
                    level: band.level,
                    lower: back(&band.lower),
                    upper: back(&band.upper),
                })
                .collect(),
            last_timestamp: filled.end(),
            last_value: filled.values[filled.values.len() - 1],
            diagnostics,
        });
    }
    Ok(forecast_filled(&filled, horizon, settings, observed))
}

/// The forecast of a gap-filled grid.
fn forecast_filled(filled: &Grid, horizon: usize, settings: &Settings, observed: usize) -> Forecast {
    let raw = &filled.values;
    let n = raw.len();
    if is_constant(raw) {
        return constant_forecast(filled, horizon, observed);
    }
    // Glitches (a counter-reset spike, a restart dip, a short burst) come out first: they would
    // weigh on every variance, line and backtest error below.
    let mut values = raw.clone();
    glitches::remove_glitches(&mut values, filled.step);
    if is_constant(&values) {
        return constant_forecast(filled, horizon, observed);
    }
    let steps_per_day = ((86_400.0 / filled.step).round() as usize).max(1);
    if let Some(sign) = counter::direction(&values) {
        return counter_forecast(filled, &values, sign, horizon, settings, observed, steps_per_day);
    }

    // Seasons, measured against a trend that does not smear level shifts: a first rough
    // decomposition finds where the level shifts, and the trend is then fitted between them.
    let candidates = seasonal::candidate_periods(&values, filled.step);
    let rough_segment = candidates.first().copied().unwrap_or(36).max(n / 40);
    let rough = seasonal::decompose(&values, &candidates, SeasonalMode::Additive, 1, &[]);
    let rough_changes = regime::change_points(&rough.deseasonalized, rough_segment);
    // Only a jump of the level smears; a change of slope does not.
    let rough_window = candidates.first().copied().unwrap_or(36);
    let rough_start = rough_changes.last().copied().unwrap_or(0);
    let breaks: Vec<usize> = level_jumps(&rough.deseasonalized, &rough_changes, rough_start, rough_window)
        .into_iter()
        .map(|(at, _)| at)
        .collect();
    // Without a jump, the rough pass is the first of the decomposition; after one, profiles
    // learnt against the smeared trend would carry the smear: they start afresh.
    let full = if breaks.is_empty() {
        rough.refine(&values, 1)
    } else {
        seasonal::decompose(&values, &candidates, SeasonalMode::Additive, 2, &breaks)
    };
    let periods = seasonal::select_periods(&values, &full);
    let additive = if periods == candidates {
        full
    } else {
        seasonal::decompose(&values, &periods, SeasonalMode::Additive, 2, &breaks)
    };
    // The shortest regime worth believing: a full season, or 36 steps, or 1/40 of the history.
    let min_segment = periods.first().copied().unwrap_or(36).max(n / 40);
    let mode = seasonal::choose_mode(&values, &additive);
    let mut shape = backtest::Shape {
        periods: periods.clone(),
        mode,
        breaks,
        min_segment,
        steps_per_day,
        regime_start: 0,
        trend_start: 0,
        damping: None,
        excursions: Vec::new(),
    };
    let decomposition = match mode.mode {
        SeasonalMode::Additive => additive,
        SeasonalMode::Growing => additive.with_growth(&values, mode.growth, mode.origin),
        SeasonalMode::Multiplicative => backtest::decompose_as(&values, &shape, 2),
    };
    let mut level_series = decomposition.deseasonalized.clone();
    shape.excursions = outliers::excursions(&mut level_series, steps_per_day);
    let changes = regime::change_points(&level_series, min_segment);
    let regime_start = changes.last().copied().unwrap_or(0);
    let jumps = level_jumps(
        &level_series,
        &changes,
        regime_start,
        periods.first().copied().unwrap_or(36),
    );
    // A growth curve runs from the last jump of the level, across changes of slope.
    let trend_start = jumps.last().map_or(0, |j| j.0);
    shape.regime_start = regime_start;
    shape.trend_start = trend_start;
    let damping = methods::damping_for(methods::damped_window(&level_series[regime_start..], steps_per_day));
    shape.damping = Some(damping);

    // The candidates. A regime that grows significantly in both its halves keeps growing:
    // a backtest inside a short regime cannot veto that on too little evidence, so methods
    // that forecast no growth are not candidates then.
    let regime = &level_series[regime_start..];
    let slope = regime::slope_evidence(regime);
    // Only a short regime after a change (under half the history, and under two weeks) is
    // too little evidence for its backtest to veto a growth.
    let short_regime = regime_start > 0 && regime.len() < (n / 2).min(14 * steps_per_day);
    // A change that comes back every period (a weekly restart of a leaking process, a
    // nightly rotation) is the season's, not a new regime: the last period repeats the one
    // before it, and the growth since the change does not go on.
    let repeats = short_regime && regime::repeats_last_period(&values, &candidates, steps_per_day);
    let trending = short_regime && slope.holds(TREND_T) && !repeats;
    let mut methods = vec![
        Method::SeasonalLevel,
        Method::SeasonalRegimeLevel,
        Method::SeasonalLinear,
    ];
    // A damped trend is a growth that fades: a candidate only where there is a growth.
    if slope.holds(TREND_T) {
        methods.push(Method::SeasonalDamped);
    }
    if !periods.is_empty() {
        methods.push(Method::SeasonalNaive);
    }
    if mode.mode == SeasonalMode::Multiplicative {
        // Compounding growth goes with a swing that grows with the level.
        methods.push(Method::ExponentialTrend);
    }
    if trending {
        methods.retain(|m| !m.is_flat());
    }
    // A growth that has been slowing down since the last jump, at the pace the current regime
    // shows, is forecast to go on slowing: a straight line would cross weeks early.
    if slows_down(&level_series, trend_start, regime_start, steps_per_day) {
        methods.retain(|m| !matches!(m, Method::SeasonalLinear | Method::ExponentialTrend));
        methods.push(Method::SaturatingTrend);
    }

    let min_train = periods.first().copied().unwrap_or(36);
    let (backtest_horizon, cuts) = backtest::origins(n, horizon, settings.backtest_origins, regime_start, min_train);
    // The lowest backtest error wins; ties go to the earlier (simpler) candidate.
    let mut best: Option<(Method, backtest::BacktestErrors, f64)> = None;
    for (method, errors) in backtest::run(&values, &shape, &methods, backtest_horizon, &cuts) {
        let score = errors.mean_absolute();
        if best.as_ref().is_none_or(|b| score < b.2) {
            best = Some((method, errors, score));
        }
    }
    let (method, errors) = best
        .map(|(m, e, _)| (m, e))
        .unwrap_or((methods[0], backtest::BacktestErrors::default()));

    let prepared = Prepared {
        values: &values,
        decomposition: &decomposition,
        level_series: std::borrow::Cow::Owned(level_series),
        regime_start,
        trend_start,
        steps_per_day,
        damping: Some(damping),
    };
    let mean = methods::predict(method, &prepared, horizon);
    let path = methods::level_path(method, &prepared, horizon.max(2));
    let growth_per_step = (path[path.len() - 1] - path[0]) / (path.len() - 1) as f64;
    let shift_risk = ShiftRisk::new(&jumps, n);
    let bands = bands(&mean, &errors, horizon, |level, h| shift_risk.half_width(level, h));

    let scale = seasonal_naive_scale(&values, periods.first().copied());
    let backtest_mae = errors.mean_absolute();
    Forecast {
        start: filled.end() + filled.step,
        step: filled.step,
        mean,
        bands,
        last_timestamp: filled.end(),
        last_value: raw[n - 1],
        diagnostics: Diagnostics {
            method,
            seasonal_mode: decomposition.mode,
            periods_secs: periods.iter().map(|&p| p as f64 * filled.step).collect(),
            history_points: n,
            observed_points: observed,
            regime_start: (regime_start > 0).then(|| filled.timestamp(regime_start)),
            trend_per_day: growth_per_step * 86_400.0 / filled.step,
            seasonal_amplitude: decomposition.amplitude(),
            backtest_mase: (scale > 0.0 && backtest_mae.is_finite()).then(|| backtest_mae / scale),
        },
    }
}

/// A regime slope with at least this t statistic (autocorrelation-aware), in both halves of
/// the regime, is growth that flat methods may not veto.
const TREND_T: f64 = 4.0;

/// The forecast of a counter or cumulative series ([`counter`]).
fn counter_forecast(
    filled: &Grid,
    values: &[f64],
    sign: f64,
    horizon: usize,
    settings: &Settings,
    observed: usize,
    steps_per_day: usize,
) -> Forecast {
    let n = values.len();
    let counted = counter::forecast(
        values,
        sign,
        filled.step,
        horizon,
        settings.backtest_origins,
        steps_per_day,
    );
    let bands = bands(&counted.mean, &counted.errors, horizon, |_, _| 0.0);
    let scale = seasonal_naive_scale(&filled.values, counted.periods.first().copied());
    let backtest_mae = counted.errors.mean_absolute();
    Forecast {
        start: filled.end() + filled.step,
        step: filled.step,
        mean: counted.mean,
        bands,
        last_timestamp: filled.end(),
        last_value: filled.values[n - 1],
        diagnostics: Diagnostics {
            method: counted.method,
            seasonal_mode: SeasonalMode::Additive,
            periods_secs: counted.periods.iter().map(|&p| p as f64 * filled.step).collect(),
            history_points: n,
            observed_points: observed,
            regime_start: None,
            trend_per_day: sign * counted.growth_per_step * 86_400.0 / filled.step,
            seasonal_amplitude: counted.amplitude,
            backtest_mase: (scale > 0.0 && backtest_mae.is_finite()).then(|| backtest_mae / scale),
        },
    }
}

/// The 80 % and 95 % bands around `mean`: conformal half-widths from the backtest errors,
/// plus `extra(level, step)` (the level-shift risk).
fn bands(
    mean: &[f64],
    errors: &backtest::BacktestErrors,
    horizon: usize,
    extra: impl Fn(f64, usize) -> f64,
) -> Vec<Band> {
    LEVELS
        .iter()
        .map(|&level| {
            let widths: Vec<f64> = backtest::interval_half_widths(errors, level, horizon)
                .into_iter()
                .enumerate()
                .map(|(h, w)| w + extra(level, h + 1))
                .collect();
            Band {
                level,
                lower: mean.iter().zip(&widths).map(|(m, w)| m - w).collect(),
                upper: mean.iter().zip(&widths).map(|(m, w)| m + w).collect(),
            }
        })
        .collect()
}

/// Whether `values` never change (to 1e-12 of their magnitude).
fn is_constant(values: &[f64]) -> bool {
    let (lo, hi) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
        (lo.min(v), hi.max(v))
    });
    hi - lo <= 1e-12 * hi.abs().max(1.0)
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
