//! `headroom replay`: its arguments and wiring; the work is [`crate::app::replay`].

use std::path::PathBuf;
use std::process::ExitCode;

use super::{ConfigArg, Format};
use crate::app::AppError;
use crate::app::replay::Span;
use crate::config::Config;
use crate::model::CapacityModel;
use crate::report::replay as rendering;

/// The arguments of `headroom replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// The first moment to replay (Unix seconds or RFC 3339).
    #[arg(long, value_parser = crate::clock::parse_instant)]
    pub from: f64,
    /// The last moment to replay (Unix seconds or RFC 3339); it must have passed.
    #[arg(long, value_parser = crate::clock::parse_instant)]
    pub to: f64,
    /// Time between two moments (30m, 1h, 1d...).
    #[arg(long, default_value = "1h", value_parser = parse_every)]
    pub every: f64,
    /// Output format on standard output: the table for people, or the JSON document
    /// (docs/schemas/replay.schema.json).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Also write replay.html (a chart per entity) and replay.json into this directory
    /// (created if needed).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

fn parse_every(text: &str) -> Result<f64, crate::duration::DurationError> {
    text.parse::<crate::duration::PromDuration>().map(|d| d.as_secs_f64())
}

/// Why a replay printed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    App(#[from] AppError),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot encode the replay as JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Replays, prints the table or the JSON document, and writes the page when asked.
pub async fn replay(
    config: &Config,
    models: &[CapacityModel],
    args: &ReplayArgs,
    shard: crate::shard::Shard,
) -> Result<ExitCode, ReplayError> {
    let span = Span {
        from: args.from,
        to: args.to,
        every: args.every,
    };
    let replayed = crate::app::replay::run(config, models, span, shard).await?;
    let json = || -> Result<String, ReplayError> {
        Ok(serde_json::to_string_pretty(&rendering::json::document(&replayed))? + "\n")
    };
    match args.format {
        Format::Table => print!("{}", rendering::to_table(&replayed)),
        Format::Json => print!("{}", json()?),
    }
    if let Some(dir) = &args.out {
        let write = |name: &str, text: &str| -> Result<PathBuf, ReplayError> {
            let path = dir.join(name);
            std::fs::create_dir_all(dir)
                .and_then(|()| std::fs::write(&path, text))
                .map_err(|source| ReplayError::Write {
                    path: path.clone(),
                    source,
                })?;
            Ok(path)
        };
        let page = write("replay.html", &rendering::html::render(&replayed))?;
        write("replay.json", &json()?)?;
        eprintln!("wrote {}", page.display());
    }
    let failed = replayed.models.iter().any(|m| !m.failures.is_empty());
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
