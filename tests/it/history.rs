//! The test fleet: 30 days of 5-minute history with a known truth, written as OpenMetrics for
//! promtool.
//!
//! - `fill:9100`: a 1 TB disk whose use grows 10 GB a day with a ±5 GB daily cycle;
//! - `gappy:9100`: the same kind of disk with a missing day and scattered missing scrapes;
//! - `short:9100`: a disk with six hours of history only;
//! - `cpu:9100`: CPU with daily and weekly cycles and no trend.

use std::f64::consts::PI;
use std::fmt::Write;

pub const STEP: u64 = 300;
pub const DAYS: u64 = 30;
const GB: f64 = 1e9;
pub const DISK_SIZE: f64 = 1000.0 * GB;

/// Used bytes of the `fill` disk at `seconds` after the start of its history, without noise.
pub fn fill_used(seconds: f64) -> f64 {
    let days = seconds / 86_400.0;
    (520.0 + 10.0 * days + 5.0 * (2.0 * PI * days).sin()) * GB
}

/// Used bytes of the `gappy` disk (slower: 6 GB a day from 400 GB).
pub fn gappy_used(seconds: f64) -> f64 {
    let days = seconds / 86_400.0;
    (400.0 + 6.0 * days + 3.0 * (2.0 * PI * days).sin()) * GB
}

/// CPU utilisation of `cpu:9100`: daily and weekly cycles around 30 %, no trend.
pub fn cpu(seconds: f64) -> f64 {
    let days = seconds / 86_400.0;
    0.30 + 0.15 * (2.0 * PI * days).sin() + 0.05 * (2.0 * PI * days / 7.0).sin()
}

/// Used bytes of the `fill` disk as recorded at sample `k` (the truth plus its noise).
pub fn fill_observed(k: u64) -> f64 {
    fill_used((k * STEP) as f64) + 0.3 * GB * noise(k, 1)
}

/// Deterministic noise in [-1, 1].
fn noise(i: u64, seed: u64) -> f64 {
    let mut z = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seed;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
}

/// The fleet's history ending at `end` (Unix seconds, a multiple of the step), as OpenMetrics.
pub fn openmetrics(end: u64) -> String {
    let points = DAYS * 86_400 / STEP;
    let start = end - (points - 1) * STEP;
    let mut out = String::with_capacity(8 << 20);
    let _ = writeln!(out, "# TYPE node_filesystem_avail_bytes gauge");
    let disk = |instance: &str| format!("instance=\"{instance}\",job=\"node\",mountpoint=\"/data\",fstype=\"ext4\"");
    for k in 0..points {
        let t = start + k * STEP;
        let s = (k * STEP) as f64;
        let used = fill_observed(k);
        let _ = writeln!(
            out,
            "node_filesystem_avail_bytes{{{}}} {} {t}",
            disk("fill:9100"),
            DISK_SIZE - used
        );
        let missing_day = (10 * 288..11 * 288).contains(&k);
        if !missing_day && k % 11 != 5 {
            let used = gappy_used(s) + 0.3 * GB * noise(k, 2);
            let _ = writeln!(
                out,
                "node_filesystem_avail_bytes{{{}}} {} {t}",
                disk("gappy:9100"),
                DISK_SIZE - used
            );
        }
        if k >= points - 72 {
            let _ = writeln!(
                out,
                "node_filesystem_avail_bytes{{{}}} {} {t}",
                disk("short:9100"),
                DISK_SIZE * 0.5
            );
        }
    }
    let _ = writeln!(out, "# TYPE node_filesystem_size_bytes gauge");
    for k in 0..points {
        let t = start + k * STEP;
        for instance in ["fill:9100", "gappy:9100", "short:9100"] {
            let _ = writeln!(out, "node_filesystem_size_bytes{{{}}} {DISK_SIZE} {t}", disk(instance));
        }
    }
    let _ = writeln!(out, "# TYPE instance:node_cpu_utilisation:rate5m gauge");
    for k in 0..points {
        let t = start + k * STEP;
        let value = cpu((k * STEP) as f64) + 0.02 * noise(k, 3);
        let _ = writeln!(
            out,
            "instance:node_cpu_utilisation:rate5m{{instance=\"cpu:9100\",job=\"node\"}} {value} {t}"
        );
    }
    out.push_str("# EOF\n");
    out
}

/// The history's start for a given end.
pub fn start_of(end: u64) -> u64 {
    end - (DAYS * 86_400 / STEP - 1) * STEP
}

/// A history end a little in the past, on the step grid: the tests plan from "now".
pub fn recent_end() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    (now / STEP) * STEP
}

/// Capacity models for the test fleet (real PromQL: the disk model subtracts two series).
pub const DISK_MODEL: &str = r#"
name = "disk"
description = "Used bytes on each data volume"
usage = 'node_filesystem_size_bytes{job="node"} - node_filesystem_avail_bytes{job="node"}'
capacity = 'node_filesystem_size_bytes{job="node"}'
threshold = "90%"
unit = "bytes"
history = "28d"
step = "5m"
horizon = "30d"
"#;

pub const CPU_MODEL: &str = r#"
name = "cpu"
usage = 'instance:node_cpu_utilisation:rate5m{job="node"}'
capacity = 1
threshold = "80%"
unit = "ratio"
history = "28d"
step = "5m"
horizon = "30d"
"#;

/// The disk model with a team and a 14-day lead time: the filling disk (about a week from
/// 90 %) must be ordered now; the slow one crosses beyond the horizon.
pub fn disk_with_lead_time() -> String {
    format!(
        "{DISK_MODEL}team = \"storage\"\n\n[scaling]\nunit_size = 100e9\nunit_name = \"100 GB volume\"\nunit_cost = 12.5\ncurrency = \"EUR\"\nlead_time = \"14d\"\n"
    )
}
