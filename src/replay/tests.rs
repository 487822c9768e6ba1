//! Replay's figures on hand-made truths, each checked against numbers worked out here.

use super::baseline::BaselineRule;
use super::summary;
use super::*;
use crate::duration::PromDuration;
use crate::test_util::replay_model as model;

const HOUR: f64 = 3600.0;

fn replay() -> Replay {
    crate::test_util::replay()
}

fn summary_of(replay: &Replay, host: &str) -> summary::Summary {
    let model = &replay.models[0];
    let entity = model
        .entities
        .iter()
        .find(|e| e.labels.get("host") == Some(host))
        .expect("entity");
    summary::entity(replay, model, entity)
}

#[test]
fn moments_run_from_the_start_to_the_end_inclusive() {
    assert_eq!(moments(0.0, 10.0, 5.0), vec![0.0, 5.0, 10.0]);
    assert_eq!(moments(0.0, 9.0, 5.0), vec![0.0, 5.0]);
    assert!(moments(10.0, 0.0, 5.0).is_empty());
    assert!(moments(0.0, 10.0, 0.0).is_empty());
}

#[test]
fn a_real_crossing_is_warned_of_by_both_sides_with_their_own_lead() {
    let replay = replay();
    assert_eq!(
        replay.models[0].failures,
        vec![(110.0 * HOUR, "the source was down".to_string())]
    );
    let steady = summary_of(&replay, "steady");
    // Headroom alerts at hours 60..=120 except the failed hour 110: 60 moments, all true.
    assert_eq!(steady.headroom.alerts, 60);
    assert_eq!(steady.headroom.true_alert_hours, 60.0);
    assert_eq!(steady.headroom.false_alert_hours, 0.0);
    // The baseline: used(t) + 24 ≥ 90 from hour 66 on, 55 moments (it needs no plan).
    assert_eq!(steady.baseline.alerts, 55);
    assert_eq!(steady.baseline.false_alert_hours, 0.0);
    // One crossing, at hour 90: Headroom's run started at 60, the baseline's at 66.
    assert_eq!((steady.headroom.crossings, steady.headroom.missed), (1, 0));
    assert_eq!(steady.headroom.median_lead_hours(), Some(30.0));
    assert_eq!(steady.baseline.median_lead_hours(), Some(24.0));
    // The likely date was 2 hours late at each of the 42 moments before the crossing.
    assert_eq!(steady.likely.errors.len(), 42);
    assert_eq!(steady.likely.median_days(), Some(2.0 / 24.0));
    assert_eq!(steady.likely.without_crossing, 0);
}

#[test]
fn alerts_without_a_crossing_are_false_and_past_the_data_pending() {
    let replay = replay();
    let flat = summary_of(&replay, "flat");
    assert_eq!(flat.headroom.false_alert_hours, 5.0);
    assert_eq!(flat.baseline.alerts, 0, "a flat line never reaches 90");
    assert_eq!(flat.headroom.crossings, 0);
    let short = summary_of(&replay, "short");
    assert_eq!(short.headroom.pending_alert_hours, 5.0);
    assert_eq!(short.headroom.false_alert_hours, 0.0);
    let total = summary::total(
        &replay.models[0]
            .entities
            .iter()
            .map(|e| summary::entity(&replay, &replay.models[0], e))
            .collect::<Vec<_>>(),
    );
    assert_eq!(total.headroom.alert_hours, 70.0);
    assert_eq!(total.false_hours_saved(), -5.0);
}

#[test]
fn a_lead_time_longer_than_the_warning_is_a_miss() {
    // With a 27-hour lead time, only crossings from hour 75 on are judged: the one at 90.
    // Headroom warned 30 hours ahead (in time); the baseline 24 (too late).
    let mut replay = replay();
    let lead = "[scaling]\nunit_size = 1\nunit_name = \"GB\"\nunit_cost = 1\ncurrency = \"EUR\"\nlead_time = \"27h\"\n";
    let model = model(lead);
    assert_eq!(
        model.scaling.as_ref().map(|s| s.lead_time),
        Some(PromDuration::from_secs(27 * 3600))
    );
    replay.models[0].lead_time = 27.0 * HOUR;
    replay.models[0].headroom_horizon += 27.0 * HOUR;
    let steady = summary_of(&replay, "steady");
    assert_eq!((steady.headroom.warned_in_time, steady.headroom.missed), (1, 0));
    assert_eq!((steady.baseline.warned_in_time, steady.baseline.missed), (0, 1));
}

#[test]
fn the_baseline_sees_nothing_after_its_moment() {
    // The steady disk's baseline at every moment is the same whether or not the data goes on
    // after it: each call reads only (t - 6h, t].
    let replay = replay();
    let steady = &replay.models[0].entities[2];
    let rule = BaselineRule::default();
    for (index, &at) in replay.moments.iter().enumerate() {
        let cut: Vec<(f64, f64)> = steady.truth.samples.iter().copied().filter(|(t, _)| *t <= at).collect();
        let alone = rule.evaluate(&cut, at, 90.0, Direction::Above);
        assert_eq!(steady.baseline[index], alone, "moment {at}");
    }
    assert_eq!(
        rule.expression(&model("")),
        "predict_linear((used)[6h:1h], 86400) >= 90.00"
    );
}
