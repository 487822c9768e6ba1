//! The node-pool model (`models/kubernetes/node-pool.toml`): one model, three resources (CPU,
//! memory and pod slots requested against allocatable) that share one unit, the pool's node.
//! Series shaped like kube-state-metrics v2's are backfilled into a real Prometheus; the
//! expected dates and node counts are computed here from the formulas that generated them.
//!
//! Pool `general` (GKE node-pool label): six nodes of 16 cores, 64 GiB and 110 pods, 14 days of
//! history. Requests grow: memory from 200 GiB by 3 GiB a day, CPU from 40 cores by 0.5 a day;
//! 18 pods. At 85 % of allocatable, memory crosses 326.4 GiB on day 42.1 of the history's clock
//! (28.1 days after its end), CPU 81.6 cores on day 83.2 (69.2 days after): memory binds. Over
//! the 90-day horizon (day 104) memory peaks at 512 GiB: 512 / (64 × 0.85) = 9.4, so 10 nodes;
//! CPU at 92 cores: 92 / (16 × 0.85) = 6.8, so 7; pods need 1, `min_units` 3. The pool needs
//! 10: add 4.
//!
//! Pool `highmem` (EKS node-group label), another node type in the same model: three nodes of
//! 8 cores and 128 GiB, flat requests of 6 cores and 100 GiB. Its node size is its own
//! allocatable: one node would do, `min_units` keeps 3.

use std::fmt::Write;

use crate::harness::{Prometheus, Setup, config_for, once_json, once_json_with};

const STEP: u64 = 900;
const DAYS: u64 = 14;
const DAY: f64 = 86_400.0;
const GIB: f64 = 1_073_741_824.0;

const MODEL: &str = include_str!("../../models/kubernetes/node-pool.toml");

/// The pool's nodes: (name, pool label, pool, cores, GiB).
const NODES: [(&str, &str, &str, f64, f64); 9] = [
    ("gke-a", "label_cloud_google_com_gke_nodepool", "general", 16.0, 64.0),
    ("gke-b", "label_cloud_google_com_gke_nodepool", "general", 16.0, 64.0),
    ("gke-c", "label_cloud_google_com_gke_nodepool", "general", 16.0, 64.0),
    ("gke-d", "label_cloud_google_com_gke_nodepool", "general", 16.0, 64.0),
    ("gke-e", "label_cloud_google_com_gke_nodepool", "general", 16.0, 64.0),
    ("gke-f", "label_cloud_google_com_gke_nodepool", "general", 16.0, 64.0),
    ("eks-a", "label_eks_amazonaws_com_nodegroup", "highmem", 8.0, 128.0),
    ("eks-b", "label_eks_amazonaws_com_nodegroup", "highmem", 8.0, 128.0),
    ("eks-c", "label_eks_amazonaws_com_nodegroup", "highmem", 8.0, 128.0),
];

/// Requests on one node `d` days into the history: (cores, GiB).
fn requests(pool: &str, d: f64) -> (f64, f64) {
    match pool {
        "general" => ((40.0 + 0.5 * d) / 6.0, (200.0 + 3.0 * d) / 6.0),
        _ => (2.0, 100.0 / 3.0),
    }
}

