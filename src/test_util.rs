//! Builders for the unit tests: a small cycle outcome with a known shape, shared by every
//! rendering's tests.

use std::sync::Arc;

use crate::outcome::{CycleOutcome, EntityResult, EntityStatus, ModelOutcome};
use crate::recommend::{Recommendation, Units, Urgency};
use crate::series::Labels;

/// A scaling section of `unit_size` per `unit_name` at `unit_cost` EUR: no lead time, no
/// target below 100 %, no bounds, no overhead; tests override what they exercise.
pub(crate) fn scaling(unit_size: f64, unit_name: &str, unit_cost: f64) -> crate::model::Scaling {
    crate::model::Scaling {
        unit_size,
        unit_name: unit_name.into(),
        unit_cost,
        currency: "EUR".into(),
        lead_time: crate::duration::PromDuration::from_secs(0),
        target_utilization: 1.0,
        min_units: 0,
        max_units: None,
        overhead: 0.0,
        sizing_horizon: None,
    }
}

/// An entity of the `disk` model on `host`, with a recommendation of `urgency`, a runway of
/// `runway` days and a change of `change` units.
pub(crate) fn entity(host: &str, urgency: Urgency, runway: Option<f64>, change: i64) -> EntityResult {
    let now = 1_800_000_000.0;
    let team = if host == "c" { "web" } else { "storage" };
    EntityResult {
        capacity: Some(100.0),
        threshold: Some(90.0),
        current: Some(50.0),
        exhaustion: Some(crate::recommend::exhaustion::Exhaustion {
            likely: runway.map(|d| now + d * 86_400.0),
            earliest: runway.map(|d| now + (d - 2.0) * 86_400.0),
            exceeded_now: false,
        }),
        recommendation: Some(Recommendation {
            urgency,
            runway_days: runway,
            earliest_runway_days: runway.map(|d| d - 2.0),
            order_by: runway.map(|d| now + (d - 9.0) * 86_400.0),
            lead_time_days: 7.0,
            horizon_end: now + 30.0 * 86_400.0,
            peak_expected: 80.0,
            peak_pessimistic: 95.0,
            capacity_needed: Some(120.0),
            target_utilization: 0.8,
            units: Some(Units {
                current: 4.0,
                needed: (4 + change) as u32,
                change,
                unit_name: "disk".into(),
                unit_size: 25.0,
            }),
            cost: Some(crate::recommend::Cost {
                currency: "EUR".into(),
                monthly_current: 40.0,
                monthly_recommended: 40.0 + 10.0 * change as f64,
                projection: Vec::new(),
            }),
            justification: vec!["usage grows 1 GB/day".into()],
            caveats: Vec::new(),
        }),
        ..EntityResult::new(Labels::new([("host", host)]), Some(team.into()))
    }
}

/// A cycle of one model with three disks: warning, critical and ok.
pub(crate) fn cycle() -> CycleOutcome {
    CycleOutcome {
        evaluated_at: 1_800_000_000.0,
        duration_seconds: 1.0,
        source: "test".into(),
        source_up: true,
        models: vec![ModelOutcome {
            model: "disk".into(),
            unit: "bytes".into(),
            error: None,
            entities: vec![
                entity("a", Urgency::Warning, Some(20.0), 1),
                entity("b", Urgency::Critical, Some(4.0), 2),
                entity("c", Urgency::Ok, None, -2),
            ],
            duration_seconds: 0.1,
            results_from: Some(1_800_000_000.0),
        }],
        source_errors: Default::default(),
        scenario: None,
        scenarios: Vec::new(),
        fetch: Default::default(),
    }
}

/// Compares `actual` with the golden file `tests/data/golden/<name>`. Run the tests with
/// `HEADROOM_UPDATE_GOLDEN=1` to write the files anew after a deliberate change, then review
/// the diff: these files are the public outputs as users see them.
pub(crate) fn check_golden(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/golden")
        .join(name);
    if std::env::var_os("HEADROOM_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().expect("golden dir")).expect("create golden dir");
        std::fs::write(&path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with HEADROOM_UPDATE_GOLDEN=1 to create it",
            path.display()
        )
    });
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the output at line {}:\n  golden: {:?}\n  output: {:?}\n\
             (if the change is deliberate, rerun with HEADROOM_UPDATE_GOLDEN=1 and review the diff)",
            path.display(),
            first + 1,
            expected.lines().nth(first).unwrap_or(""),
            actual.lines().nth(first).unwrap_or(""),
        );
    }
}

