//! The embedded demo: a small fleet with four weeks of history, generated deterministically,
//! so `headroom demo` shows real forecasts with no Prometheus at hand.
//!
//! The history is written in the dump format (`promtool tsdb dump`) and read back through the
//! file source, so the demo exercises the same path as offline planning from a dump. It ends
//! at the moment the demo starts, so every date it forecasts lies ahead.
//!
//! The fleet: `db-1` fills its disk steadily with a daily rhythm; `logs-1` rotates logs every
//! night (a sawtooth) on top of slow growth; `web-1` grows slowly; `cache-1` is flat.
//! CPU follows office hours and weekdays, one host growing; the API request rate grows 3 % a
//! week.

use std::fmt::Write;

use crate::config::models::load_texts;
use crate::config::problems::Problems;
use crate::model::CapacityModel;
use crate::source::file::FileSource;
use crate::source::{Source, SourceError};

/// The demo's capacity models, embedded in the binary.
pub const MODELS: [(&str, &str); 3] = [
    (
        "demo/models/disk-space.toml",
        include_str!("../../config/demo/models/disk-space.toml"),
    ),
    (
        "demo/models/cpu.toml",
        include_str!("../../config/demo/models/cpu.toml"),
    ),
    (
        "demo/models/api-requests.toml",
        include_str!("../../config/demo/models/api-requests.toml"),
    ),
];

const STEP: u64 = 300;
const DAYS: u64 = 28;
const GB: f64 = 1e9;

/// The embedded capacity models (checked by the test suite: an error here is a build defect).
pub fn models() -> Result<Vec<CapacityModel>, Problems> {
    load_texts(&MODELS)
}

/// The demo's scenarios: a launch that brings 30 % more API traffic (and CPU on the app hosts)
/// from a week on, and compound growth of 10 % a month everywhere.
pub fn scenarios() -> Vec<crate::scenario::Scenario> {
    use crate::scenario::{Change, ChangeKind, Effect, Scenario, Start};
    vec![
        Scenario {
            name: "launch".into(),
            description: "The launch in a week brings 30 % more traffic".into(),
            changes: vec![Change {
                kind: ChangeKind::Step {
                    from: Start::AfterNow(7.0 * 86_400.0),
                    effect: Effect::Multiply(1.3),
                },
                models: vec!["api-requests".into(), "cpu".into()],
                labels: vec![],
                drivers: vec![],
            }],
        },
        Scenario {
            name: "growth-10pct-monthly".into(),
            description: "Everything grows 10 % a month, compounded".into(),
            changes: vec![Change {
                kind: ChangeKind::Growth {
                    rate: 0.10,
                    per_secs: 30.0 * 86_400.0,
                    from: None,
                },
                models: vec![],
                labels: vec![],
                drivers: vec![],
            }],
        },
    ]
}

/// Four weeks of history ending at `end` (Unix seconds), in dump format.
pub fn history(end: f64) -> String {
    let end = (end / STEP as f64).floor() as u64 * STEP;
    let points = DAYS * 86_400 / STEP;
    let start = end - (points - 1) * STEP;
    let mut out = String::with_capacity(12 << 20);
    let mut noise = Noise(0x5EED_CAFE);
    let line = |out: &mut String, name: &str, labels: &str, value: f64, t: u64| {
        let _ = writeln!(out, "{{__name__=\"{name}\", {labels}}} {value:.6} {}", t * 1000);
    };
    struct Disk {
        host: &'static str,
        size_gb: f64,
        used_start_gb: f64,
        growth_gb_per_day: f64,
        daily_swing_gb: f64,
        nightly_rotation_gb: f64,
    }
    let disks = [
        Disk {
            host: "db-1",
            size_gb: 500.0,
            used_start_gb: 230.0,
            growth_gb_per_day: 6.5,
            daily_swing_gb: 4.0,
            nightly_rotation_gb: 0.0,
        },
        Disk {
            host: "logs-1",
            size_gb: 200.0,
            used_start_gb: 90.0,
            growth_gb_per_day: 1.2,
            daily_swing_gb: 0.0,
            nightly_rotation_gb: 12.0,
        },
        Disk {
            host: "web-1",
            size_gb: 100.0,
            used_start_gb: 30.0,
            growth_gb_per_day: 0.15,
            daily_swing_gb: 0.5,
            nightly_rotation_gb: 0.0,
        },
        Disk {
            host: "cache-1",
            size_gb: 250.0,
            used_start_gb: 120.0,
            growth_gb_per_day: 0.0,
            daily_swing_gb: 1.0,
            nightly_rotation_gb: 0.0,
        },
    ];
    for disk in &disks {
        let labels = format!(
            "instance=\"{}:9100\", mountpoint=\"/\", fstype=\"ext4\", device=\"/dev/sda1\"",
            disk.host
        );
        for k in 0..points {
            let t = start + k * STEP;
            let day = phase(t, 86_400);
            let days = (k * STEP) as f64 / 86_400.0;
            // Logs accumulate through the day and are rotated away at 03:00.
            let since_rotation = (day - 3.0 / 24.0).rem_euclid(1.0);
            let used = disk.used_start_gb
                + disk.growth_gb_per_day * days
                + disk.daily_swing_gb * 0.5 * (1.0 - (2.0 * std::f64::consts::PI * (day - 0.1)).cos())
                + disk.nightly_rotation_gb * since_rotation
                + 0.2 * noise.next();
            line(
                &mut out,
                "node_filesystem_avail_bytes",
                &labels,
                (disk.size_gb - used).max(0.0) * GB,
                t,
            );
            if k % 12 == 0 || k == points - 1 {
                line(&mut out, "node_filesystem_size_bytes", &labels, disk.size_gb * GB, t);
            }
        }
    }
    for (host, base, growth_per_week) in [("app-1", 0.42, 0.035), ("app-2", 0.30, 0.0), ("batch-1", 0.55, 0.0)] {
        let labels = format!("instance=\"{host}:9100\"");
        for k in 0..points {
            let t = start + k * STEP;
            let weeks = (k * STEP) as f64 / (7.0 * 86_400.0);
            let busy = if host == "batch-1" {
                nightly_batch(t)
            } else {
                office_hours(t)
            };
            let value = (base + growth_per_week * weeks) * (0.55 + 0.45 * busy) + 0.015 * noise.next();
            line(
                &mut out,
                "instance:node_cpu_utilisation:rate5m",
                &labels,
                value.clamp(0.0, 1.0),
                t,
            );
        }
    }
    for k in 0..points {
        let t = start + k * STEP;
        let weeks = (k * STEP) as f64 / (7.0 * 86_400.0);
        let value = 1500.0 * 1.03f64.powf(weeks) * (0.5 + 0.6 * office_hours(t)) + 25.0 * noise.next();
        line(&mut out, "job:http_requests:rate5m", "job=\"api\"", value.max(0.0), t);
    }
    out
}

