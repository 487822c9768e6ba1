//! What capacity must hold: the forecast's extremes, read at every step, and the 12-month
//! projection of units and cost.
//!
//! Units, capacity needed, right-sizing and the budget are sized on the highest pessimistic
//! usage the forecast reaches. That is read from the full forecast, step by step, never from
//! the thinned path kept for charts: a 30-minute nightly job at 5-minute steps is invisible to
//! a path with one point every few hours, and a disk that crosses its threshold every night
//! would be told to shrink.

use chrono::{DateTime, Datelike, Months, TimeZone, Utc};

use super::{MonthBasis, MonthCost};
use crate::forecast::Forecast;
use crate::model::{Direction, Scaling};

const DAY: f64 = 86_400.0;

/// The forecast's extremes, in usage terms (a "below" model's remaining quantity converted
/// with the capacity), over the whole horizon.
#[derive(Clone, Debug, PartialEq)]
pub struct Peaks {
    /// Highest expected usage (the last observed value included).
    pub expected: f64,
    /// Highest pessimistic usage: the 95 % bound on the side that exhausts.
    pub pessimistic: f64,
    /// Per calendar month (UTC) the forecast reaches: the month's start (Unix seconds) and the
    /// highest pessimistic usage within it.
    pub monthly: Vec<(f64, f64)>,
}

/// The extremes of `forecast`; `None` when usage cannot be known (a "below" model without
/// a capacity). `expected` and `pessimistic` are read up to `until` (Unix seconds: the end of
/// the sizing horizon, `f64::INFINITY` for all of it); the monthly peaks from all of it.
pub fn peaks(forecast: &Forecast, direction: Direction, capacity: Option<f64>, until: f64) -> Option<Peaks> {
    let as_usage = |value: f64| match (direction, capacity) {
        (Direction::Above, _) => Some(value),
        (Direction::Below, Some(c)) => Some(c - value),
        (Direction::Below, None) => None,
    };
    let last = as_usage(forecast.last_value)?;
    let pessimistic_path: &[f64] = match (forecast.band(0.95), direction) {
        (Some(band), Direction::Above) => &band.upper,
        (Some(band), Direction::Below) => &band.lower,
        (None, _) => &forecast.mean,
    };
    let mut expected = if last.is_finite() { last } else { f64::NEG_INFINITY };
    let mut pessimistic = f64::NEG_INFINITY;
    let mut monthly: Vec<(f64, f64)> = Vec::new();
    let mut month_end = f64::NEG_INFINITY;
    for (index, (&mean, &bound)) in forecast.mean.iter().zip(pessimistic_path).enumerate() {
        let timestamp = forecast.timestamp(index);
        let sized = timestamp <= until;
        if let Some(usage) = as_usage(mean).filter(|v| v.is_finite() && sized) {
            expected = expected.max(usage);
        }
        let Some(usage) = as_usage(bound).filter(|v| v.is_finite()) else {
            continue;
        };
        if sized {
            pessimistic = pessimistic.max(usage);
        }
        if timestamp >= month_end {
            let Some((start, end)) = month_of(timestamp) else {
                continue;
            };
            month_end = end;
            monthly.push((start, usage));
        } else if let Some(current) = monthly.last_mut() {
            current.1 = current.1.max(usage);
        }
    }
    Some(Peaks {
        expected,
        pessimistic,
        monthly,
    })
}

/// The UTC calendar month holding `timestamp`: its start and end, Unix seconds.
fn month_of(timestamp: f64) -> Option<(f64, f64)> {
    let at = DateTime::<Utc>::from_timestamp(timestamp.floor() as i64, 0)?;
    let start = Utc.with_ymd_and_hms(at.year(), at.month(), 1, 0, 0, 0).single()?;
    let end = start.checked_add_months(Months::new(1))?;
    Some((start.timestamp() as f64, end.timestamp() as f64))
}

