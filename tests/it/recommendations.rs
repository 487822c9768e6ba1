//! Recommendations through the whole pipeline, against a real Prometheus, with the expected
//! numbers computed by hand from the formula that generated the history.

use std::f64::consts::PI;
use std::fmt::Write;

use crate::harness::{Prometheus, Setup, once_json};

const STEP: u64 = 300;
const DAYS: u64 = 28;

/// Cores used by pool eu-2: idle, about 20 cores with a small daily swing.
fn idle_cores(t: f64) -> f64 {
    20.0 + 3.0 * (2.0 * PI * t / 86_400.0).sin()
}

/// Cores used by pool eu-1: 100 cores of base load growing 3 % a week (compounded), shaped by
/// office hours (peaks at 1.0, nights at 0.55) and quieter weekends (0.8).
fn cores_used(t: f64, start: f64) -> f64 {
    let weeks = (t - start) / (7.0 * 86_400.0);
    let day = (t / 86_400.0).fract();
    let office = 0.5 * (1.0 - (2.0 * PI * (day - 0.1)).cos());
    let weekday = ((t / 86_400.0).floor() as i64).rem_euclid(7);
    let weekend = if matches!(weekday, 2 | 3) { 0.8 } else { 1.0 };
    100.0 * 1.03f64.powf(weeks) * (0.55 + 0.45 * office) * weekend
}

const POOL_MODEL: &str = r#"
name = "pool-cpu"
usage = 'pool_cpu_cores_used'
capacity = 'pool_cpu_cores'
threshold = "85%"
unit = "cores"
team = "platform"
history = "28d"
step = "5m"
horizon = "60d"

[scaling]
unit_size = 16
unit_name = "node"
unit_cost = 400
currency = "EUR"
lead_time = "21d"
target_utilization = "70%"
min_units = 3
"#;

/// The entity of pool `name` in `once --format json` output.
fn pool<'a>(json: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    json["models"][0]["entities"]
        .as_array()
        .and_then(|entities| entities.iter().find(|e| e["labels"]["pool"] == name))
        .unwrap_or_else(|| panic!("no pool {name} in {json:#}"))
}

