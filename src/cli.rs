//! The command line: `run`, `once`, `replay`, `report`, `budget`, `check`, `demo`, `forecast`. Parsing and wiring only; the work lives
//! in the library modules.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use crate::app::daemon::Daemon;
use crate::config::Config;
use crate::forecast;
use crate::model;
use crate::outcome::CycleOutcome;
use crate::report;

mod replay;

/// Headroom forecasts when your resources run out.
///
/// It reads metric history from Prometheus (or anything speaking its HTTP API), fits a
/// seasonal trend forecast per resource and entity, and serves the time each one crosses its
/// threshold on /metrics, so alerting fires days before a disk fills or a pool saturates.
///
/// Start with `headroom demo`: it serves forecasts for a built-in fleet, no Prometheus needed.
#[derive(Debug, Parser)]
#[command(name = "headroom", version, about, long_about, max_term_width = 100)]
pub struct Cli {
    /// Log filter: error, warn, info, debug, trace, or a tracing directive such as
    /// `headroom=debug`. RUST_LOG takes precedence when set.
    #[arg(long, global = true, default_value = "info", env = "HEADROOM_LOG")]
    pub log_level: String,

    /// This replica's shard when the fleet is split over several Headrooms: a number from 0,
    /// or a StatefulSet pod name ending in one (headroom-2). Each replica plans the series it
    /// owns (a stable hash of model and entity labels); together they cover every series once.
    #[arg(long, global = true, default_value = "0", env = "HEADROOM_SHARD_INDEX")]
    pub shard_index: String,

    /// How many replicas share the fleet.
    #[arg(long, global = true, default_value_t = 1, env = "HEADROOM_SHARD_COUNT")]
    pub shard_count: u32,

    /// Log format: text for people, json (one object per line) for log pipelines.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "HEADROOM_LOG_FORMAT")]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: forecast every model each interval and serve /metrics, /healthz, /readyz.
    Run {
        #[command(flatten)]
        config: ConfigArg,
        /// Address to listen on (overrides server.listen). Loopback by default.
        #[arg(long, value_parser = crate::net::parse_listen)]
        listen: Option<SocketAddr>,
    },
    /// Run one planning cycle, print the results and exit (non-zero if a model failed).
    Once {
        #[command(flatten)]
        config: ConfigArg,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Plan as of this time instead of now (Unix seconds or RFC 3339), to replay what
        /// Headroom would have said then.
        #[arg(long, value_parser = crate::clock::parse_instant)]
        at: Option<f64>,
        /// Show one scenario from the config (its dates, units and costs) instead of the
        /// baseline.
        #[arg(long)]
        scenario: Option<String>,
    },
    /// Replay past moments: what Headroom would have alerted on, and what a predict_linear
    /// rule did, judged against what really happened.
    ///
    /// Every moment from --from to --to (every --every) is planned as `once --at` that moment
    /// would plan it, with no sample after it. Beside it, the baseline rule of
    /// [replay.baseline] (predict_linear over 6h, 24h ahead by default). Once the data after a
    /// moment is known, each alert is true (the usage crossed within the alert's horizon),
    /// false, or pending (the data ends first). Prints, per entity and in total: alert-hours,
    /// false alert-hours, missed crossings, median warning lead time and the error of
    /// Headroom's likely date (docs/replay.md). Exit 1 if a model failed at some moment.
    Replay(replay::ReplayArgs),
    /// Build the weekly capacity report now from one planning cycle: write report.html,
    /// report.txt and the charts (PNG) into a directory, and with --send mail it to
    /// report.to through [smtp].
    ///
    /// "Since last week" compares with the last report the daemon built in its state file,
    /// when there is one. Building a report here does not count as the period's scheduled
    /// report: the daemon still sends that one. Exits 1 when a model could not be planned
    /// (the report then says INCOMPLETE).
    Report {
        #[command(flatten)]
        config: ConfigArg,
        /// Directory for report.html, report.txt and chart-N.png (created if needed).
        #[arg(long, default_value = "report")]
        out: PathBuf,
        /// Also send the report by email now.
        #[arg(long)]
        send: bool,
        /// Plan as of this time instead of now (Unix seconds or RFC 3339).
        #[arg(long, value_parser = crate::clock::parse_instant)]
        at: Option<f64>,
    },
    /// Print the 12-month cost projection per scenario, model and team, for finance.
    ///
    /// CSV (one row per month: scenario,model,team,currency,month,cost) or JSON. Only models
    /// with [scaling] unit_cost have a cost.
    Budget {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long, value_enum, default_value_t = BudgetFormat::Csv)]
        format: BudgetFormat,
        /// Plan as of this time instead of now (Unix seconds or RFC 3339).
        #[arg(long, value_parser = crate::clock::parse_instant)]
        at: Option<f64>,
    },
    /// Validate the config and every model file; print every problem (exit 2 if any).
    Check {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Forecast series from a CSV file with the daemon's engine (offline, no Prometheus).
    ///
    /// Input: a header naming series_id, timestamp and value, then one row per sample
    /// (timestamps in Unix seconds or RFC 3339, rows in any order, the step inferred per
    /// series). Output: series_id,timestamp,yhat,lo80,hi80,lo95,hi95 for each of the next
    /// HORIZON steps of every series. Exit 2 on a bad row (named by line), 1 if a series could
    /// not be forecast (named on stderr; the others are still written).
    Forecast {
        /// Input CSV file, or - for standard input.
        #[arg(long)]
        input: PathBuf,
        /// Steps to forecast past each series' last timestamp, at the series' own step.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        horizon: u32,
        /// Output CSV file; - or absent for standard output.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Series with fewer real points than this are not forecast.
        #[arg(long, default_value_t = 24)]
        min_points: usize,
    },
    /// Serve forecasts for a built-in demo fleet (four weeks of generated history).
    Demo {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:9860", value_parser = crate::net::parse_listen)]
        listen: SocketAddr,
        /// Also write the demo history to this file (dump format, usable as a file source).
        #[arg(long)]
        dump: Option<PathBuf>,
    },
}

