//! Forecasts built by hand, for tests of what consumes forecasts (exhaustion, recommendations).

use super::{Band, Diagnostics, Forecast, Method, SeasonalMode};

/// Deterministic noise in [-1, 1] for point `i` of a stream chosen by `seed` (splitmix64).
pub fn noise(i: usize, seed: u64) -> f64 {
    let mut x = (i as u64) ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 31;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 29;
    (x >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
}

/// A forecast of `steps` steps of `step` seconds after `last_timestamp`, growing `slope` per
/// step from `last_value`, with an 80 % band of ±`width / 2` and a 95 % band of ±`width`.
pub fn linear(last_timestamp: f64, step: f64, last_value: f64, slope: f64, width: f64, steps: usize) -> Forecast {
    let mean: Vec<f64> = (1..=steps).map(|h| last_value + slope * h as f64).collect();
    let band = |level: f64, half: f64| Band {
        level,
        lower: mean.iter().map(|m| m - half).collect(),
        upper: mean.iter().map(|m| m + half).collect(),
    };
    Forecast {
        start: last_timestamp + step,
        step,
        bands: vec![band(0.8, width / 2.0), band(0.95, width)],
        last_timestamp,
        last_value,
        diagnostics: Diagnostics {
            method: Method::SeasonalLinear,
            seasonal_mode: SeasonalMode::Additive,
            periods_secs: vec![86_400.0],
            history_points: steps,
            observed_points: steps,
            regime_start: None,
            trend_per_day: slope * 86_400.0 / step,
            seasonal_amplitude: 0.0,
            backtest_mase: Some(0.4),
        },
        mean,
    }
}
