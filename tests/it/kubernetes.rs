//! The Kubernetes model pack (`models/kubernetes/`) on series shaped like those of the kubelet
//! and kube-state-metrics v2, backfilled into a real Prometheus; the expected numbers are
//! computed here from the formulas that generated the history.

use std::fmt::Write;

use crate::harness::{Prometheus, Setup, config_for, once_json, run_headroom};

const STEP: u64 = 300;
const DAYS: u64 = 28;
const DAY: f64 = 86_400.0;
const GIB: f64 = 1_073_741_824.0;

const PVC_MODEL: &str = include_str!("../../models/kubernetes/pvc-usage.toml");
const QUOTA_MODEL: &str = include_str!("../../models/kubernetes/namespace-quota.toml");

#[test]
fn the_shipped_kubernetes_models_pass_check() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/kubernetes");
    let setup = Setup::new(
        &format!(
            "[source]\nurl = \"http://127.0.0.1:9090\"\n\n[models]\ndir = \"{}\"\n",
            dir.display()
        ),
        &[],
    );
    let config = setup.config();
    let output = run_headroom(&["check", "--config", config.to_str().expect("utf-8")]);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{all}");
    let shipped = std::fs::read_dir(&dir)
        .expect("models/kubernetes")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "toml"))
        })
        .count();
    assert!(all.contains(&format!("{shipped} capacity model(s) valid")), "{all}");
}

fn entities(json: &serde_json::Value) -> &Vec<serde_json::Value> {
    json["models"][0]["entities"].as_array().expect("entities")
}

/// A claim of 100 GiB filling 2 GiB a day from 40 GiB, resized online to 150 GiB on day 20,
/// whose pod moved from node-a to node-b on day 14 (the kubelet reporting it changes). One
/// entity; 90 % of today's 150 GiB (135 GiB) is reached on day 47.5, 19.5 days after the end of
/// the history, not "exceeded" against the old size; the justification says the capacity grew.
#[test]
fn a_claim_resized_online_and_moved_to_another_node_keeps_the_right_date() {
    let (start, end, points) = crate::harness::recent_window(DAYS, STEP);
    let mut history = String::new();
    for (metric, value) in [
        (
            "kubelet_volume_stats_used_bytes",
            &(|d: f64| (40.0 + 2.0 * d) * GIB) as &dyn Fn(f64) -> f64,
        ),
        ("kubelet_volume_stats_capacity_bytes", &|d: f64| {
            if d < 20.0 { 100.0 * GIB } else { 150.0 * GIB }
        }),
    ] {
        let _ = writeln!(history, "# TYPE {metric} gauge");
        for k in 0..points {
            let t = start + k * STEP;
            let d = (t - start) as f64 / DAY;
            let node = if d < 14.0 { "node-a" } else { "node-b" };
            let _ = writeln!(
                history,
                "{metric}{{job=\"kubelet\",instance=\"{node}:10250\",node=\"{node}\",namespace=\"shop\",persistentvolumeclaim=\"data-postgres-0\"}} {} {t}",
                value(d)
            );
        }
    }
    history.push_str("# EOF\n");
    let prometheus = Prometheus::start_with_history(&history);
    let setup = Setup::new(&config_for(&prometheus.url(), ""), &[("pvc-usage.toml", PVC_MODEL)]);
    let output = once_json(&setup, end);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let found = entities(&json);
    assert_eq!(found.len(), 1, "one claim, whichever node reports it: {json:#}");
    let claim = &found[0];
    assert_eq!(claim["labels"]["persistentvolumeclaim"], "data-postgres-0");
    assert_eq!(claim["status"], "ok", "{claim:#}");
    assert_eq!(claim["capacity"].as_f64(), Some(150.0 * GIB));
    assert_eq!(claim["exhaustion"]["exceeded_now"], false, "{claim:#}");
    let days = (end - start) as f64 / DAY;
    let expected = end as f64 + (47.5 - days) * DAY;
    let likely = claim["exhaustion"]["likely"].as_f64().expect("crosses");
    let runway = expected - end as f64;
    assert!(
        (likely - expected).abs() <= 0.05 * runway,
        "likely in {:.2} d, expected {:.2} d",
        (likely - end as f64) / DAY,
        runway / DAY
    );
    let justification = claim["recommendation"]["justification"].to_string();
    assert!(justification.contains("Capacity grew"), "{justification}");
}

/// Two quota resources of one namespace: requests.cpu used 4 cores growing 0.1 a day against a
/// hard 10 (90 % = 9 cores, reached on day 50, 22 days after the end), and pods flat at 5 of
/// 50 (never). Each resource is its own entity, in its own unit.
#[test]
fn namespace_quotas_are_planned_per_resource() {
    let (start, end, points) = crate::harness::recent_window(DAYS, STEP);
    let mut history = String::from("# TYPE kube_resourcequota gauge\n");
    for k in 0..points {
        let t = start + k * STEP;
        let d = (t - start) as f64 / DAY;
        for (resource, kind, value) in [
            ("requests.cpu", "used", 4.0 + 0.1 * d),
            ("requests.cpu", "hard", 10.0),
            ("pods", "used", 5.0),
            ("pods", "hard", 50.0),
        ] {
            let _ = writeln!(
                history,
                "kube_resourcequota{{job=\"kube-state-metrics\",namespace=\"payments\",resourcequota=\"compute\",resource=\"{resource}\",type=\"{kind}\"}} {value} {t}"
            );
        }
    }
    history.push_str("# EOF\n");
    let prometheus = Prometheus::start_with_history(&history);
    let setup = Setup::new(
        &config_for(&prometheus.url(), ""),
        &[("namespace-quota.toml", QUOTA_MODEL)],
    );
    let output = once_json(&setup, end);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let found = entities(&json);
    assert_eq!(found.len(), 2, "{json:#}");
    let of = |resource: &str| {
        found
            .iter()
            .find(|e| e["labels"]["resource"] == resource)
            .unwrap_or_else(|| panic!("no {resource} in {json:#}"))
    };
    let cpu = of("requests.cpu");
    assert_eq!(cpu["capacity"].as_f64(), Some(10.0));
    let days = (end - start) as f64 / DAY;
    let runway = (50.0 - days) * DAY;
    let likely = cpu["exhaustion"]["likely"].as_f64().expect("crosses");
    assert!(
        (likely - (end as f64 + runway)).abs() <= 0.05 * runway,
        "likely in {:.2} d, expected {:.2} d",
        (likely - end as f64) / DAY,
        runway / DAY
    );
    let pods = of("pods");
    assert_eq!(pods["exhaustion"]["likely"], serde_json::Value::Null, "{pods:#}");
}
