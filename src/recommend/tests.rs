//! Recommendations checked against numbers computed by hand, and properties that must hold
//! for any input.

use proptest::prelude::*;

use super::*;
use crate::duration::PromDuration;
use crate::forecast::Forecast;
use crate::recommend::exhaustion::exhaustion;

const NOW: f64 = 1_790_000_000.0; // 2026-09-21T14:13:20Z
const STEP: f64 = 3600.0;

/// A forecast that grows `slope` per hour from `last`, with a 95 % band of ±`width`.
fn linear(last: f64, slope: f64, width: f64, hours: usize) -> Forecast {
    let mut forecast = crate::forecast::testing::linear(NOW, STEP, last, slope, width, hours);
    forecast.diagnostics.history_points = 28 * 24;
    forecast.diagnostics.observed_points = 28 * 24;
    forecast.diagnostics.seasonal_amplitude = 4.0;
    forecast
}

fn pool_scaling() -> Scaling {
    Scaling {
        lead_time: PromDuration::from_secs(21 * 86_400),
        target_utilization: 0.7,
        min_units: 3,
        max_units: Some(40),
        ..crate::test_util::scaling(16.0, "node", 400.0)
    }
}

fn recommend_for(forecast: &Forecast, capacity: f64, threshold: f64, scaling: &Scaling) -> Recommendation {
    let summary = forecast.summary();
    let peaks = sizing::peaks(forecast, Direction::Above, Some(capacity), f64::INFINITY);
    recommend(&Situation {
        now: NOW,
        direction: Direction::Above,
        unit: "cores",
        capacity: Some(capacity),
        threshold: Some(threshold),
        forecast: &summary,
        peaks: peaks.as_ref(),
        exhaustion: Some(exhaustion(forecast, threshold, Direction::Above)),
        scaling: Some(scaling),
        driver: None,
        driver_used: false,
    })
}

#[test]
fn a_growing_pool_gets_units_and_an_order_by_date() {
    // 10 nodes of 16 cores = 160 cores; usage 100 cores growing 0.1 core/hour (2.4/day);
    // threshold 85 % = 136 cores; 95 % band ±6 cores; 60-day horizon.
    let scaling = pool_scaling();
    let forecast = linear(100.0, 0.1, 6.0, 60 * 24);
    let r = recommend_for(&forecast, 160.0, 136.0, &scaling);
    // Expected path reaches 136 after 360 h (15 days); the upper bound (+6) after 300 h.
    assert!((r.runway_days.expect("runway") - 15.0).abs() < 1e-6);
    assert!((r.earliest_runway_days.expect("earliest") - 12.5).abs() < 1e-6);
    // Order by = earliest crossing - 21 days: 8.5 days ago, so critical.
    assert!((r.order_by.expect("order by") - (NOW + (12.5 - 21.0) * 86_400.0)).abs() < 1e-3);
    assert_eq!(r.urgency, Urgency::Critical);
    // Pessimistic peak at the horizon: 100 + 0.1 * 1440 + 6 = 250 cores; / 0.7 = 357.14 cores;
    // / 16 = 22.3 -> 23 nodes, 13 more than today's 10.
    assert!((r.peak_pessimistic - 250.0).abs() < 1e-9);
    let units = r.units.as_ref().expect("units");
    assert_eq!((units.needed, units.change), (23, 13));
    let cost = r.cost.as_ref().expect("cost");
    assert_eq!((cost.monthly_current, cost.monthly_recommended), (4000.0, 9200.0));
    assert_eq!(cost.projection.len(), 12);
    assert!(
        r.justification.iter().any(|s| s.contains("add 13 nodes")),
        "{:#?}",
        r.justification
    );
}

#[test]
fn an_idle_pool_is_told_what_it_can_remove() {
    // 10 nodes, usage flat at 20 cores ± 2: needed 22 / 0.7 = 31.4 cores = 2 nodes -> min 3.
    let scaling = pool_scaling();
    let forecast = linear(20.0, 0.0, 2.0, 30 * 24);
    let r = recommend_for(&forecast, 160.0, 136.0, &scaling);
    assert_eq!(r.urgency, Urgency::Ok);
    assert_eq!(r.runway_days, None);
    let units = r.units.as_ref().expect("units");
    assert_eq!((units.needed, units.change), (3, -7));
    let cost = r.cost.as_ref().expect("cost");
    assert_eq!(cost.monthly_current - cost.monthly_recommended, 2800.0);
    assert!(cost.projection.iter().all(|m| m.units == 3));
    assert!(r.justification.iter().any(|s| s.contains("remove 7 nodes")));
}

#[test]
fn already_past_the_limit_is_critical() {
    let forecast = linear(150.0, 0.0, 1.0, 48);
    let r = recommend_for(&forecast, 160.0, 136.0, &pool_scaling());
    assert_eq!(r.urgency, Urgency::Critical);
    assert_eq!(r.runway_days, Some(0.0));
}