/// kube-state-metrics v2 series for the nodes above: node labels and allocatable, and on each
/// node one pod whose container requests the node's share, plus two pods that request nothing
/// (three pods per node), each Running; one more pod per node is Succeeded (its requests must
/// not count).
fn history(start: u64, points: u64) -> String {
    let mut out = String::new();
    let ksm = "job=\"kube-state-metrics\",instance=\"ksm:8080\"";
    let mut families: Vec<(&str, Vec<String>)> = vec![
        ("kube_node_labels", Vec::new()),
        ("kube_node_status_allocatable", Vec::new()),
        ("kube_pod_container_resource_requests", Vec::new()),
        ("kube_pod_info", Vec::new()),
        ("kube_pod_status_phase", Vec::new()),
    ];
    for k in 0..points {
        let t = start + k * STEP;
        let d = (t - start) as f64 / DAY;
        for (node, label, pool, cores, gib) in NODES {
            let (cpu, memory) = requests(pool, d);
            families[0]
                .1
                .push(format!("{{{ksm},node=\"{node}\",{label}=\"{pool}\"}} 1 {t}"));
            for (resource, unit, value) in [
                ("cpu", "core", cores),
                ("memory", "byte", gib * GIB),
                ("pods", "integer", 110.0),
            ] {
                families[1].1.push(format!(
                    "{{{ksm},node=\"{node}\",resource=\"{resource}\",unit=\"{unit}\"}} {value} {t}"
                ));
            }
            for (resource, unit, value) in [("cpu", "core", cpu), ("memory", "byte", memory * GIB)] {
                families[2].1.push(format!(
                    "{{{ksm},namespace=\"shop\",pod=\"app-{node}\",container=\"app\",node=\"{node}\",resource=\"{resource}\",unit=\"{unit}\"}} {value} {t}"
                ));
                // A finished job's pod keeps its series in kube-state-metrics.
                families[2].1.push(format!(
                    "{{{ksm},namespace=\"batch\",pod=\"job-{node}\",container=\"job\",node=\"{node}\",resource=\"{resource}\",unit=\"{unit}\"}} {value} {t}"
                ));
            }
            for (namespace, pod, phase) in [
                ("shop", format!("app-{node}"), "Running"),
                ("shop", format!("cache-{node}"), "Running"),
                ("kube-system", format!("agent-{node}"), "Running"),
                ("batch", format!("job-{node}"), "Succeeded"),
            ] {
                families[3].1.push(format!(
                    "{{{ksm},namespace=\"{namespace}\",pod=\"{pod}\",node=\"{node}\"}} 1 {t}"
                ));
                for candidate in ["Running", "Succeeded"] {
                    families[4].1.push(format!(
                        "{{{ksm},namespace=\"{namespace}\",pod=\"{pod}\",phase=\"{candidate}\"}} {} {t}",
                        i32::from(candidate == phase)
                    ));
                }
            }
        }
    }
    // OpenMetrics wants each family's samples together, each series' in time order.
    for (name, mut lines) in families {
        let _ = writeln!(out, "# TYPE {name} gauge");
        lines.sort_by(|a, b| series_of(a).cmp(series_of(b)));
        for line in lines {
            let _ = writeln!(out, "{name}{line}");
        }
    }
    out.push_str("# EOF\n");
    out
}

/// The label set of a sample line (what comes before the value).
fn series_of(line: &str) -> &str {
    &line[..line.rfind('}').map_or(line.len(), |i| i + 1)]
}

fn pool<'a>(json: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    json["models"][0]["entities"]
        .as_array()
        .expect("entities")
        .iter()
        .find(|e| e["labels"]["pool"] == name)
        .unwrap_or_else(|| panic!("no pool {name} in {json:#}"))
}

fn resource<'a>(entity: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    entity["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| r["resource"] == name)
        .unwrap_or_else(|| panic!("no resource {name} in {entity:#}"))
}

/// Asserts `at` is `days` after `end`, within 5 % of the runway.
fn assert_days_after(at: f64, end: u64, days: f64, what: &str) {
    let expected = end as f64 + days * DAY;
    assert!(
        (at - expected).abs() <= 0.05 * days * DAY,
        "{what}: {:.2} days after the end, expected {days:.2}",
        (at - end as f64) / DAY
    );
}

