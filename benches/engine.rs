//! The forecasting engine's benchmark: speed, throughput, memory and accuracy.
//!
//!     cargo bench --bench engine                 # everything but the peers
//!     cargo bench --bench engine -- --accuracy   # only the accuracy part (fast)
//!     cargo bench --bench engine -- --speed      # only the one-core timings
//!     cargo bench --bench engine -- --data DIR   # other tasks in the same layout
//!     cargo bench --bench engine -- --peers [--python PYTHON] [--series N]
//!                                                # `headroom forecast` next to Prophet and
//!                                                # statsforecast on the same CSV, one core
//!
//! Accuracy follows the protocol in `bench/data/nab/README.md` (hold out the last day and week,
//! MASE against the daily seasonal-naive, sMAPE, 80 % and 95 % coverage, exhaustion error).
//! Results are recorded in `docs/benchmarks.md`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use headroom::forecast::{self, Grid, Settings};
use headroom::model::Direction;
use headroom::recommend::exhaustion::exhaustion;
use rayon::prelude::*;

const STEP: f64 = 300.0;
const DAY: usize = 288;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let only_accuracy = args.iter().any(|a| a == "--accuracy");
    let only_speed = args.iter().any(|a| a == "--speed");
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    if args.iter().any(|a| a == "--peers") {
        let python = value("--python").unwrap_or_else(|| "python3".to_string());
        let count = value("--series").and_then(|v| v.parse().ok()).unwrap_or(100);
        peers(&python, count);
        return;
    }
    let data = args
        .iter()
        .position(|a| a == "--data")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/data/nab"));
    println!(
        "headroom engine benchmark ({} cores)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    if !only_accuracy {
        speed();
        if only_speed {
            return;
        }
        throughput();
    }
    accuracy(&data);
    println!("\npeak memory (VmHWM): {:.1} MiB", peak_rss_mib());
}

/// A synthetic 5-minute series: level, growth, daily and weekly cycles, noise.
fn synthetic(seed: u64, points: usize) -> Vec<f64> {
    let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    };
    let base = 50.0 + 100.0 * (next() + 1.0) / 2.0;
    let growth = base * (0.05 + 0.35 * (next() + 1.0) / 2.0) / (28.0 * DAY as f64);
    let daily = base * (0.1 + 0.2 * (next() + 1.0) / 2.0);
    let weekly = base * (0.03 + 0.1 * (next() + 1.0) / 2.0);
    let noise = base * (0.01 + 0.04 * (next() + 1.0) / 2.0);
    // The cycles are periodic: one table per cycle keeps generation out of the timings.
    let tau = 2.0 * std::f64::consts::PI;
    let day_shape: Vec<f64> = (0..DAY)
        .map(|i| (tau * i as f64 / DAY as f64).sin() + 0.3 * (2.0 * tau * i as f64 / DAY as f64).sin())
        .collect();
    let week_shape: Vec<f64> = (0..7 * DAY)
        .map(|i| (tau * i as f64 / (7 * DAY) as f64).sin())
        .collect();
    (0..points)
        .map(|i| {
            base + growth * i as f64 + daily * day_shape[i % DAY] + weekly * week_shape[i % (7 * DAY)] + noise * next()
        })
        .collect()
}

fn grid(values: Vec<f64>) -> Grid {
    Grid {
        start: 1_700_000_000.0,
        step: STEP,
        values,
    }
}