#[test]
fn every_number_a_sentence_quotes_is_a_field() {
    // A growing pool (crosses), an idle one (does not), and one already past its limit.
    let cases = [
        linear(100.0, 0.1, 6.0, 60 * 24),
        linear(20.0, 0.0, 2.0, 30 * 24),
        linear(150.0, 0.0, 1.0, 48),
    ];
    for forecast in &cases {
        let r = recommend_for(forecast, 160.0, 136.0, &pool_scaling());
        let json = serde_json::to_value(crate::report::json::recommendation(&r)).expect("json");
        for sentence in &r.justification {
            // Each sentence names the field it rests on, in parentheses.
            let named: Vec<&str> = sentence
                .split('(')
                .skip(1)
                .filter_map(|rest| rest.split(')').next())
                .map(|inside| inside.rsplit(", ").next().unwrap_or(inside))
                .filter(|name| name.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
                .collect();
            for name in named {
                let known = json.get(name).is_some()
                    || ["trend_per_day", "seasonal_amplitude", "backtest_mase", "driver"].contains(&name);
                assert!(known, "sentence {sentence:?} names {name}, which is not a field");
            }
        }
    }
}

proptest! {
    /// More capacity never makes a recommendation more urgent.
    #[test]
    fn more_capacity_never_raises_urgency(last in 0.0f64..200.0, slope in -0.5f64..1.0, width in 0.0f64..20.0, extra in 0.0f64..200.0) {
        let scaling = pool_scaling();
        let forecast = linear(last, slope, width, 30 * 24);
        let small = recommend_for(&forecast, 160.0, 0.85 * 160.0, &scaling);
        let large = recommend_for(&forecast, 160.0 + extra, 0.85 * (160.0 + extra), &scaling);
        prop_assert!(large.urgency <= small.urgency);
        prop_assert!(large.units.as_ref().map(|u| u.needed) == small.units.as_ref().map(|u| u.needed));
    }

    /// Faster growth never delays exhaustion or the order-by date.
    #[test]
    fn more_growth_never_delays_exhaustion(last in 0.0f64..130.0, slope in 0.0f64..1.0, more in 0.0f64..1.0, width in 0.0f64..10.0) {
        let scaling = pool_scaling();
        let slow = recommend_for(&linear(last, slope, width, 30 * 24), 160.0, 136.0, &scaling);
        let fast = recommend_for(&linear(last, slope + more, width, 30 * 24), 160.0, 136.0, &scaling);
        if let Some(slow_order_by) = slow.order_by {
            prop_assert!(fast.order_by.is_some_and(|t| t <= slow_order_by + 1e-6));
        }
        if let Some(slow_runway) = slow.runway_days {
            prop_assert!(fast.runway_days.is_some_and(|d| d <= slow_runway + 1e-9));
        }
        prop_assert!(fast.urgency >= slow.urgency);
        prop_assert!(fast.units.as_ref().map(|u| u.needed) >= slow.units.as_ref().map(|u| u.needed));
    }

    /// The 12-month projection never costs less than the minimum units.
    #[test]
    fn projections_respect_the_bounds(last in 0.0f64..500.0, slope in -1.0f64..3.0) {
        let scaling = pool_scaling();
        let r = recommend_for(&linear(last, slope, 5.0, 30 * 24), 160.0, 136.0, &scaling);
        for month in &r.cost.as_ref().expect("cost").projection {
            prop_assert!(month.units >= 3 && month.units <= 40);
            prop_assert!((month.cost - f64::from(month.units) * 400.0).abs() < 1e-9);
        }
    }
}

/// Each node spends 2 cores on itself (the kubelet's reservation, a DaemonSet), which the
/// usage query does not count: a node carries (16 - 2) x 70 % = 9.8 cores, so the same
/// pessimistic peak of 250 cores needs 26 nodes instead of 23.
#[test]
fn a_per_unit_overhead_changes_the_unit_count() {
    let scaling = Scaling {
        overhead: 2.0,
        ..pool_scaling()
    };
    let forecast = linear(100.0, 0.1, 6.0, 60 * 24);
    let r = recommend_for(&forecast, 160.0, 136.0, &scaling);
    let units = r.units.as_ref().expect("units");
    assert_eq!((units.needed, units.change), ((250.0f64 / 9.8).ceil() as u32, 16));
    // Capacity needed: the peak at the target utilisation plus each node's overhead.
    let needed = r.capacity_needed.expect("capacity needed");
    assert!((needed - (250.0 / 0.7 + 2.0 * 26.0)).abs() < 1e-9, "{needed}");
    assert!(
        r.justification.iter().any(|s| s.contains("spent on itself (overhead)")),
        "{:#?}",
        r.justification
    );
    assert_eq!(scaling.units_for(0.0), 3, "never below min_units");
}

/// Units sized over the next 30 days only (a team that buys monthly), while exhaustion is
/// still searched over the 60-day horizon: the peak at day 30 is 100 + 0.1 x 720 + 6 = 178
/// cores, / 11.2 = 15.9, so 16 nodes; the crossing dates do not move.
#[test]
fn a_sizing_horizon_sizes_units_on_its_own_span() {
    let scaling = Scaling {
        sizing_horizon: Some(PromDuration::from_secs(30 * 86_400)),
        ..pool_scaling()
    };
    let forecast = linear(100.0, 0.1, 6.0, 60 * 24);
    let summary = forecast.summary();
    let until = forecast.last_timestamp + 30.0 * 86_400.0;
    let peaks = sizing::peaks(&forecast, Direction::Above, Some(160.0), until);
    let r = recommend(&Situation {
        now: NOW,
        direction: Direction::Above,
        unit: "cores",
        capacity: Some(160.0),
        threshold: Some(136.0),
        forecast: &summary,
        peaks: peaks.as_ref(),
        exhaustion: Some(exhaustion(&forecast, 136.0, Direction::Above)),
        scaling: Some(&scaling),
        driver: None,
        driver_used: false,
    });
    assert!((r.peak_pessimistic - 178.0).abs() < 1e-9, "{}", r.peak_pessimistic);
    assert_eq!(r.units.as_ref().map(|u| u.needed), Some(16));
    assert!((r.runway_days.expect("runway") - 15.0).abs() < 1e-6);
    // The budget still projects every month the forecast covers.
    let months = &r.cost.as_ref().expect("cost").projection;
    assert!(months.iter().any(|m| m.units > 16), "{months:?}");
}
