//! When a forecast crosses a limit: the "likely" date from the expected path and the
//! "earliest" date from the pessimistic 95 % bound.
//!
//! Crossings are interpolated linearly between grid steps, so a daily-step forecast still
//! gives a time of day. A resource already past its limit at the end of its history is
//! exhausted "now" (the last sample's time), which alerting treats as overdue.

use crate::forecast::Forecast;
use crate::model::Direction;

/// Exhaustion estimates for one entity, as Unix seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Exhaustion {
    /// First crossing of the expected forecast within the horizon.
    pub likely: Option<f64>,
    /// First crossing of the pessimistic 95 % bound within the horizon.
    pub earliest: Option<f64>,
    /// The last observed value is already past the threshold.
    pub exceeded_now: bool,
}

/// Computes both crossings of `threshold` in `direction`.
pub fn exhaustion(forecast: &Forecast, threshold: f64, direction: Direction) -> Exhaustion {
    let past = |value: f64| match direction {
        Direction::Above => value >= threshold,
        Direction::Below => value <= threshold,
    };
    if past(forecast.last_value) {
        return Exhaustion {
            likely: Some(forecast.last_timestamp),
            earliest: Some(forecast.last_timestamp),
            exceeded_now: true,
        };
    }
    let pessimistic = forecast.band(0.95).map(|band| match direction {
        Direction::Above => band.upper.as_slice(),
        Direction::Below => band.lower.as_slice(),
    });
    let likely = first_crossing(forecast, &forecast.mean, threshold, &past);
    let earliest = pessimistic
        .and_then(|path| first_crossing(forecast, path, threshold, &past))
        .or(likely);
    Exhaustion {
        likely,
        earliest,
        exceeded_now: false,
    }
}

fn first_crossing(forecast: &Forecast, path: &[f64], threshold: f64, past: &dyn Fn(f64) -> bool) -> Option<f64> {
    let mut previous = (forecast.last_timestamp, forecast.last_value);
    for (index, &value) in path.iter().enumerate() {
        let timestamp = forecast.timestamp(index);
        if past(value) {
            let (t0, v0) = previous;
            let fraction = if (value - v0).abs() > 0.0 {
                ((threshold - v0) / (value - v0)).clamp(0.0, 1.0)
            } else {
                1.0
            };
            return Some(t0 + fraction * (timestamp - t0));
        }
        previous = (timestamp, value);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::testing::linear;

    fn linear_forecast(last_value: f64, slope_per_step: f64, width: f64) -> Forecast {
        linear(1000.0, 60.0, last_value, slope_per_step, width, 100)
    }

    #[test]
    fn interpolates_the_crossing_and_earliest_comes_first() {
        let forecast = linear_forecast(0.0, 1.0, 10.0);
        let result = exhaustion(&forecast, 50.5, Direction::Above);
        assert_eq!(result.likely, Some(1000.0 + 50.5 * 60.0));
        assert_eq!(result.earliest, Some(1000.0 + 40.5 * 60.0));
        assert!(!result.exceeded_now);
    }

    #[test]
    fn falling_toward_a_floor_and_never_crossing() {
        let falling = linear_forecast(100.0, -1.0, 0.0);
        assert_eq!(
            exhaustion(&falling, 90.0, Direction::Below).likely,
            Some(1000.0 + 10.0 * 60.0)
        );
        let flat = linear_forecast(10.0, 0.0, 1.0);
        assert_eq!(
            exhaustion(&flat, 50.0, Direction::Above),
            Exhaustion {
                likely: None,
                earliest: None,
                exceeded_now: false
            }
        );
    }

    #[test]
    fn already_past_the_limit_is_now() {
        let result = exhaustion(&linear_forecast(95.0, 0.0, 0.0), 90.0, Direction::Above);
        assert!(result.exceeded_now);
        assert_eq!(result.likely, Some(1000.0));
    }
}
