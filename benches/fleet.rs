//! The fleet benchmark: a synthetic fleet of disks loaded into a real VictoriaMetrics on
//! loopback, and full Headroom cycles (fetch, fit, recommend, expose) timed end to end.
//!
//!     cargo bench --bench fleet                          # 1,000 and 10,000 series, 100,000 over 4 replicas
//!     cargo bench --bench fleet -- --series 1000,10000   # the quick part (a few minutes)
//!     cargo bench --bench fleet -- --series 100000/4     # 100,000 series over 4 replicas
//!     cargo bench --bench fleet -- --series 2000 --days 7
//!
//! `--series` takes sizes separated by commas, each as `N` or `N/REPLICAS`. Each size gets a
//! fresh VictoriaMetrics (Debian's `victoria-metrics`) holding `--days` of 5-minute history per
//! series. Headroom runs as its own process (`headroom run`, the binary of this build) with
//! hourly steps downsampled on the server (`max_over_time`), a state file, and one replica per
//! shard, one after the other so each has the machine to itself. For every replica it prints:
//! the first cycle's time to readiness and cycle duration, the second (incremental) cycle's
//! duration, samples fetched by each, peak memory (VmHWM), CPU seconds, and the time of a
//! `/metrics` scrape. It ends with the fleet targets, met or missed. Results are recorded in
//! `docs/benchmarks.md`.

use std::io::{BufRead, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const STEP: u64 = 300;
const DISK: f64 = 1e12;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let default_shards: u32 = value("--shards").map_or(1, |s| s.parse().expect("--shards N"));
    let runs: Vec<(usize, u32)> = value("--series")
        .unwrap_or_else(|| "1000,10000,100000/4".into())
        .split(',')
        .map(|spec| {
            let (series, shards) = spec.trim().split_once('/').unwrap_or((spec.trim(), ""));
            let series = series.parse().expect("--series N[/REPLICAS][,...]");
            let shards = if shards.is_empty() {
                default_shards
            } else {
                shards.parse().expect("--series N/REPLICAS: REPLICAS is a whole number")
            };
            (series, shards.max(1))
        })
        .collect();
    let days: u64 = value("--days").map_or(28, |s| s.parse().expect("--days N"));
    println!(
        "headroom fleet benchmark: {} cores, {days} days of 5-minute history per series",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "{:>8} {:>6} {:>9} {:>9} {:>10} {:>10} {:>9} {:>9} {:>8} {:>9} {:>9}",
        "series",
        "shard",
        "ready_s",
        "cycle1_s",
        "samples1",
        "cycle2_s",
        "samples2",
        "speedup",
        "peak_MiB",
        "cpu_s",
        "scrape_ms"
    );
    headroom::net::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut results = Vec::new();
    for (series, shards) in runs {
        let dir = tempfile::tempdir().expect("temp dir");
        let victoria = Victoria::start(dir.path());
        let loaded = Instant::now();
        let samples = runtime.block_on(load_fleet(&victoria.url(), series, days));
        eprintln!(
            "loaded {series} series ({samples} samples) into VictoriaMetrics in {:.1} s",
            loaded.elapsed().as_secs_f64()
        );
        for shard in 0..shards {
            let result = run_replica(dir.path(), &victoria.url(), shard, shards, series);
            println!(
                "{:>8} {:>6} {:>9.1} {:>9.1} {:>10} {:>10.2} {:>9} {:>8.1}x {:>8.0} {:>9.1} {:>9.0}",
                series,
                format!("{}/{}", shard, shards),
                result.ready_s,
                result.cycle1_s,
                result.samples1,
                result.cycle2_s,
                result.samples2,
                result.cycle1_s / result.cycle2_s.max(1e-3),
                result.peak_mib,
                result.cpu_s,
                result.scrape_ms
            );
            let _ = std::io::stdout().flush();
            results.push((series, shard, shards, result));
        }
    }
    println!("{}", verdict(&results));
}

