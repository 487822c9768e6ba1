//! An entity already past its threshold before there is enough history to forecast it.
//!
//! A volume created ten hours ago that is already full needs no forecast: it is exhausted
//! now. Too little history qualifies the forecast, never the urgency, so such an entity is
//! critical with an order-by date that has passed, and its units are sized on the value it has
//! now (the only honest figure there is), which the recommendation says.

use super::{Cost, MonthBasis, MonthCost, Recommendation, Urgency};
use crate::format;
use crate::model::{Direction, Scaling};

/// What is known of an entity that could not be forecast.
#[derive(Clone, Copy, Debug)]
pub struct Unforecast<'a> {
    pub now: f64,
    pub direction: Direction,
    pub unit: &'a str,
    pub capacity: Option<f64>,
    pub threshold: f64,
    /// The last observed value, and when it was observed.
    pub current: f64,
    pub last_sample: f64,
    pub scaling: Option<&'a Scaling>,
    /// Why there is no forecast (the history it has, and what it needs).
    pub why: &'a str,
}

/// Whether `value` is at or past `threshold` on the side `direction` calls exhausted.
pub fn is_past(direction: Direction, value: f64, threshold: f64) -> bool {
    match direction {
        Direction::Above => value >= threshold,
        Direction::Below => value <= threshold,
    }
}

/// The recommendation for an entity past its threshold with no forecast: critical now, sized
/// on its current value.
pub fn recommend_exceeded(entity: &Unforecast<'_>) -> Recommendation {
    let lead_time_days = entity.scaling.map_or(0.0, |s| s.lead_time.as_secs_f64() / 86_400.0);
    let target_utilization = entity.scaling.map_or(1.0, |s| s.target_utilization);
    let usage = match (entity.direction, entity.capacity) {
        (Direction::Above, _) => Some(entity.current),
        (Direction::Below, Some(c)) => Some(c - entity.current),
        (Direction::Below, None) => None,
    };
    let (capacity_needed, units) = usage.map_or((None, None), |u| super::size(entity.scaling, entity.capacity, u));
    let cost = match (entity.scaling, &units) {
        (Some(s), Some(u)) => Some(Cost {
            currency: s.currency.clone(),
            monthly_current: u.current.round() * s.unit_cost,
            monthly_recommended: f64::from(u.needed) * s.unit_cost,
            projection: super::sizing::project_costs(entity.now, entity.now, s, None, usage.unwrap_or(0.0), 0.0)
                .into_iter()
                .map(|month| MonthCost {
                    basis: MonthBasis::Current,
                    ..month
                })
                .collect(),
        }),
        _ => None,
    };
    let unit = entity.unit;
    let mut justification = vec![format!(
        "The last value, {} {unit} on {}, is already past the threshold of {} {unit}: exhausted now.",
        format::number(entity.current),
        format::time(entity.last_sample),
        format::number(entity.threshold),
    )];
    if let (Some(u), Some(needed)) = (&units, capacity_needed) {
        justification.push(format!(
            "Keeping today's {} {unit} under {:.0} % of capacity (target_utilization) needs {} {unit} (capacity_needed): {} units of {} instead of {:.1} (units).",
            format::number(usage.unwrap_or(0.0)),
            target_utilization * 100.0,
            format::number(needed),
            u.needed,
            u.unit_name,
            u.current,
        ));
    }
    Recommendation {
        urgency: Urgency::Critical,
        runway_days: Some(0.0),
        earliest_runway_days: Some(0.0),
        order_by: Some(entity.last_sample - lead_time_days * 86_400.0),
        lead_time_days,
        horizon_end: entity.last_sample,
        peak_expected: usage.unwrap_or(f64::NAN),
        peak_pessimistic: usage.unwrap_or(f64::NAN),
        capacity_needed,
        target_utilization,
        units,
        cost,
        justification,
        caveats: vec![format!(
            "No forecast ({}): the urgency rests on the value now, and units are sized on it alone; growth is not included.",
            entity.why
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duration::PromDuration;

    #[test]
    fn a_full_new_volume_is_critical_and_sized_on_its_value() {
        let scaling = Scaling {
            lead_time: PromDuration::from_secs(86_400),
            target_utilization: 0.8,
            ..crate::test_util::scaling(10.0, "10 GB step", 5.0)
        };
        let r = recommend_exceeded(&Unforecast {
            now: 1_772_409_600.0,
            direction: Direction::Above,
            unit: "GB",
            capacity: Some(100.0),
            threshold: 90.0,
            current: 93.0,
            last_sample: 1_772_409_300.0,
            scaling: Some(&scaling),
            why: "insufficient history: 120 points over 10.0 h",
        });
        assert_eq!(r.urgency, Urgency::Critical);
        assert_eq!(r.runway_days, Some(0.0));
        assert!(r.order_by.is_some_and(|t| t < 1_772_409_600.0));
        // 93 GB under 80 % needs 116.25 GB: 12 steps of 10 GB instead of 10.
        let units = r.units.expect("units");
        assert_eq!((units.needed, units.change), (12, 2));
        assert!(
            r.cost
                .expect("cost")
                .projection
                .iter()
                .all(|m| m.units == 12 && m.basis == MonthBasis::Current)
        );
        assert!(r.caveats[0].contains("insufficient history"));
        // A remaining-space model past its floor: 4 GB free of 100 is 96 GB used.
        assert!(is_past(Direction::Below, 4.0, 10.0) && !is_past(Direction::Below, 40.0, 10.0));
        // The same rule as a forecast entity's: with 2 GB of each step spent on itself, a
        // step carries (10 - 2) x 80 % = 6.4 GB, so 93 GB needs 15 steps.
        let with_overhead = Scaling {
            overhead: 2.0,
            ..scaling.clone()
        };
        let r = recommend_exceeded(&Unforecast {
            now: 1_772_409_600.0,
            direction: Direction::Above,
            unit: "GB",
            capacity: Some(100.0),
            threshold: 90.0,
            current: 93.0,
            last_sample: 1_772_409_300.0,
            scaling: Some(&with_overhead),
            why: "insufficient history",
        });
        assert_eq!(r.units.map(|u| u.needed), Some(15));
    }
}