/// The next 12 calendar months' units and cost. A month the forecast covers whole is sized on
/// its own pessimistic peak; a month that reaches past the horizon on the horizon's
/// pessimistic peak moved along the fitted growth to the month's end (never down, and never
/// below what the forecast shows for the part it covers), so the projection is continuous
/// across the horizon's end instead of dipping where the forecast stops.
pub fn project_costs(
    now: f64,
    horizon_end: f64,
    scaling: &Scaling,
    peaks: Option<&Peaks>,
    horizon_peak: f64,
    trend_usage_per_day: f64,
) -> Vec<MonthCost> {
    let Some(start) = DateTime::<Utc>::from_timestamp(now as i64, 0) else {
        return Vec::new();
    };
    let Some(first) = Utc.with_ymd_and_hms(start.year(), start.month(), 1, 0, 0, 0).single() else {
        return Vec::new();
    };
    (1..=12u32)
        .filter_map(|m| {
            let month_start = first.checked_add_months(Months::new(m))?;
            let month_end = first.checked_add_months(Months::new(m + 1))?;
            let (from, to) = (month_start.timestamp() as f64, month_end.timestamp() as f64);
            let within = peaks
                .and_then(|p| p.monthly.iter().find(|(start, _)| (*start - from).abs() < 1.0))
                .map(|(_, peak)| *peak);
            let (peak, basis) = if to <= horizon_end + 1.0 {
                (within.unwrap_or(horizon_peak), MonthBasis::Forecast)
            } else {
                // Growth is carried past the horizon; a falling trend is not: capacity is never
                // planned down on an extrapolation (a trend within noise would read as a saving).
                let days_past = (to - horizon_end) / DAY;
                let moved = horizon_peak + (trend_usage_per_day * days_past).max(0.0);
                (moved.max(within.unwrap_or(f64::NEG_INFINITY)), MonthBasis::Trend)
            };
            let units = scaling.units_for(peak);
            Some(MonthCost {
                month: format!("{:04}-{:02}", month_start.year(), month_start.month()),
                units,
                cost: f64::from(units) * scaling.unit_cost,
                basis,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::testing::linear;

    /// A flat forecast at 70 with one short burst to 82 every day: the peaks see every burst,
    /// however short, and the monthly peaks carry it.
    #[test]
    fn short_bursts_set_the_peaks() {
        let mut forecast = linear(1_772_409_600.0, 300.0, 70.0, 0.0, 1.0, 60 * 288);
        for (index, mean) in forecast.mean.iter_mut().enumerate() {
            if index % 288 == 36 || index % 288 == 37 {
                *mean = 82.0;
            }
        }
        for band in &mut forecast.bands {
            for (index, upper) in band.upper.iter_mut().enumerate() {
                if index % 288 == 36 || index % 288 == 37 {
                    *upper = 83.0;
                }
            }
        }
        let peaks = peaks(&forecast, Direction::Above, Some(100.0), f64::INFINITY).expect("peaks");
        assert_eq!(peaks.expected, 82.0);
        assert_eq!(peaks.pessimistic, 83.0);
        // March and April hold bursts; the forecast's last minutes fall on 1 May, before it.
        assert!(
            peaks.monthly.len() == 3 && peaks.monthly[..2].iter().all(|(_, peak)| *peak == 83.0),
            "{:?}",
            peaks.monthly
        );
        // A remaining-space model: usage is capacity minus what remains.
        let remaining = peaks_of_remaining();
        assert_eq!(remaining.expected, 100.0 - 18.0);
    }

    fn peaks_of_remaining() -> Peaks {
        let mut forecast = linear(1_772_409_600.0, 300.0, 30.0, 0.0, 1.0, 288);
        forecast.mean[100] = 18.0;
        peaks(&forecast, Direction::Below, Some(100.0), f64::INFINITY).expect("peaks")
    }

    #[test]
    fn the_projection_is_continuous_across_the_horizon() {
        let scaling = Scaling {
            ..crate::test_util::scaling(10.0, "step", 1.0)
        };
        // 2026-03-01 00:00 UTC; the horizon ends on 2026-05-10, mid-May.
        let now = 1_772_323_200.0;
        let horizon_end = 1_778_371_200.0;
        let peaks = Peaks {
            expected: 90.0,
            pessimistic: 100.0,
            monthly: vec![
                (1_772_323_200.0, 60.0),
                (1_775_001_600.0, 80.0),
                (1_777_593_600.0, 45.0),
            ],
        };
        let months = project_costs(now, horizon_end, &scaling, Some(&peaks), 100.0, 1.0);
        let units: Vec<u32> = months.iter().map(|m| m.units).collect();
        // April is covered whole (80 -> 8 units); May is cut by the horizon: the horizon's
        // peak moved by a day's growth for each day past it, not May's partial 45.
        assert_eq!(months[0].month, "2026-04");
        assert_eq!((units[0], months[0].basis), (8, MonthBasis::Forecast));
        assert_eq!(months[1].basis, MonthBasis::Trend);
        assert!(units[1] >= 10, "{units:?}");
        assert!(
            units.windows(2).skip(1).all(|w| w[1] >= w[0]),
            "no dip past the horizon: {units:?}"
        );
    }

    /// A falling trend past the horizon is not extrapolated: the months after it hold the
    /// horizon's peak.
    #[test]
    fn a_falling_trend_never_plans_capacity_down_past_the_horizon() {
        let scaling = Scaling {
            ..crate::test_util::scaling(10.0, "step", 1.0)
        };
        let months = project_costs(1_772_323_200.0, 1_778_371_200.0, &scaling, None, 115.0, -0.3);
        assert!(months.iter().all(|m| m.units == 12), "{months:?}");
    }
}