/// The config file argument shared by several commands.
#[derive(Debug, clap::Args)]
pub struct ConfigArg {
    /// Config file (TOML). Environment variables HEADROOM_<SECTION>__<KEY> override its keys.
    #[arg(long, short, env = "HEADROOM_CONFIG", default_value = crate::config::DEFAULT_PATH)]
    pub config: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BudgetFormat {
    Csv,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// Exit code for invalid configuration (`check`, and any command given a bad config).
const EXIT_CONFIG: u8 = 2;

/// Runs the parsed command line.
pub fn main(cli: Cli) -> ExitCode {
    init_logging(&cli.log_level, cli.log_format);
    crate::net::install_crypto_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("headroom-io")
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let shard =
        match crate::shard::parse_index(&cli.shard_index).and_then(|i| crate::shard::Shard::new(i, cli.shard_count)) {
            Ok(shard) => shard,
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::from(EXIT_CONFIG);
            }
        };
    let result = runtime.block_on(dispatch(cli.command, shard));
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command, shard: crate::shard::Shard) -> anyhow::Result<ExitCode> {
    match command {
        Command::Check { config } => Ok(check(&config.config)),
        Command::Once {
            config,
            format,
            at,
            scenario,
        } => {
            let Some((config, models)) = load_all(&config.config) else {
                return Ok(ExitCode::from(EXIT_CONFIG));
            };
            once(config, models, format, at, scenario.as_deref(), shard).await
        }
        Command::Replay(args) => {
            let Some((config, models)) = load_all(&args.config.config) else {
                return Ok(ExitCode::from(EXIT_CONFIG));
            };
            Ok(replay::replay(&config, &models, &args, shard).await?)
        }
        Command::Run {
            config: config_arg,
            listen,
        } => {
            let Some((config, models)) = load_all(&config_arg.config) else {
                return Ok(ExitCode::from(EXIT_CONFIG));
            };
            run(&config_arg.config, config, models, listen, shard).await
        }
        Command::Demo { listen, dump } => demo(listen, dump).await,
        Command::Report { config, out, send, at } => {
            let Some((config, models)) = load_all(&config.config) else {
                return Ok(ExitCode::from(EXIT_CONFIG));
            };
            weekly_report(config, models, &out, send, at, shard).await
        }
        Command::Budget { config, format, at } => {
            let Some((config, models)) = load_all(&config.config) else {
                return Ok(ExitCode::from(EXIT_CONFIG));
            };
            budget(config, models, format, at, shard).await
        }
        Command::Forecast {
            input,
            horizon,
            output,
            min_points,
        } => forecast_csv(&input, horizon as usize, output.as_deref(), min_points),
    }
}

fn forecast_csv(input: &Path, horizon: usize, output: Option<&Path>, min_points: usize) -> anyhow::Result<ExitCode> {
    let text = if input == Path::new("-") {
        std::io::read_to_string(std::io::stdin()).context("cannot read standard input")?
    } else {
        std::fs::read_to_string(input).with_context(|| format!("cannot read {}", input.display()))?
    };
    let series = match crate::app::forecast_csv::read(&text) {
        Ok(read) => {
            for note in &read.notes {
                eprintln!("warning: {}: {note}", input.display());
            }
            read.series
        }
        Err(error) => {
            eprintln!("error: {}: {error}", input.display());
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    };
    let started = std::time::Instant::now();
    let settings = forecast::Settings {
        min_history_secs: 0.0,
        min_points: min_points.max(2),
        ..forecast::Settings::default()
    };
    let (csv, skipped) = crate::app::forecast_csv::forecast_all(&series, horizon, &settings);
    tracing::info!(
        series = series.len(),
        skipped = skipped.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "forecasts done"
    );
    match output {
        None => print!("{csv}"),
        Some(path) if path == Path::new("-") => print!("{csv}"),
        Some(path) => std::fs::write(path, csv).with_context(|| format!("cannot write {}", path.display()))?,
    }
    for message in &skipped {
        eprintln!("warning: not forecast: {message}");
    }
    Ok(if skipped.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn environment() -> BTreeMap<String, String> {
    std::env::vars().collect()
}

/// Loads config and models, printing every problem to stderr; `None` when there are any.
fn load_all(path: &Path) -> Option<(Config, Vec<model::CapacityModel>)> {
    if !path.exists() {
        eprintln!(
            "error: config file {} not found; pass --config FILE (or set HEADROOM_CONFIG). \
             To try Headroom without Prometheus, run `headroom demo`.",
            path.display()
        );
        return None;
    }
    match crate::config::load::load(path, &environment()) {
        Ok(loaded) => Some(loaded),
        Err(problems) => {
            eprintln!("{problems}");
            eprintln!("error: {} problem(s) in the configuration and models", problems.0.len());
            None
        }
    }
}

fn check(path: &Path) -> ExitCode {
    // The same validation a start and a reload run.
    match crate::config::load::load(path, &environment()) {
        Ok((_, models)) => {
            let mut names: Vec<&str> = models.iter().map(|m| m.model_name()).collect();
            names.dedup();
            println!("{}: ok; {} capacity model(s) valid", path.display(), names.len());
            ExitCode::SUCCESS
        }
        Err(problems) => {
            for problem in &problems.0 {
                println!("{problem}");
            }
            println!("{} problem(s) found", problems.0.len());
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

async fn once(
    config: Config,
    models: Vec<model::CapacityModel>,
    format: Format,
    at: Option<f64>,
    scenario: Option<&str>,
    shard: crate::shard::Shard,
) -> anyhow::Result<ExitCode> {
    if let Some(name) = scenario {
        if !config.scenarios.iter().any(|s| s.name == name) && name != "baseline" {
            let known: Vec<&str> = std::iter::once("baseline")
                .chain(config.scenarios.iter().map(|s| s.name.as_str()))
                .collect();
            eprintln!(
                "error: no scenario {name:?} in the config; configured: {}",
                known.join(", ")
            );
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    }
    let report = crate::app::plan_once(&config, &models, at, shard).await?;
    let report = match scenario {
        Some(name) => crate::outcome::under_scenario(&report, name),
        None => report,
    };
    match format {
        Format::Table => print!("{}", report::table::to_table(&report)),
        Format::Json => println!("{}", serde_json::to_string_pretty(&report::json::cycle(&report))?),
    }
    if report.has_failures() {
        print_model_failures(&report);
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_model_failures(report: &CycleOutcome) {
    for model in report.models.iter().filter(|m| m.error.is_some()) {
        eprintln!(
            "error: model {}: {}",
            model.model,
            model.error.as_deref().unwrap_or_default()
        );
    }
}

async fn weekly_report(
    config: Config,
    models: Vec<model::CapacityModel>,
    out: &Path,
    send: bool,
    at: Option<f64>,
    shard: crate::shard::Shard,
) -> anyhow::Result<ExitCode> {
    if send && (config.report.to.is_empty() || config.smtp.is_none()) {
        eprintln!("error: --send needs recipients (report.to) and a mail relay ([smtp]) in the config");
        return Ok(ExitCode::from(EXIT_CONFIG));
    }
    let started = std::time::Instant::now();
    let cycle = crate::app::plan_once(&config, &models, at, shard).await?;
    print_model_failures(&cycle);
    let incomplete = cycle.has_failures();
    // Last week's snapshot, from the daemon's state file if there is one (never created here).
    let report_config = config.report.clone();
    let store_path = config.store.path.clone();
    let evaluated_at = cycle.evaluated_at;
    let rendered = tokio::task::spawn_blocking(move || {
        let store = store_path
            .exists()
            .then(|| crate::store::Store::open(&store_path).ok())
            .flatten();
        crate::delivery::weekly::build(store.as_ref(), &cycle, &report_config).1
    })
    .await
    .context("rendering the report failed")?;
    let written =
        write_report(&rendered, out).with_context(|| format!("cannot write the report into {}", out.display()))?;
    tracing::info!(
        files = written.len(),
        charts = rendered.charts.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "report written"
    );
    println!("{}", out.join("report.html").display());
    if send {
        let smtp = config.smtp.as_ref().context("no [smtp] section")?;
        let mailer = crate::delivery::email::Mailer::new(smtp).map_err(anyhow::Error::msg)?;
        let body = crate::delivery::email::weekly_report(
            &rendered,
            &config.report.from,
            &config.report.to,
            &format!("report-manual-{}", evaluated_at as i64),
        )
        .map_err(anyhow::Error::msg)?;
        let envelope = crate::delivery::email::StoredEnvelope {
            from: config.report.from.clone(),
            to: config.report.to.clone(),
        };
        match mailer.send(&envelope, &body).await {
            crate::delivery::Attempt::Delivered => {
                println!("sent to {}", config.report.to.join(", "));
            }
            crate::delivery::Attempt::Retry { error, .. } | crate::delivery::Attempt::Permanent(error) => {
                eprintln!("error: the report was written but not sent: {error}");
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    if incomplete {
        // Like `once`: a report that misses models is not a success (it says INCOMPLETE).
        eprintln!("the report is INCOMPLETE: some models could not be planned (see above); run it again once they can");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

async fn budget(
    config: Config,
    models: Vec<model::CapacityModel>,
    format: BudgetFormat,
    at: Option<f64>,
    shard: crate::shard::Shard,
) -> anyhow::Result<ExitCode> {
    let cycle = crate::app::plan_once(&config, &models, at, shard).await?;
    print_model_failures(&cycle);
    let lines = crate::outcome::budget(&cycle);
    match format {
        BudgetFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report::json::budget_document(&cycle))?
        ),
        BudgetFormat::Csv => print!("{}", report::table::budget_csv(&lines)),
    }
    if lines.is_empty() {
        eprintln!("warning: no model has [scaling] unit_cost, so the budget is empty");
    }
    Ok(if cycle.has_failures() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

async fn run(
    config_path: &Path,
    config: Config,
    models: Vec<model::CapacityModel>,
    listen: Option<SocketAddr>,
    shard: crate::shard::Shard,
) -> anyhow::Result<ExitCode> {
    Daemon::from_config(config_path, &config, models, listen, shard)?
        .run()
        .await?;
    Ok(ExitCode::SUCCESS)
}

async fn demo(listen: SocketAddr, dump: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let now = crate::clock::unix_now();
    if let Some(path) = &dump {
        std::fs::write(path, crate::app::demo::history(now))
            .with_context(|| format!("cannot write {}", path.display()))?;
        tracing::info!(path = %path.display(), "demo history written");
    }
    crate::app::demo::daemon(listen, now)?.run().await?;
    Ok(ExitCode::SUCCESS)
}

fn init_logging(level: &str, format: LogFormat) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        // One JSON object per line, fields flattened, for Loki, Elasticsearch and friends.
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
        // Colours for a person at a terminal; plain text for files, journald and pipes.
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).try_init(),
    };
}

/// Writes `report.html`, `report.txt` and the charts into `dir`; returns the files written.
fn write_report(
    rendered: &crate::report::weekly::message::Rendered,
    dir: &Path,
) -> std::io::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for (name, bytes) in [
        ("report.html", rendered.html_for_files.as_bytes()),
        ("report.txt", rendered.text.as_bytes()),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, bytes)?;
        written.push(path);
    }
    for (index, png) in &rendered.charts {
        let path = dir.join(crate::report::weekly::message::file_name(*index));
        std::fs::write(&path, png)?;
        written.push(path);
    }
    Ok(written)
}