#[test]
fn a_growing_node_pool_gets_the_right_units_and_order_by_date() {
    let (start, end, points) = crate::harness::recent_window(DAYS, STEP);
    let mut history = String::from("# TYPE pool_cpu_cores_used gauge\n");
    for k in 0..points {
        let t = start + k * STEP;
        let _ = writeln!(
            history,
            "pool_cpu_cores_used{{pool=\"eu-1\"}} {} {t}",
            cores_used(t as f64, start as f64)
        );
    }
    for k in 0..points {
        let t = start + k * STEP;
        let _ = writeln!(
            history,
            "pool_cpu_cores_used{{pool=\"eu-2\"}} {} {t}",
            idle_cores(t as f64)
        );
    }
    history.push_str("# TYPE pool_cpu_cores gauge\n");
    for pool in ["eu-1", "eu-2"] {
        for k in (0..points).step_by(12) {
            let _ = writeln!(history, "pool_cpu_cores{{pool=\"{pool}\"}} 160 {}", start + k * STEP);
        }
        let _ = writeln!(history, "pool_cpu_cores{{pool=\"{pool}\"}} 160 {end}");
    }
    history.push_str("# EOF\n");
    let prometheus = Prometheus::start_with_history(&history);
    // A scenario: 30 % more load from the end of the history on.
    let scenario = format!(
        "[[scenarios]]\nname = \"plus-30\"\n[[scenarios.changes]]\nkind = \"step\"\nfrom = \"{end}\"\nmultiply = 1.3\nmodels = [\"pool-cpu\"]\n"
    );
    let setup = Setup::new(
        &crate::harness::config_for(&prometheus.url(), &scenario),
        &[("pool.toml", POOL_MODEL)],
    );
    let output = once_json(&setup, end);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    crate::harness::assert_matches_schema(
        "docs/schemas/cycle.schema.json",
        &String::from_utf8_lossy(&output.stdout),
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let entity = pool(&json, "eu-1");
    let r = &entity["recommendation"];
    assert_eq!(entity["team"], "platform");

    // By hand: the threshold is 85 % of 160 = 136 cores; the truth's weekday peaks reach it
    // at the first minute the formula does.
    let (start, end) = (start as f64, end as f64);
    let truth_cross = (0..200_000)
        .map(|m| end + m as f64 * 60.0)
        .find(|&t| cores_used(t, start) >= 136.0)
        .expect("crosses");
    let runway = truth_cross - end;
    let likely = entity["exhaustion"]["likely"].as_f64().expect("likely");
    assert!(
        (likely - truth_cross).abs() <= 0.15 * runway,
        "likely {:.1} d, truth {:.1} d",
        (likely - end) / 86_400.0,
        runway / 86_400.0
    );
    // Order by = earliest crossing - 21 days; the earliest is no later than the truth.
    let order_by = r["order_by"].as_f64().expect("order_by");
    let earliest = entity["exhaustion"]["earliest"].as_f64().expect("earliest");
    assert!((order_by - (earliest - 21.0 * 86_400.0)).abs() < 1.0);
    assert!(earliest <= truth_cross + 0.05 * runway, "earliest after the truth");
    // Units: the truth's peak over the 60-day horizon, kept under 70 % of capacity, in
    // 16-core nodes. The forecast extrapolates compounding growth linearly and adds its 95 %
    // band, so allow the hand figure or up to two nodes more.
    let horizon_peak = (0..60 * 24 * 60)
        .map(|m| cores_used(end + m as f64 * 60.0, start))
        .fold(0.0, f64::max);
    let by_hand = (horizon_peak / 0.7 / 16.0).ceil() as i64;
    let needed = r["units"]["needed"].as_i64().expect("needed");
    assert!(
        (by_hand..=by_hand + 2).contains(&needed),
        "needed {needed} nodes, by hand {by_hand}"
    );
    assert_eq!(r["units"]["change"].as_i64(), Some(needed - 10), "10 nodes today");
    let peak = r["peak_pessimistic"].as_f64().expect("peak");
    assert_eq!(
        needed,
        (peak / 0.7 / 16.0).ceil() as i64,
        "units follow from the stated peak"
    );
    assert_eq!(r["cost"]["monthly_current"].as_f64(), Some(4000.0));
    assert_eq!(r["cost"]["monthly_recommended"].as_f64(), Some(needed as f64 * 400.0));
    let urgency = r["urgency"].as_str().expect("urgency");
    let days_to_order = (order_by - end) / 86_400.0;
    let expected = if days_to_order <= 7.0 {
        "critical"
    } else if days_to_order <= 30.0 {
        "warning"
    } else {
        "ok"
    };
    assert_eq!(urgency, expected, "order by in {days_to_order:.1} days");
    let sentences = r["justification"].as_array().expect("justification");
    assert!(
        sentences.iter().any(|s| s
            .as_str()
            .is_some_and(|s| s.contains(&format!("add {} nodes", needed - 10)))),
        "{sentences:#?}"
    );

    // The idle pool: about 23 cores at its peaks need ceil(23 / 0.7 / 16) = 3 nodes, which is
    // also the minimum: 7 of its 10 nodes can go, saving 7 x 400 EUR a month.
    let idle = &pool(&json, "eu-2")["recommendation"];
    assert_eq!(idle["urgency"], "ok");
    assert_eq!(idle["units"]["needed"].as_i64(), Some(3), "{idle:#}");
    assert_eq!(idle["units"]["change"].as_i64(), Some(-7));
    let saving = idle["cost"]["monthly_current"].as_f64().expect("current")
        - idle["cost"]["monthly_recommended"].as_f64().expect("recommended");
    assert_eq!(saving, 2800.0);
    assert!(
        idle["justification"]
            .as_array()
            .expect("sentences")
            .iter()
            .any(|s| s.as_str().is_some_and(|s| s.contains("remove 7 nodes")))
    );

    // The budget: per scenario, each month is the sum of both pools' projections.
    let budget = json["budget"].as_array().expect("budget");
    let baseline = budget
        .iter()
        .find(|l| l["scenario"] == "baseline")
        .expect("baseline budget");
    let projections: Vec<&Vec<serde_json::Value>> = ["eu-1", "eu-2"]
        .iter()
        .map(|p| {
            pool(&json, p)["recommendation"]["cost"]["projection"]
                .as_array()
                .expect("projection")
        })
        .collect();
    let months = baseline["months"].as_array().expect("months");
    assert_eq!(months.len(), 12);
    for (m, month) in months.iter().enumerate() {
        let by_hand: f64 = projections.iter().map(|p| p[m]["cost"].as_f64().expect("cost")).sum();
        assert_eq!(month[1].as_f64(), Some(by_hand), "month {}", month[0]);
        // The idle pool stays at its 3-node minimum every month.
        assert_eq!(projections[1][m]["cost"].as_f64(), Some(1200.0));
    }
    let total: f64 = months.iter().map(|m| m[1].as_f64().expect("cost")).sum();
    assert_eq!(baseline["total"].as_f64(), Some(total));
    let plus_30 = budget
        .iter()
        .find(|l| l["scenario"] == "plus-30")
        .expect("scenario budget");
    assert!(
        plus_30["total"].as_f64() >= baseline["total"].as_f64(),
        "more load never costs less"
    );

    // Under the +30 % scenario the crossing comes when 1.3 x the truth reaches 136 cores.
    let output = crate::harness::once_json_with(&setup, end as u64, &["--scenario", "plus-30"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(json["scenario"], "plus-30");
    let entity = pool(&json, "eu-1");
    let scenario_cross = (0..200_000)
        .map(|m| end + m as f64 * 60.0)
        .find(|&t| 1.3 * cores_used(t, start) >= 136.0)
        .expect("crosses");
    let scenario_runway = scenario_cross - end;
    let scenario_likely = entity["exhaustion"]["likely"]
        .as_f64()
        .expect("likely under the scenario");
    assert!(
        (scenario_likely - scenario_cross).abs() <= 0.15 * scenario_runway.max(86_400.0),
        "scenario likely {:.1} d, truth {:.1} d",
        (scenario_likely - end) / 86_400.0,
        scenario_runway / 86_400.0
    );
    assert!(scenario_likely < likely, "more load must come sooner");
    let scenario_needed = entity["recommendation"]["units"]["needed"].as_i64().expect("needed");
    assert!(
        scenario_needed > needed,
        "{scenario_needed} nodes under +30 %, {needed} in the baseline"
    );
    // An unknown scenario is refused, naming the configured ones.
    let output = crate::harness::once_json_with(&setup, end as u64, &["--scenario", "nope"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("configured: baseline, plus-30"));
}
