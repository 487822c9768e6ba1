use super::*;
use crate::recommend::{MonthBasis, Urgency};

fn scaling() -> Scaling {
    crate::test_util::scaling(16.0, "node", 100.0)
}

/// A resource planned alone: crossing (earliest) at `earliest`, needing `needed` of 6 nodes.
fn resource(name: &str, earliest: Option<f64>, needed: u32, months: &[u32]) -> ResourceResult {
    let mut result = EntityResult::new(Labels::new([("pool", "a")]), None);
    result.exhaustion = Some(Exhaustion {
        likely: earliest.map(|t| t + 10.0),
        earliest,
        exceeded_now: false,
    });
    result.recommendation = Some(Recommendation {
        urgency: if earliest.is_some() {
            Urgency::Warning
        } else {
            Urgency::Ok
        },
        runway_days: earliest.map(|t| t / 86_400.0),
        earliest_runway_days: earliest.map(|t| t / 86_400.0),
        order_by: earliest,
        lead_time_days: 0.0,
        horizon_end: 1e9,
        peak_expected: 1.0,
        peak_pessimistic: 1.0,
        capacity_needed: None,
        target_utilization: 1.0,
        units: Some(Units {
            current: 6.0,
            needed,
            change: i64::from(needed) - 6,
            unit_name: "node".into(),
            unit_size: 16.0,
        }),
        cost: Some(Cost {
            currency: "EUR".into(),
            monthly_current: 600.0,
            monthly_recommended: f64::from(needed) * 100.0,
            projection: months
                .iter()
                .enumerate()
                .map(|(i, units)| MonthCost {
                    month: format!("2027-0{}", i + 1),
                    units: *units,
                    cost: f64::from(*units) * 100.0,
                    basis: MonthBasis::Forecast,
                })
                .collect(),
        }),
        justification: vec!["alone".into()],
        caveats: vec![
            "Removing capacity assumes the pessimistic forecast holds through the horizon; re-check before each step."
                .into(),
        ],
    });
    ResourceResult {
        resource: name.into(),
        unit: "u".into(),
        result,
    }
}

#[test]
fn the_first_to_cross_binds_units_are_the_most_any_needs_and_cost_is_counted_once() {
    let entity = join_entity(
        Labels::new([("pool", "a")]),
        vec![
            resource("cpu", Some(5_000_000.0), 9, &[6, 9]),
            resource("memory", Some(2_000_000.0), 7, &[7, 8]),
            resource("pods", None, 2, &[2, 2]),
        ],
        Some(&scaling()),
    );
    assert_eq!(entity.binding.as_deref(), Some("memory"));
    assert_eq!(entity.exhaustion.and_then(|x| x.earliest), Some(2_000_000.0));
    let r = entity.recommendation.expect("a recommendation");
    let units = r.units.expect("units");
    assert_eq!((units.needed, units.change), (9, 3));
    let cost = r.cost.expect("cost");
    assert_eq!(cost.monthly_recommended, 900.0);
    let months: Vec<(u32, f64)> = cost.projection.iter().map(|m| (m.units, m.cost)).collect();
    assert_eq!(months, vec![(7, 700.0), (9, 900.0)]);
    assert!(r.justification[0].starts_with("memory binds"), "{:?}", r.justification);
    // "Before" names cpu, which crosses later, not pods, which never does.
    assert!(
        r.justification[0].contains("before cpu (binding)"),
        "{:?}",
        r.justification
    );
    // Pods alone would remove nodes; the pool does not, so it says nothing of removing.
    assert!(r.caveats.iter().all(|c| !c.contains("Removing")), "{:?}", r.caveats);
}

#[test]
fn the_pool_shrinks_only_when_every_resource_allows_and_an_unplanned_resource_is_said() {
    let all_allow = join_entity(
        Labels::new([("pool", "a")]),
        vec![resource("cpu", None, 4, &[4]), resource("memory", None, 5, &[5])],
        Some(&scaling()),
    );
    assert_eq!(
        all_allow.binding.as_deref(),
        Some("memory"),
        "no crossing: the most units binds"
    );
    let r = all_allow.recommendation.expect("a recommendation");
    assert_eq!(r.units.map(|u| u.change), Some(-1));
    assert!(
        r.caveats.iter().any(|c| c.contains("every resource")),
        "{:?}",
        r.caveats
    );

    let mut broken = resource("memory", None, 1, &[1]);
    broken.result.recommendation = None;
    broken.result.exhaustion = None;
    broken.result.status = EntityStatus::Error;
    broken.result.reason = Some("the capacity query answers nothing".into());
    let entity = join_entity(
        Labels::new([("pool", "a")]),
        vec![resource("cpu", None, 4, &[4]), broken],
        Some(&scaling()),
    );
    assert_eq!(entity.status, EntityStatus::Error);
    assert_eq!(
        entity.reason.as_deref(),
        Some("memory: the capacity query answers nothing")
    );
    let r = entity.recommendation.expect("cpu's, caveated");
    assert!(
        r.caveats.iter().any(|c| c.starts_with("memory could not be planned")),
        "{:?}",
        r.caveats
    );
    // cpu alone would remove 2 of 6 nodes: memory may be the one that binds, so none goes.
    let units = r.units.expect("cpu's units");
    assert_eq!((units.needed, units.change), (6, 0), "{units:?}");
    assert_eq!(r.cost.map(|c| c.monthly_recommended), Some(600.0));
    assert!(
        r.justification[0].starts_with("No planned resource crosses"),
        "{:?}",
        r.justification
    );
}

/// A resource planned without units (its unit size could not be read) still binds when it
/// crosses first; the pool's units come from the others and never shrink on their word.
#[test]
fn a_resource_without_units_binds_and_keeps_the_pool_from_shrinking() {
    let mut memory = resource("memory", Some(1_000_000.0), 9, &[9]);
    let r = memory.result.recommendation.as_mut().expect("planned");
    r.units = None;
    r.cost = None;
    r.urgency = Urgency::Critical;
    let entity = join_entity(
        Labels::new([("pool", "a")]),
        vec![resource("cpu", None, 4, &[4]), memory],
        Some(&scaling()),
    );
    assert_eq!(entity.binding.as_deref(), Some("memory"));
    let r = entity.recommendation.expect("a recommendation");
    assert_eq!(r.urgency, Urgency::Critical);
    let units = r.units.expect("cpu's units");
    assert_eq!((units.needed, units.change), (6, 0), "{units:?}");
    assert_eq!(r.cost.map(|c| c.monthly_recommended), Some(600.0));
}
