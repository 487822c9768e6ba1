//! The cost of `headroom replay`: a span replayed over a generated fleet, the source read
//! once, every moment planned on all cores.
//!
//!     cargo bench --bench replay                                   # 1,000 entities, 7 days hourly
//!     cargo bench --bench replay -- --entities 200 --days 7 --every 1h
//!
//! The fleet: disks of 28 days of 5-minute history before the span, the span, and a week of
//! truth after it (level, growth, daily and weekly cycles, noise; one in twenty fills), written
//! as a dump and read by the file source, with a disk model planned at 5-minute steps over 28
//! days. Prints the read, the planning, the total, forecasts per second, CPU seconds and peak
//! memory. Figures are recorded in `docs/benchmarks.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::time::Instant;

use headroom::app::replay::{Span, run};
use headroom::config::Config;
use headroom::shard::Shard;

const STEP: u64 = 300;
const DAY: u64 = 86_400;
const HISTORY_DAYS: u64 = 28;
const TRUTH_DAYS: u64 = 7;

const MODEL: &str = r#"
name = "disk"
usage = 'disk_used{job="node"}'
capacity = 1000
threshold = "90%"
unit = "GB"
history = "28d"
step = "5m"
horizon = "30d"
"#;

fn argument(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let entities: u64 = argument(&args, "--entities").map_or(1000, |v| v.parse().expect("--entities N"));
    let days: u64 = argument(&args, "--days").map_or(7, |v| v.parse().expect("--days N"));
    let every: f64 = argument(&args, "--every")
        .map_or(Ok(3600.0), |v| {
            v.parse::<headroom::duration::PromDuration>().map(|d| d.as_secs_f64())
        })
        .expect("--every DURATION");
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("headroom=info"))
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "headroom replay benchmark ({cores} cores): {entities} entities, {HISTORY_DAYS} days of 5-minute history, {days} days replayed every {every} s"
    );

    // The fleet, ending on a whole day a while ago.
    let end = (headroom::clock::unix_now() as u64 / DAY - 2) * DAY;
    let from = end - (days + TRUTH_DAYS) * DAY;
    let to = from + days * DAY;
    let start = from - HISTORY_DAYS * DAY;
    let dir = tempfile::tempdir().expect("temp dir");
    let generated = Instant::now();
    let samples = write_dump(&dir.path().join("history.txt"), entities, start, end);
    println!(
        "dump: {samples} samples written in {:.1} s",
        generated.elapsed().as_secs_f64()
    );

    let config = Config::from_text(
        "headroom.toml",
        "[source]\nkind = \"file\"\npath = \"history.txt\"\n",
        dir.path(),
        &BTreeMap::new(),
    )
    .expect("config");
    let models = headroom::config::models::load_texts(&[("disk.toml", MODEL)]).expect("model");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let span = Span {
        from: from as f64,
        to: to as f64,
        every,
    };
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let replay = runtime
        .block_on(run(&config, &models, span, Shard::default()))
        .expect("replay");
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    let planned = replay.models.iter().map(|m| m.entities.len()).sum::<usize>() * replay.moments.len();
    let summary = headroom::report::replay::total(&headroom::report::replay::rows(&replay));
    let mut out = String::new();
    let _ = writeln!(out, "moments: {}", replay.moments.len());
    let _ = writeln!(out, "entity plans: {planned}");
    let _ = writeln!(out, "replay wall time (read once + plan + judge): {wall:.1} s");
    let _ = writeln!(out, "plans per second: {:.0}", planned as f64 / wall);
    let _ = writeln!(out, "CPU: {cpu:.1} s ({:.2} cores busy)", cpu / wall);
    let _ = writeln!(
        out,
        "alert-hours Headroom / baseline: {:.0} / {:.0}; false: {:.0} / {:.0}",
        summary.headroom.alert_hours,
        summary.baseline.alert_hours,
        summary.headroom.false_alert_hours,
        summary.baseline.false_alert_hours
    );
    let _ = writeln!(out, "peak memory (VmHWM): {:.0} MiB", peak_rss_mib());
    print!("{out}");
    let _ = std::io::stdout().flush();
}

/// Writes the fleet as a dump (`name{labels} value timestamp_ms`); returns the samples written.
fn write_dump(path: &std::path::Path, entities: u64, start: u64, end: u64) -> u64 {
    let file = std::fs::File::create(path).expect("create dump");
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut written = 0;
    let tau = 2.0 * std::f64::consts::PI;
    for host in 0..entities {
        let mut rng = (host + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        };
        let base = 300.0 + 200.0 * next();
        // One disk in twenty fills past 900 GB within the span's weeks.
        let growth_per_day = if host % 20 == 0 {
            (900.0 - base) / 30.0
        } else {
            2.0 + 2.0 * next()
        };
        let daily = 10.0 + 5.0 * next();
        let weekly = 5.0 + 3.0 * next();
        let noise = 2.0 + next();
        let mut t = start;
        while t <= end {
            let days = (t - start) as f64 / DAY as f64;
            let value = base
                + growth_per_day * days
                + daily * (tau * days).sin()
                + weekly * (tau * days / 7.0).sin()
                + noise * next();
            writeln!(
                out,
                "disk_used{{job=\"node\",host=\"h{host:05}\"}} {value:.3} {}",
                t * 1000
            )
            .expect("write dump");
            written += 1;
            t += STEP;
        }
    }
    out.flush().expect("flush dump");
    written
}

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(f64::NAN, |kb| kb / 1024.0)
}