fn speed() {
    println!("\n## fit + forecast on one core (80 % and 95 % intervals)");
    println!("| points | horizon | series | median ms | p90 ms |");
    println!("|---|---|---|---|---|");
    let settings = Settings::default();
    for (points, horizon) in [(8064usize, DAY), (8064, 7 * DAY), (2016, DAY)] {
        let mut times: Vec<f64> = (0..100u64)
            .map(|seed| {
                let g = grid(synthetic(seed, points));
                let started = Instant::now();
                let fc = forecast::forecast(&g, horizon, &settings).expect("forecast");
                std::hint::black_box(&fc);
                started.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        times.sort_by(f64::total_cmp);
        println!(
            "| {points} | {} | {} | {:.2} | {:.2} |",
            if horizon == DAY { "1 day" } else { "7 days" },
            times.len(),
            times[times.len() / 2],
            times[times.len() * 9 / 10]
        );
    }
}

/// `headroom forecast` on a CSV of `count` synthetic 8,064-point series, one day ahead, on one
/// core, next to Prophet and statsforecast on the same file (`bench/peers.py`, run with
/// `python`; a tool that is not installed is reported as such).
fn peers(python: &str, count: u64) {
    let dir = std::env::temp_dir().join(format!("headroom-peers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let input = dir.join("series.csv");
    let mut csv = String::from("series_id,timestamp,value\n");
    for seed in 0..count {
        for (i, v) in synthetic(seed, 28 * DAY).iter().enumerate() {
            csv.push_str(&format!("s{seed},{},{v}\n", 1_700_000_000 + i * 300));
        }
    }
    std::fs::write(&input, csv).expect("write the input CSV");
    println!("\n## one core, {count} series of 8,064 points, one day ahead with 80 % and 95 % intervals");
    // Five runs, the median of each measure: a busy machine slows single runs by 20 %.
    let mut runs: Vec<(f64, f64)> = (0..5)
        .map(|_| {
            let cpu_before = children_cpu_seconds();
            let started = Instant::now();
            let status = std::process::Command::new(env!("CARGO_BIN_EXE_headroom"))
                .args(["forecast", "--horizon", "288", "--input"])
                .arg(&input)
                .arg("--output")
                .arg(dir.join("headroom.csv"))
                .env("RAYON_NUM_THREADS", "1")
                .status()
                .expect("run headroom forecast");
            assert!(status.success(), "headroom forecast failed");
            (
                (children_cpu_seconds() - cpu_before) * 1000.0 / count as f64,
                started.elapsed().as_secs_f64() * 1000.0 / count as f64,
            )
        })
        .collect();
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let headroom_ms = runs[runs.len() / 2].0;
    runs.sort_by(|a, b| a.1.total_cmp(&b.1));
    let wall_ms = runs[runs.len() / 2].1;
    println!("| tool | series | CPU ms per series | wall ms per series | × Headroom (CPU) |");
    println!("|---|---|---|---|---|");
    println!(
        "| headroom forecast (whole process: start, CSV in and out; median of 5 runs) | {count} | {headroom_ms:.2} | {wall_ms:.2} | 1 |"
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/peers.py");
    let output = std::process::Command::new(python)
        .arg(&script)
        .arg("--input")
        .arg(&input)
        .args(["--horizon", "288"])
        .output();
    match output {
        Ok(output) => {
            for line in String::from_utf8_lossy(&output.stdout).lines() {
                let tool = json_field(line, "tool").unwrap_or_default();
                match (json_field(line, "cpu_ms_per_series"), json_field(line, "missing")) {
                    (Some(cpu), _) => {
                        let cpu: f64 = cpu.parse().unwrap_or(f64::NAN);
                        let wall: f64 = json_field(line, "wall_ms_per_series")
                            .and_then(|w| w.parse().ok())
                            .unwrap_or(f64::NAN);
                        let series = json_field(line, "series").unwrap_or_default();
                        println!(
                            "| {tool} | {series} | {cpu:.1} | {wall:.1} | {:.0} |",
                            cpu / headroom_ms
                        );
                    }
                    (None, Some(missing)) => println!("| {tool} | not installed ({missing}) | | | |"),
                    _ => {}
                }
            }
            if !output.status.success() {
                eprintln!("{}", String::from_utf8_lossy(&output.stderr));
            }
        }
        Err(e) => println!("| Prophet, statsforecast | cannot run {python}: {e} | | | |"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// CPU seconds (user + system) of this process's children that have finished, from
/// `/proc/self/stat` (clock ticks of 1/100 s, as Linux reports them).
fn children_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which may hold spaces) start at "state".
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    // cutime and cstime are fields 16 and 17 of the whole line, "state" field 3.
    let ticks = |field: usize| fields.get(field - 3).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(16) + ticks(17)) / 100.0
}

/// The value of `"key"` in a flat JSON object line (a string or a number), unquoted.
fn json_field(line: &str, key: &str) -> Option<String> {
    let start = line.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = line[start..].trim_start();
    if let Some(quoted) = rest.strip_prefix('"') {
        quoted.split('"').next().map(str::to_string)
    } else {
        rest.split([',', '}']).next().map(|v| v.trim().to_string())
    }
}

fn throughput() {
    println!(
        "\n## throughput on all cores (8,064-point series, 7-day horizon; each series generated, forecast, summarised, dropped)"
    );
    println!("| series | wall s | series/s |");
    println!("|---|---|---|");
    let settings = Settings::default();
    for count in [1_000u64, 10_000] {
        let started = Instant::now();
        let crossings: usize = (0..count)
            .into_par_iter()
            .map(|seed| {
                let values = synthetic(seed + 1000, 28 * DAY);
                let threshold = values.iter().copied().fold(f64::MIN, f64::max) * 1.2;
                let fc = forecast::forecast(&grid(values), 7 * DAY, &settings).expect("forecast");
                usize::from(exhaustion(&fc, threshold, Direction::Above).likely.is_some())
            })
            .sum();
        let wall = started.elapsed().as_secs_f64();
        std::hint::black_box(crossings);
        println!("| {count} | {wall:.2} | {:.0} |", count as f64 / wall);
    }
}

/// One task of the accuracy set.
struct Task {
    id: String,
    kind: String,
    horizon: String,
    step: f64,
    period: usize,
    train: Vec<(f64, f64)>,
    test: Vec<(f64, f64)>,
}

fn read_pairs(path: &Path) -> Vec<(f64, f64)> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (t, v) = l
                .split_once(',')
                .unwrap_or_else(|| panic!("bad row in {}: {l}", path.display()));
            (t.trim().parse().expect("timestamp"), v.trim().parse().expect("value"))
        })
        .collect()
}

fn read_tasks(dir: &Path) -> Vec<Task> {
    let index = std::fs::read_to_string(dir.join("tasks.csv"))
        .unwrap_or_else(|e| panic!("cannot read {}/tasks.csv: {e}", dir.display()));
    index
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let (series, horizon) = (f[1], f[3]);
            let base = dir.join("tasks").join(format!("{series}__{horizon}"));
            Task {
                id: f[0].to_string(),
                kind: f[2].to_string(),
                horizon: horizon.to_string(),
                step: f[4].parse().expect("step_s"),
                period: f[5].parse().expect("period_per_day"),
                train: read_pairs(&base.with_extension("train.csv")),
                test: read_pairs(&base.with_extension("test.csv")),
            }
        })
        .collect()
}

