//! Capacity you can trust, on inputs of their own from a real Prometheus: memory hot-added to a
//! node watched through `MemAvailable` (a remaining quantity), and storage quotas whose series
//! read -1 or NaN when the rule behind them breaks.

use super::{
    DAY, GB, OpenMetrics, api_setup, assert_near_days, days_from, entity, gauss, json_of, number_text, stderr_of,
    time_text,
};
use crate::harness::{Prometheus, once_json};

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
const STEP: u64 = 300;

/// Memory used on `db:9100`: 10 GiB growing 0.5 GiB a day.
fn memory_used(days: f64) -> f64 {
    (10.0 + 0.5 * days) * GIB
}

/// The node's memory: 16 GiB, 32 GiB from the hot-add on.
fn mem_total(t: u64, hot_add: u64) -> f64 {
    if t >= hot_add { 32.0 * GIB } else { 16.0 * GIB }
}

/// A tenant's quota series: 500 GB, or for the last two hours what a broken rule gives.
fn quota(tenant: &str, t: u64, end: u64) -> f64 {
    match tenant {
        "a" if t > end - 2 * 3600 => -1.0,
        "b" if t > end - 2 * 3600 => f64::NAN,
        _ => 500.0 * GB,
    }
}

/// Memory hot-added five days ago (16 → 32 GiB) under a `MemAvailable` model (direction below):
/// the date is the one of used memory against today's 32 GiB, not of the jump in what is
/// available, and the justification says when capacity grew. Quotas reading -1 or NaN are
/// entity errors naming the capacity query and the value seen, never a plan.
#[test]
fn hot_added_memory_and_broken_quotas_on_a_real_prometheus() {
    let end = crate::history::recent_end();
    let start = end - 14 * DAY;
    let hot_add = end - 5 * DAY;
    let mut history = OpenMetrics::default();
    for i in 0..=14 * DAY / STEP {
        let t = start + i * STEP;
        let days = (t - start) as f64 / DAY as f64;
        let labels = "instance=\"db:9100\",job=\"node\"";
        let used = memory_used(days) + 0.02 * GIB * gauss(i, 80);
        history.sample(
            "node_memory_MemAvailable_bytes",
            labels,
            mem_total(t, hot_add) - used,
            t,
        );
        history.sample("node_memory_MemTotal_bytes", labels, mem_total(t, hot_add), t);
    }
    for i in 0..=7 * DAY / STEP {
        let t = end - 7 * DAY + i * STEP;
        for (n, tenant) in ["a", "b", "c"].iter().enumerate() {
            let labels = format!("tenant=\"{tenant}\"");
            let used = (200.0 + (t - (end - 7 * DAY)) as f64 / DAY as f64) * GB + 0.1 * GB * gauss(i, 81 + n as u64);
            history.sample("tenant_storage_used_bytes", &labels, used, t);
            history.sample("tenant_storage_quota_bytes", &labels, quota(tenant, t, end), t);
        }
    }
    let prometheus = Prometheus::start_with_history(&history.finish());
    let memory = "name = \"memory\"\nusage = 'node_memory_MemAvailable_bytes'\ncapacity = 'node_memory_MemTotal_bytes'\ndirection = \"below\"\nthreshold = \"10%\"\nunit = \"bytes\"\nhistory = \"14d\"\nstep = \"5m\"\nhorizon = \"60d\"\n";
    let quotas = "name = \"tenant-storage\"\nusage = 'tenant_storage_used_bytes'\ncapacity = 'tenant_storage_quota_bytes'\nthreshold = \"85%\"\nunit = \"bytes\"\nhistory = \"7d\"\nstep = \"5m\"\nhorizon = \"60d\"\n\n[scaling]\nunit_size = 100e9\nunit_name = \"100 GB of quota\"\nunit_cost = 3.0\ncurrency = \"EUR\"\nlead_time = \"7d\"\n";
    let setup = api_setup(
        &prometheus.url(),
        "",
        &[("memory.toml", memory), ("tenant-storage.toml", quotas)],
    );
    let output = once_json(&setup, end);
    assert!(matches!(output.status.code(), Some(0 | 1)), "{}", stderr_of(&output));
    let json = json_of(&output);

    // Available memory falls under 10 % of 32 GiB when used reaches 28.8 GiB.
    let truth = (28.8 - 10.0) / 0.5 - 14.0;
    let db = entity(&json, "memory", &[("instance", "db:9100")]);
    assert_eq!(db["status"], "ok", "{db:#}");
    assert_eq!(db["capacity"], 32.0 * GIB, "{db:#}");
    assert_near_days(
        "memory likely",
        days_from(end, &db["exhaustion"]["likely"], "likely"),
        truth,
        0.10,
    );
    let earliest = days_from(end, &db["exhaustion"]["earliest"], "earliest");
    assert!(
        earliest >= 0.5 * truth && earliest <= 1.1 * truth,
        "earliest {earliest:.2} d, truth {truth:.2} d"
    );
    assert_ne!(db["recommendation"]["urgency"], "critical", "{db:#}");
    let said = format!(
        "Capacity grew from {} to {} bytes on {}",
        number_text(16.0 * GIB),
        number_text(32.0 * GIB),
        time_text(hot_add as f64)
    );
    let justification = db["recommendation"]["justification"].to_string();
    assert!(justification.contains(&said), "{said:?} in {justification}");

    for (tenant, seen) in [("a", "reads -1"), ("b", "NaN")] {
        let broken = entity(&json, "tenant-storage", &[("tenant", tenant)]);
        assert_eq!(broken["status"], "error", "{broken:#}");
        let reason = broken["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains("tenant_storage_quota_bytes") && reason.contains(seen),
            "tenant {tenant}: the reason names the capacity query and {seen:?}: {reason}"
        );
        super::assert_not_planned(broken);
    }
    let healthy = entity(&json, "tenant-storage", &[("tenant", "c")]);
    assert_eq!(healthy["status"], "ok", "{healthy:#}");
    assert_eq!(healthy["capacity"], 500.0 * GB, "{healthy:#}");
}