#[test]
fn memory_binds_before_cpu_and_the_pool_needs_the_most_nodes_any_resource_needs() {
    let (start, end, points) = crate::harness::recent_window(DAYS, STEP);
    let prometheus = Prometheus::start_with_history(&history(start, points));
    let history_days = (end - start) as f64 / DAY;
    let scenario = "[[scenarios]]\nname = \"cpu-heavy\"\n[[scenarios.changes]]\nkind = \"growth\"\nrate = \"30%\"\nper = \"1w\"\nfrom = \"now\"\nmodels = [\"k8s-node-pool.cpu\"]\n";
    let setup = Setup::new(&config_for(&prometheus.url(), scenario), &[("node-pool.toml", MODEL)]);
    let output = once_json(&setup, end);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    crate::harness::assert_matches_schema(
        "docs/schemas/cycle.schema.json",
        &String::from_utf8_lossy(&output.stdout),
    );
    let model = &json["models"][0];
    assert_eq!(model["model"], "k8s-node-pool");
    assert_eq!(model["entities"].as_array().map(Vec::len), Some(2), "{json:#}");

    let general = pool(&json, "general");
    assert_eq!(general["status"], "ok", "{general:#}");
    assert_eq!(general["binding"], "memory", "{general:#}");
    assert_eq!(general["unit"], "bytes");
    assert_eq!(general["capacity"].as_f64(), Some(6.0 * 64.0 * GIB));
    let memory = resource(general, "memory");
    let cpu = resource(general, "cpu");
    let pods = resource(general, "pods");
    assert_eq!(cpu["capacity"].as_f64(), Some(96.0));
    assert_eq!(pods["capacity"].as_f64(), Some(660.0));
    // Requests of the finished pod do not count: the last value is the running pods'.
    let memory_now = (200.0 + 3.0 * history_days) * GIB;
    let current = memory["current"].as_f64().expect("current");
    assert!(
        (current - memory_now).abs() < 0.01 * memory_now,
        "{current} vs {memory_now}"
    );
    assert_eq!(pods["current"].as_f64(), Some(18.0), "{pods:#}");
    assert_days_after(
        general["exhaustion"]["likely"].as_f64().expect("crosses"),
        end,
        (326.4 - 200.0) / 3.0 - history_days,
        "memory",
    );
    assert_days_after(
        cpu["exhaustion"]["likely"].as_f64().expect("crosses"),
        end,
        (81.6 - 40.0) / 0.5 - history_days,
        "cpu",
    );
    assert_eq!(pods["exhaustion"]["likely"], serde_json::Value::Null);
    let recommendation = &general["recommendation"];
    assert_eq!(recommendation["units"]["needed"], 10, "{recommendation:#}");
    assert_eq!(recommendation["units"]["change"], 4, "{recommendation:#}");
    assert_eq!(resource(general, "cpu")["recommendation"]["units"]["needed"], 7);
    // The pool's cost is counted once: 10 nodes at 250 USD.
    assert_eq!(recommendation["cost"]["monthly_recommended"].as_f64(), Some(2500.0));
    let justification = recommendation["justification"].to_string();
    assert!(justification.contains("memory binds"), "{justification}");
    assert!(justification.contains("cpu 7, memory 10, pods 3"), "{justification}");
    assert!(justification.contains("cpu: peaks at"), "{justification}");

    // Raising CPU growth to 30 % a week from now makes CPU cross first: (47 + 0.5 s) × 1.3^(s/7)
    // reaches 81.6 cores after s = 11.7 days, well before memory's 28.1.
    let cpu_now = 40.0 + 0.5 * history_days;
    let s = (0..100_000)
        .map(|i| f64::from(i) * 0.001)
        .find(|s| (cpu_now + 0.5 * s) * 1.3_f64.powf(s / 7.0) >= 81.6)
        .expect("crosses");
    let heavy = general["scenarios"]
        .as_array()
        .expect("scenarios")
        .iter()
        .find(|o| o["scenario"] == "cpu-heavy")
        .unwrap_or_else(|| panic!("{general:#}"));
    assert_eq!(heavy["binding"], "cpu", "{heavy:#}");
    assert_days_after(
        heavy["exhaustion"]["likely"].as_f64().expect("crosses"),
        end,
        s,
        "cpu-heavy",
    );
    let view = once_json_with(&setup, end, &["--scenario", "cpu-heavy"]);
    let view: serde_json::Value = serde_json::from_slice(&view.stdout).expect("json");
    let viewed = pool(&view, "general");
    assert_eq!(
        (viewed["binding"].as_str(), viewed["unit"].as_str()),
        (Some("cpu"), Some("cores"))
    );

    // Another node type in the same model: sized by its own allocatable.
    let highmem = pool(&json, "highmem");
    assert_eq!(highmem["status"], "ok", "{highmem:#}");
    let units = &highmem["recommendation"]["units"];
    assert_eq!(
        (units["current"].as_f64(), units["needed"].as_u64()),
        (Some(3.0), Some(3)),
        "{highmem:#}"
    );
    assert_eq!(
        resource(highmem, "memory")["recommendation"]["units"]["unit_size"].as_f64(),
        Some(128.0 * GIB)
    );
    assert_eq!(highmem["recommendation"]["urgency"], "ok");

    // The budget counts the pool once, not once per resource.
    let budget = json["budget"].as_array().expect("budget");
    let baseline: Vec<&serde_json::Value> = budget.iter().filter(|l| l["scenario"] == "baseline").collect();
    assert_eq!(
        baseline.len(),
        1,
        "one budget line for the pool, not one per resource: {budget:#?}"
    );
}

/// Each node carries 6 GiB of DaemonSet requests the usage query cannot foresee: a node then
/// holds (64 − 6) × 0.85 = 49.3 GiB of the pods', and the 512 GiB peak needs 512 / 49.3 = 10.4,
/// so 11 nodes instead of 10.
#[test]
fn a_per_node_overhead_changes_the_node_count() {
    let (start, end, points) = crate::harness::recent_window(DAYS, STEP);
    let prometheus = Prometheus::start_with_history(&history(start, points));
    let with_overhead = MODEL.replacen(
        "# The DaemonSets' memory requests per node, in bytes.\noverhead = 0",
        &format!("overhead = {}", 6.0 * GIB),
        1,
    );
    assert_ne!(with_overhead, MODEL);
    let setup = Setup::new(
        &config_for(&prometheus.url(), ""),
        &[("node-pool.toml", &with_overhead)],
    );
    let output = once_json(&setup, end);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let general = pool(&json, "general");
    assert_eq!(general["recommendation"]["units"]["needed"], 11, "{general:#}");
    assert_eq!(resource(general, "memory")["recommendation"]["units"]["needed"], 11);
}