/// The fleet issue's targets, each met or missed, from what was measured.
fn verdict(results: &[(usize, u32, u32, Replica)]) -> String {
    let mut lines = vec!["targets:".to_string()];
    let mut check = |met: bool, what: String| lines.push(format!("  {} {what}", if met { "met   " } else { "MISSED" }));
    for (series, shard, shards, r) in results {
        let who = format!("{series} series, replica {} of {shards}", shard + 1);
        check(
            r.peak_mib < 1024.0,
            format!("{who}: peak memory {:.0} MiB under 1 GiB", r.peak_mib),
        );
        let speedup = r.cycle1_s / r.cycle2_s.max(1e-3);
        check(
            speedup >= 5.0,
            format!("{who}: second cycle {speedup:.1}x faster than the first (at least 5x)"),
        );
        if *series >= 10_000 && *shards == 1 {
            check(
                r.cycle1_s < 60.0,
                format!("{who}: first cycle end to end {:.1} s (under 60 s)", r.cycle1_s),
            );
        }
    }
    lines.join("\n")
}

/// A VictoriaMetrics server on a free loopback port, stopped on drop.
struct Victoria {
    port: u16,
    child: Child,
}

impl Victoria {
    fn start(dir: &std::path::Path) -> Victoria {
        let port = free_port();
        let child = Command::new("victoria-metrics")
            .arg(format!("-storageDataPath={}", dir.join("vm").display()))
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            .arg("-retentionPeriod=100y")
            .arg("-search.latencyOffset=1s")
            // Large fleets: a request over 100,000 series may take longer than the default 30 s.
            .arg("-search.maxQueryDuration=600s")
            .arg("-loggerLevel=WARN")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start victoria-metrics (Debian: apt-get install victoria-metrics)");
        let victoria = Victoria { port, child };
        wait(Duration::from_secs(30), || get(port, "/health").is_some());
        victoria
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Victoria {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Disk usage per host: a level, growth, a daily cycle and noise; about one disk in twenty
/// crosses 90 % within 30 days.
fn used(host: usize, k: u64) -> f64 {
    let h = host as f64;
    let days = (k * STEP) as f64 / 86_400.0;
    let level = 0.3 + 0.5 * frac(h * 0.618_034);
    let growth = if host.is_multiple_of(20) {
        0.012
    } else {
        0.002 * frac(h * 0.414_214)
    };
    let daily = 0.01 * (2.0 * std::f64::consts::PI * days + h).sin();
    let noise = 0.002 * (frac((h + 1.0) * (k as f64 + 1.0) * 0.754_877_7) - 0.5);
    DISK * (level + growth * days + daily + noise).clamp(0.0, 0.999)
}

fn frac(x: f64) -> f64 {
    x - x.floor()
}

/// Imports the fleet through `/api/v1/import` (JSON lines), in batches; returns the samples.
async fn load_fleet(url: &str, series: usize, days: u64) -> u64 {
    let end = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        / STEP)
        * STEP;
    let points = days * 86_400 / STEP;
    let start = end - (points - 1) * STEP;
    let timestamps: Vec<String> = (0..points).map(|k| ((start + k * STEP) * 1000).to_string()).collect();
    let timestamps = timestamps.join(",");
    let client = reqwest::Client::new();
    let batch = (2_000_000 / points as usize).max(1);
    let mut sent = 0u64;
    for first in (0..series).step_by(batch) {
        let mut body = String::new();
        for host in first..(first + batch).min(series) {
            let values: Vec<String> = (0..points).map(|k| format!("{:.0}", used(host, k))).collect();
            body.push_str(&format!(
                "{{\"metric\":{{\"__name__\":\"fleet_disk_used_bytes\",\"instance\":\"host-{host:06}:9100\",\"mountpoint\":\"/data\"}},\"values\":[{}],\"timestamps\":[{timestamps}]}}\n",
                values.join(",")
            ));
            sent += points;
        }
        let response = client
            .post(format!("{url}/api/v1/import"))
            .body(body)
            .send()
            .await
            .expect("import");
        assert!(response.status().is_success(), "import: {}", response.status());
    }
    let _ = client.get(format!("{url}/internal/force_flush")).send().await;
    let port: u16 = url.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");
    wait(Duration::from_secs(120), || {
        get(port, "/api/v1/series/count")
            .and_then(|body| {
                let json: serde_json::Value = serde_json::from_str(&body).ok()?;
                json["data"][0].as_u64()
            })
            .is_some_and(|n| n as usize >= series)
    });
    sent
}

struct Replica {
    ready_s: f64,
    cycle1_s: f64,
    samples1: u64,
    cycle2_s: f64,
    samples2: u64,
    peak_mib: f64,
    cpu_s: f64,
    scrape_ms: f64,
}

/// Runs one `headroom run` replica over the fleet: the first cycle, then the second one its
/// 30-second interval brings (incremental: the history is cached in the state file).
fn run_replica(dir: &std::path::Path, url: &str, shard: u32, shards: u32, series: usize) -> Replica {
    // Requests of at most ~5 million samples: every replica reads every series and keeps its
    // share, so the request size, not the share, bounds its memory.
    let points_per_request = (5_000_000 / series).clamp(10, 11_000);
    let work = dir.join(format!("replica-{shard}"));
    std::fs::create_dir_all(work.join("models")).expect("replica dir");
    std::fs::write(
        work.join("headroom.toml"),
        format!(
            "[source]\nurl = \"{url}\"\ntimeout = \"600s\"\nmax_points_per_request = {points_per_request}\n\n[schedule]\ninterval = \"30s\"\n\n[models]\ndir = \"models\"\n\n[store]\npath = \"state/headroom.db\"\n"
        ),
    )
    .expect("config");
    std::fs::write(
        work.join("models/disk.toml"),
        "name = \"fleet-disk\"\nusage = 'fleet_disk_used_bytes'\ncapacity = 1e12\nthreshold = \"90%\"\nunit = \"bytes\"\nhistory = \"28d\"\nstep = \"1h\"\nhorizon = \"30d\"\n\n[downsample]\nfunction = \"max\"\nresolution = \"5m\"\n\n[scaling]\nunit_size = 1e11\nunit_name = \"100 GB volume\"\nunit_cost = 8\nlead_time = \"14d\"\n",
    )
    .expect("model");
    let port = free_port();
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_headroom"))
        .args(["run", "--config"])
        .arg(work.join("headroom.toml"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args([
            "--shard-index",
            &shard.to_string(),
            "--shard-count",
            &shards.to_string(),
        ])
        // Quiet unless asked: `HEADROOM_LOG=info cargo bench ...` shows each replica's progress.
        .env(
            "HEADROOM_LOG",
            std::env::var("HEADROOM_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start headroom");
    let stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("  headroom: {line}");
        }
    });
    let pid = child.id();
    wait(Duration::from_secs(1800), || {
        get(port, "/readyz").is_some_and(|b| b.starts_with("ready"))
    });
    let ready_s = started.elapsed().as_secs_f64();
    let first = get(port, "/metrics").expect("metrics");
    let cycle1_s = metric(&first, "headroom_cycle_duration_seconds_sum");
    let samples1 = metric(&first, "headroom_source_samples_fetched_total") as u64;
    // The second cycle, 30 s after the first started: incremental fetch from the cache, and
    // series whose hourly grid has no new point keep their forecasts.
    wait(Duration::from_secs(1800), || {
        get(port, "/metrics").is_some_and(|m| metric(&m, "headroom_cycle_duration_seconds_count") >= 2.0)
    });
    let scrape_started = Instant::now();
    let second = get(port, "/metrics").expect("metrics");
    let scrape_ms = scrape_started.elapsed().as_secs_f64() * 1000.0;
    let cycle2_s = metric(&second, "headroom_cycle_duration_seconds_sum") - cycle1_s;
    let samples2 = metric(&second, "headroom_source_samples_fetched_total") as u64 - samples1;
    let peak_mib = status_kib(pid, "VmHWM") / 1024.0;
    let cpu_s = cpu_seconds(pid);
    let _ = child.kill();
    let _ = child.wait();
    Replica {
        ready_s,
        cycle1_s,
        samples1,
        cycle2_s,
        samples2,
        peak_mib,
        cpu_s,
        scrape_ms,
    }
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn status_kib(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(f64::NAN)
}

fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces, inside parentheses).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat; 12 and 13 after the command.
    (ticks(11) + ticks(12)) / 100.0
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn wait(timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if condition() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out after {timeout:?}");
}

fn get(port: u16, path: &str) -> Option<String> {
    request(port, "GET", path)
}

fn request(port: u16, method: &str, path: &str) -> Option<String> {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(1800))).ok()?;
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    )
    .ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.contains(" 200 ").then(|| body.to_string())
}