struct Scores {
    mase: f64,
    smape: f64,
    cov80: f64,
    cov95: f64,
    millis: f64,
    method: String,
}

fn accuracy(dir: &Path) {
    let tasks = read_tasks(dir);
    let settings = Settings {
        min_history_secs: 0.0,
        ..Settings::default()
    };
    println!("\n## accuracy on {} ({} tasks)", dir.display(), tasks.len());
    println!("| task | method | seasonal mode | MASE | sMAPE % | cov80 | cov95 | ms |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut by_horizon: std::collections::BTreeMap<String, Vec<Scores>> = Default::default();
    for task in tasks.iter().filter(|t| t.kind == "level") {
        let values: Vec<f64> = task.train.iter().map(|p| p.1).collect();
        let g = Grid {
            start: task.train[0].0,
            step: task.step,
            values: values.clone(),
        };
        let started = Instant::now();
        let fc = forecast::forecast(&g, task.test.len(), &settings).expect("forecast");
        let millis = started.elapsed().as_secs_f64() * 1000.0;
        let scale = forecast::seasonal_naive_scale(&values, Some(task.period));
        let n = task.test.len() as f64;
        let mae = task
            .test
            .iter()
            .zip(&fc.mean)
            .map(|(a, f)| (a.1 - f).abs())
            .sum::<f64>()
            / n;
        let smape = task
            .test
            .iter()
            .zip(&fc.mean)
            .map(|(a, f)| {
                let denominator = a.1.abs() + f.abs();
                if denominator > 0.0 {
                    200.0 * (a.1 - f).abs() / denominator
                } else {
                    0.0
                }
            })
            .sum::<f64>()
            / n;
        let coverage = |level: f64| {
            let band = fc.band(level).expect("band");
            task.test
                .iter()
                .enumerate()
                .filter(|(h, a)| a.1 >= band.lower[*h] && a.1 <= band.upper[*h])
                .count() as f64
                / n
        };
        let scores = Scores {
            mase: mae / scale,
            smape,
            cov80: coverage(0.8),
            cov95: coverage(0.95),
            millis,
            method: fc.diagnostics.method.name().to_string(),
        };
        println!(
            "| {} | {} | {:?} | {:.3} | {:.2} | {:.3} | {:.3} | {:.1} |",
            task.id,
            scores.method,
            fc.diagnostics.seasonal_mode,
            scores.mase,
            scores.smape,
            scores.cov80,
            scores.cov95,
            scores.millis
        );
        if std::env::var_os("HEADROOM_BENCH_VERBOSE").is_some() {
            let band = fc.band(0.8).expect("band");
            let mut errors: Vec<f64> = task.test.iter().zip(&fc.mean).map(|(a, f)| (a.1 - f).abs()).collect();
            errors.sort_by(f64::total_cmp);
            let width: f64 = band
                .upper
                .iter()
                .zip(&band.lower)
                .map(|(u, l)| (u - l) / 2.0)
                .sum::<f64>()
                / n;
            println!(
                "    n={} regime_start={:?} periods={:?} mean half-width80={:.3} test |err| q80={:.3} median={:.3}",
                values.len(),
                fc.diagnostics
                    .regime_start
                    .map(|t| ((t - task.train[0].0) / task.step) as usize),
                fc.diagnostics.periods_secs,
                width,
                errors[(errors.len() * 8) / 10],
                errors[errors.len() / 2]
            );
        }
        by_horizon.entry(task.horizon.clone()).or_default().push(scores);
    }
    println!("\n| horizon | tasks | MASE mean | MASE median | sMAPE mean | cov80 mean | cov95 mean |");
    println!("|---|---|---|---|---|---|---|");
    for (horizon, scores) in &by_horizon {
        let mean = |f: &dyn Fn(&Scores) -> f64| scores.iter().map(f).sum::<f64>() / scores.len() as f64;
        let mut mases: Vec<f64> = scores.iter().map(|s| s.mase).collect();
        mases.sort_by(f64::total_cmp);
        let median = if mases.len() % 2 == 1 {
            mases[mases.len() / 2]
        } else {
            (mases[mases.len() / 2 - 1] + mases[mases.len() / 2]) / 2.0
        };
        println!(
            "| {horizon} | {} | {:.3} | {median:.3} | {:.2} | {:.3} | {:.3} |",
            scores.len(),
            mean(&|s| s.mase),
            mean(&|s| s.smape),
            mean(&|s| s.cov80),
            mean(&|s| s.cov95)
        );
    }
    println!(
        "\n## exhaustion (cumulative series; threshold = actual value 60 % into the horizon; forecast 3x the horizon)"
    );
    println!("| task | actual crossing h | predicted h | error h |");
    println!("|---|---|---|---|");
    for task in tasks.iter().filter(|t| t.kind == "cum") {
        let values: Vec<f64> = task.train.iter().map(|p| p.1).collect();
        let g = Grid {
            start: task.train[0].0,
            step: task.step,
            values,
        };
        let fc = forecast::forecast(&g, 3 * task.test.len(), &settings).expect("forecast");
        let threshold = task.test[(task.test.len() as f64 * 0.6) as usize].1;
        let cut = task.train[task.train.len() - 1].0;
        let actual = task
            .test
            .iter()
            .find(|p| p.1 >= threshold)
            .map(|p| (p.0 - cut) / 3600.0);
        let predicted = exhaustion(&fc, threshold, Direction::Above)
            .likely
            .map(|t| (t - cut) / 3600.0);
        let show = |v: Option<f64>| v.map_or("miss".to_string(), |v| format!("{v:.2}"));
        if std::env::var_os("HEADROOM_BENCH_VERBOSE").is_some() {
            let last = fc.mean.len() - 1;
            println!(
                "    {:?} last={:.4e} threshold={:.4e} mean[end]={:.4e} upper95[end]={:.4e}",
                fc.diagnostics,
                fc.last_value,
                threshold,
                fc.mean[last],
                fc.band(0.95).map_or(f64::NAN, |b| b.upper[last])
            );
        }
        let error = actual.zip(predicted).map(|(a, p)| p - a);
        println!(
            "| {} | {} | {} | {} |",
            task.id,
            show(actual),
            show(predicted),
            show(error)
        );
    }
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(f64::NAN, |kb| kb / 1024.0)
}