/// The fixture cycle with a forecast, a scenario, a driver fit and an accuracy score on the
/// critical disk, so that every part of the public documents appears.
pub(crate) fn rich_cycle() -> CycleOutcome {
    use crate::forecast::{Diagnostics, ForecastSummary, Method, PathPoint, SeasonalMode};
    let mut outcome = cycle();
    outcome.scenarios = vec![crate::outcome::ScenarioReach {
        name: "launch".into(),
        entities_matched: 3,
        entities_changed: 1,
    }];
    let now = outcome.evaluated_at;
    for entity in &mut outcome.models[0].entities {
        if let Some(cost) = entity.recommendation.as_mut().and_then(|r| r.cost.as_mut()) {
            let units = entity_units(cost.monthly_recommended);
            cost.projection = ["2027-01", "2027-02"]
                .iter()
                .map(|month| crate::recommend::MonthCost {
                    month: month.to_string(),
                    units,
                    cost: cost.monthly_recommended,
                    basis: if *month == "2027-01" {
                        crate::recommend::MonthBasis::Forecast
                    } else {
                        crate::recommend::MonthBasis::Trend
                    },
                })
                .collect();
        }
    }
    let disk = &mut outcome.models[0].entities[1];
    disk.forecast = Some(Arc::new(ForecastSummary {
        diagnostics: Diagnostics {
            method: Method::SeasonalLinear,
            seasonal_mode: SeasonalMode::Additive,
            periods_secs: vec![86_400.0],
            history_points: 8064,
            observed_points: 8000,
            regime_start: Some(now - 10.0 * 86_400.0),
            trend_per_day: 1.5,
            seasonal_amplitude: 4.0,
            backtest_mase: Some(0.62),
        },
        step: 300.0,
        last_timestamp: now,
        last_value: 50.0,
        horizon_end: now + 30.0 * 86_400.0,
        path: vec![PathPoint {
            timestamp: now + 30.0 * 86_400.0,
            mean: 95.0,
            lower_80: 90.0,
            upper_80: 100.0,
            lower_95: 87.5,
            upper_95: 102.5,
        }],
    }));
    disk.scenarios.push(crate::outcome::ScenarioOutcome {
        binding: None,
        scenario: "launch".into(),
        exhaustion: disk.exhaustion,
        recommendation: disk.recommendation.clone(),
    });
    disk.driver = Some(crate::scenario::driver::DriverFit {
        name: "requests".into(),
        intercept: 2.0,
        slope: 0.01,
        r_squared: 0.93,
        residual_std: 1.5,
        points: 8000,
        residual_half_widths: [2.0, 3.0],
    });
    disk.driver_used = true;
    disk.accuracy.push(crate::forecast::accuracy::Score {
        entity: "disk{host=\"b\"}".into(),
        made_at: now - 86_400.0,
        checkpoint: "1d".into(),
        mase: 0.8,
        coverage_80: 0.85,
        coverage_95: 0.97,
        points: 288,
        predicted: 49.0,
        actual: 50.0,
        at: now,
    });
    outcome
}

/// The units a fixture disk's monthly cost pays for (10 per unit).
fn entity_units(monthly: f64) -> u32 {
    (monthly / 10.0).round() as u32
}

/// A disk model measured hourly against 90 GB, with `extra` lines appended.
pub(crate) fn replay_model(extra: &str) -> crate::model::CapacityModel {
    let text = format!("name = \"disk\"\nusage = \"used\"\nthreshold = 90\nstep = \"1h\"\nunit = \"GB\"\n{extra}");
    crate::config::models::load_texts(&[("disk.toml", text.as_str())])
        .expect("model")
        .remove(0)
}

fn replay_series(host: &str, hours: std::ops::Range<usize>, value: impl Fn(f64) -> f64) -> crate::series::Series {
    crate::series::Series {
        labels: Labels::new([("host", host)]),
        samples: hours
            .map(|h| crate::series::Sample {
                timestamp: h as f64 * 3600.0,
                value: value(h as f64),
            })
            .collect(),
    }
}

fn replay_plan(alerts: bool, likely: Option<f64>, exceeded_now: bool) -> crate::replay::MomentPlan {
    crate::replay::MomentPlan {
        status: EntityStatus::Ok,
        likely,
        earliest: likely,
        exceeded_now,
        urgency: Some(if alerts { Urgency::Critical } else { Urgency::Ok }),
        order_by: likely,
    }
}

/// Three disks replayed hourly from hour 48 to hour 120:
/// - `steady` grows 1 GB an hour and crosses 90 GB at hour 90; Headroom alerts from hour 60
///   with a likely date 2 hours late until the crossing, the baseline (24 h ahead) from hour 66;
/// - `flat` stays at 10 GB; Headroom alerts (wrongly) at hours 50-54;
/// - `short` stays at 10 GB but its data ends at hour 150; Headroom alerts at hours 100-104,
///   whose 7-day horizon reaches past the data: pending.
///
/// At hour 110 the whole model failed.
pub(crate) fn replay() -> crate::replay::Replay {
    use crate::replay::*;
    let model = replay_model("");
    let rule = crate::replay::baseline::BaselineRule::default();
    let moments = moments(48.0 * 3600.0, 120.0 * 3600.0, 3600.0);
    let usage = vec![
        replay_series("flat", 0..400, |_| 10.0),
        replay_series("short", 0..151, |_| 10.0),
        replay_series("steady", 0..400, |h| h),
    ];
    let outcomes: Vec<MomentOutcome> = moments
        .iter()
        .map(|&at| {
            let h = at / 3600.0;
            if h == 110.0 {
                return Err("the source was down".to_string());
            }
            let steady = replay_plan(
                h >= 60.0,
                Some(if h >= 90.0 { h * 3600.0 } else { 92.0 * 3600.0 }),
                h >= 90.0,
            );
            Ok(vec![
                (Labels::new([("host", "steady")]), steady),
                (
                    Labels::new([("host", "flat")]),
                    replay_plan((50.0..=54.0).contains(&h), None, false),
                ),
                (
                    Labels::new([("host", "short")]),
                    replay_plan((100.0..=104.0).contains(&h), None, false),
                ),
            ])
        })
        .collect();
    let capacity = crate::plan::inputs::CapacityLookup::None;
    let data = ModelData {
        usage: &usage,
        capacity: &capacity,
    };
    let replayed = ModelReplay::new(&model, &rule, &moments, outcomes, &data);
    Replay {
        from: 48.0 * 3600.0,
        to: 120.0 * 3600.0,
        every: 3600.0,
        moments,
        rule,
        source: "test".into(),
        read_until: 399.0 * 3600.0,
        models: vec![replayed],
    }
}