/// The demo's file source, built from [`history`] ending at `end`.
pub fn source(end: f64) -> Result<FileSource, SourceError> {
    FileSource::from_text("embedded demo history", &history(end))
}

/// Fraction of the period elapsed at Unix time `t`.
fn phase(t: u64, period: u64) -> f64 {
    (t % period) as f64 / period as f64
}

/// Load shape of an office-hours service: high on weekday afternoons (UTC), low at night and at
/// weekends. In [0, 1].
fn office_hours(t: u64) -> f64 {
    let day = phase(t, 86_400);
    let daily = 0.5 * (1.0 - (2.0 * std::f64::consts::PI * (day - 0.1)).cos());
    // 1970-01-01 was a Thursday, so days 2 and 3 of each Unix week are Saturday and Sunday.
    let weekday = (t / 86_400) % 7;
    let weekend = matches!(weekday, 2 | 3);
    daily * if weekend { 0.45 } else { 1.0 }
}

/// Load shape of a nightly batch host: busy from 01:00 to 05:00 UTC every day.
fn nightly_batch(t: u64) -> f64 {
    let hour = phase(t, 86_400) * 24.0;
    if (1.0..5.0).contains(&hour) { 1.0 } else { 0.2 }
}

/// A small deterministic noise source in [-1, 1] (splitmix64).
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
}

/// The demo daemon: the generated fleet as of `now`, served on `listen`, with the weekly
/// report at `/report`; nothing is mailed or posted, and nothing kept on disk.
pub fn daemon(listen: std::net::SocketAddr, now: f64) -> Result<super::daemon::Daemon, super::AppError> {
    let started = std::time::Instant::now();
    let source = source(now)?;
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "demo fleet generated: 4 disks, 3 hosts' CPU, 1 API tier, 28 days of 5-minute history"
    );
    tracing::info!(
        "open http://{listen}/metrics for the forecasts, or http://{listen}/api/v1/recommendations for what to do"
    );
    let models = models().map_err(|problems| {
        super::AppError::Source(SourceError::Setup(format!(
            "the embedded demo models are invalid:\n{problems}"
        )))
    })?;
    Ok(super::daemon::Daemon {
        source: Source::File(source),
        reload_from: None,
        models,
        settings: crate::forecast::Settings::default(),
        scenarios: scenarios(),
        interval: std::time::Duration::from_secs(300),
        listen,
        bearer_token: None,
        http: crate::config::server::HttpLimits::default(),
        reload_without_token: false,
        shard: crate::shard::Shard::default(),
        threads: 0,
        clock: crate::clock::Clock::Wall,
        outputs: Some(super::daemon::Outputs {
            store: crate::store::Store::in_memory()?,
            report: crate::config::delivery::ReportConfig::default(),
            channels: crate::delivery::Channels {
                webhooks: Vec::new(),
                mailer: None,
                policy: crate::config::delivery::DeliveryConfig::default(),
            },
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::RangeQuery;

    #[test]
    fn demo_history_is_deterministic_and_readable() {
        let end = 1_790_000_000.0;
        let text = history(end);
        assert_eq!(text, history(end));
        let source = source(end).expect("valid dump");
        let avail = source
            .query_range(&RangeQuery {
                query: "node_filesystem_avail_bytes".into(),
                start: 0.0,
                end: 2e9,
                step: 300.0,
            })
            .expect("query");
        assert_eq!(avail.len(), 4);
        assert_eq!(avail[0].samples.len(), 28 * 288);
        assert_eq!(models().expect("valid embedded models").len(), 3);
    }
}
