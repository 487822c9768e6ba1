//! `headroom replay`: the planning cycle played again at past moments, with no look-ahead.
//!
//! For each model the source is read **once**, over the history window before the first
//! moment through the last moment plus the longest alert horizon (capped at the newest data:
//! the truth that judges the alerts). Each moment is then planned from that read in memory,
//! exactly as `headroom once --at <moment>` plans it: the same window ending at the moment
//! aligned to the step, the same capacity and driver handling, the same
//! [`crate::plan::entity`], and only the samples up to the moment. Moments are planned on all
//! cores, with a progress line. What the plans say is judged in [`crate::replay`].

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use rayon::prelude::*;

use super::AppError;
use super::cycle::{build_pool, mark_ambiguous_in, on_grid, refuse_answer};
use crate::clock::Clock;
use crate::config::Config;
use crate::forecast::{self, accuracy};
use crate::model::{Capacity, CapacityModel};
use crate::outcome::EntityResult;
use crate::plan::inputs::CapacityLookup;
use crate::plan::{self, ModelContext, PastAccuracy};
use crate::recommend::CRITICAL_WINDOW_SECS;
use crate::replay::{self, ModelData, ModelReplay, MomentOutcome, MomentPlan, Replay};
use crate::series::Series;
use crate::shard::Shard;
use crate::source::cache::{Fetcher, History};
use crate::source::{Ambiguous, RangeQuery, SourceError};

/// The moments to replay.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Span {
    pub from: f64,
    pub to: f64,
    /// Seconds between moments.
    pub every: f64,
}

/// One model's history as read once for the whole replay.
struct Read {
    usage: Vec<Series>,
    capacities: CapacityLookup,
    /// Each entity's unit size, for a resource whose `unit_size` is a query.
    unit_sizes: CapacityLookup,
    drivers: Vec<Series>,
    /// Label sets the usage (and the capacity) answer held more than once: those entities get
    /// an error, as in a cycle.
    usage_ambiguous: Vec<Ambiguous>,
    capacity_ambiguous: Vec<Ambiguous>,
}

/// Replays `models` at every moment of `span`.
pub async fn run(config: &Config, models: &[CapacityModel], span: Span, shard: Shard) -> Result<Replay, AppError> {
    check_span(span)?;
    let (source, clock) = super::source_and_clock(config)?;
    // The newest data there can be: the wall clock for live sources, a dump's last sample.
    let newest = match clock {
        Clock::Fixed(t) => t,
        Clock::Wall => crate::clock::unix_now(),
    };
    if span.to > newest {
        return Err(AppError::ReplaySpan(format!(
            "--to {} is after the newest data ({}): a moment can only be replayed once it has passed",
            crate::format::time(span.to),
            crate::format::time(newest)
        )));
    }
    let pool = build_pool(config.forecast.threads)?;
    let settings = super::engine_settings(config);
    let rule = config.replay_baseline;
    let moments = replay::moments(span.from, span.to, span.every);
    let fetcher = Fetcher::new(&source, None).with_shard(shard);
    let mut replayed = Vec::with_capacity(models.len());
    let mut read_until = f64::NEG_INFINITY;
    for model in models {
        let step = model.step.as_secs_f64();
        let lead_time = model.scaling.as_ref().map_or(0.0, |s| s.lead_time.as_secs_f64());
        let judged_for = (CRITICAL_WINDOW_SECS + lead_time).max(rule.ahead.as_secs_f64());
        let start = (span.from / step).floor() * step - model.history.as_secs_f64();
        let wanted = (span.to + judged_for).min(newest).max(span.to);
        let end = start + ((wanted - start) / step).floor() * step;
        read_until = read_until.max(end);
        let started = Instant::now();
        let read = match read_once(&fetcher, model, start, end).await {
            Ok(read) => read,
            Err(error) => {
                tracing::warn!(model = %model.name, %error, "model failed: its history cannot be read");
                let outcomes = moments.iter().map(|_| Err(error.to_string())).collect();
                let nothing = CapacityLookup::None;
                let data = ModelData {
                    usage: &[],
                    capacity: &nothing,
                };
                replayed.push(ModelReplay::new(model, &rule, &moments, outcomes, &data));
                continue;
            }
        };
        let samples: usize = read.usage.iter().map(|s| s.samples.len()).sum();
        tracing::info!(
            model = %model.name,
            series = read.usage.len(),
            samples,
            from = %crate::format::time(start),
            to = %crate::format::time(end),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "history read once for the whole replay"
        );
        let (model, settings, moments, pool) = (model.clone(), settings.clone(), moments.clone(), pool.clone());
        let done = tokio::task::spawn_blocking(move || {
            let outcomes = plan_moments(&model, &settings, &read, &moments, &pool, shard.is_split());
            let data = ModelData {
                usage: &read.usage,
                capacity: &read.capacities,
            };
            ModelReplay::new(&model, &rule, &moments, outcomes, &data)
        })
        .await
        .map_err(|e| AppError::Server(format!("replay planning failed: {e}")))?;
        replayed.push(done);
    }
    no_data(&replayed, span)?;
    Ok(Replay {
        from: span.from,
        to: span.to,
        every: span.every,
        moments,
        rule,
        source: source.describe(),
        read_until,
        models: replayed,
    })
}

/// The most moments one replay plans (a year every minute is more than anyone reads).
pub const MAX_MOMENTS: usize = 100_000;

/// Refuses a span that has no moments to replay or far too many.
fn check_span(span: Span) -> Result<(), AppError> {
    let Span { from, to, every } = span;
    if !(from.is_finite() && to.is_finite()) {
        return Err(AppError::ReplaySpan("--from and --to must be times".into()));
    }
    if from >= to {
        return Err(AppError::ReplaySpan(format!(
            "--from {} is not before --to {}: give the span to replay oldest first",
            crate::format::time(from),
            crate::format::time(to)
        )));
    }
    if !(every.is_finite() && every > 0.0) {
        return Err(AppError::ReplaySpan(
            "--every must be a positive duration such as 1h".into(),
        ));
    }
    let count = ((to - from) / every).floor() + 1.0;
    if count > MAX_MOMENTS as f64 {
        return Err(AppError::ReplaySpan(format!(
            "{count:.0} moments from --from to --to every {}: at most {MAX_MOMENTS}; use a larger --every or a shorter span",
            crate::format::days_or_hours(every)
        )));
    }
    Ok(())
}

/// Refuses a replay in which no model had a single entity at any moment: the span lies
/// outside the source's data (or every read failed, which it says).
fn no_data(replayed: &[ModelReplay], span: Span) -> Result<(), AppError> {
    if replayed.iter().any(|m| !m.entities.is_empty()) {
        return Ok(());
    }
    let failure = replayed
        .iter()
        .find_map(|m| {
            m.failures
                .first()
                .map(|(_, why)| format!(" (model {}: {why})", m.model))
        })
        .unwrap_or_default();
    Err(AppError::ReplaySpan(format!(
        "no model has any data between {} and {} (nor in its history window before): check the span against the source's retention{failure}",
        crate::format::time(span.from),
        crate::format::time(span.to)
    )))
}

/// The usage, capacity and driver queries of `model` over `[start, end]`, once each.
async fn read_once(fetcher: &Fetcher<'_>, model: &CapacityModel, start: f64, end: f64) -> Result<Read, SourceError> {
    let range = |query: String| RangeQuery {
        query,
        start,
        end,
        step: model.step.as_secs_f64(),
    };
    let usage = fetcher
        .owned_history(&range(model.usage_query()), model.model_name())
        .await?
        .into_iter()
        .map(History::into_series)
        .map(sorted)
        .collect();
    // The whole span of a query, in time order.
    let read = |query: String| async move {
        Ok::<_, SourceError>(fetcher.history(&range(query)).await?.into_iter().map(sorted).collect())
    };
    let capacities = match &model.capacity {
        None => CapacityLookup::None,
        Some(Capacity::Constant(value)) => CapacityLookup::Constant(*value),
        Some(Capacity::Query(query)) => CapacityLookup::Series {
            query: query.clone(),
            series: read(query.clone()).await?,
        },
    };
    let unit_sizes = match model.member.as_ref().and_then(|m| m.unit_size_query.as_ref()) {
        None => CapacityLookup::None,
        Some(query) => CapacityLookup::Series {
            query: query.clone(),
            series: read(query.clone()).await?,
        },
    };
    let drivers = match &model.driver {
        Some(driver) => read(driver.query.clone()).await?,
        None => Vec::new(),
    };
    let capacity_ambiguous = match &model.capacity {
        Some(Capacity::Query(query)) => fetcher.ambiguous(query),
        _ => Vec::new(),
    };
    Ok(Read {
        usage,
        capacities,
        unit_sizes,
        drivers,
        usage_ambiguous: fetcher.ambiguous(&model.usage_query()),
        capacity_ambiguous,
    })
}

fn sorted(mut series: Series) -> Series {
    series.samples.sort_by(|a, b| a.timestamp.total_cmp(&b.timestamp));
    series
}

/// The part of `series` a query over `[start, end]` would have answered: the samples in the
/// range, and only the series with at least one.
fn window(series: &[Series], start: f64, end: f64) -> Vec<Series> {
    series
        .iter()
        .filter_map(|s| {
            let from = s.samples.partition_point(|x| x.timestamp < start);
            let to = s.samples.partition_point(|x| x.timestamp <= end);
            (from < to).then(|| Series {
                labels: s.labels.clone(),
                samples: s.samples[from..to].to_vec(),
            })
        })
        .collect()
}

/// Plans every moment of one model on `pool`, each from the read cut at the moment, as
/// `once --at` plans it: its window ends at the moment aligned to the step, and starts the
/// model's history before.
fn plan_moments(
    model: &CapacityModel,
    settings: &forecast::Settings,
    read: &Read,
    moments: &[f64],
    pool: &rayon::ThreadPool,
    split: bool,
) -> Vec<MomentOutcome> {
    let progress = Progress::new(&model.name, moments.len());
    let step = model.step.as_secs_f64();
    let due = accuracy::DueSnapshots::new();
    let plan_at = |now: f64| -> MomentOutcome {
        let end = (now / step).floor() * step;
        let start = end - model.history.as_secs_f64();
        let cut = |lookup: &CapacityLookup| match lookup {
            CapacityLookup::Series { query, series } => CapacityLookup::Series {
                query: query.clone(),
                series: window(series, start, end),
            },
            CapacityLookup::Constant(value) => CapacityLookup::Constant(*value),
            CapacityLookup::None => CapacityLookup::None,
        };
        let capacities = cut(&read.capacities);
        // Scenarios are left out: they add what-ifs beside the baseline, never change it.
        let context = ModelContext {
            model: model.clone(),
            settings: settings.clone(),
            scenarios: Vec::new(),
            capacities,
            unit_sizes: cut(&read.unit_sizes),
            drivers: window(&read.drivers, start, end),
            now,
            accuracy: PastAccuracy::default(),
            earlier: None,
        };
        let mut entities: Vec<EntityResult> = window(&read.usage, start, end)
            .into_par_iter()
            .map(|series| {
                let (labels, grid) = on_grid(History::Samples(series), step);
                plan::entity(&context, &due, labels, grid).result
            })
            .collect();
        mark_ambiguous_in(model, &mut entities, &read.usage_ambiguous, &read.capacity_ambiguous);
        entities.sort_by(|a, b| a.labels.cmp(&b.labels));
        refuse_answer(&entities, model, now, split).map_err(|failure| failure.to_string())?;
        Ok(entities.iter().map(|e| (e.labels.clone(), MomentPlan::of(e))).collect())
    };
    pool.install(|| {
        moments
            .par_iter()
            .map(|&now| {
                let outcome = plan_at(now);
                progress.tick();
                outcome
            })
            .collect()
    })
}

/// Logs how many moments of a model are planned, with an estimate of the time left, every
/// few seconds and at the end.
struct Progress<'a> {
    model: &'a str,
    total: usize,
    done: AtomicUsize,
    started: Instant,
    last_line: Mutex<Instant>,
}

/// Seconds between two progress lines.
const PROGRESS_EVERY_SECS: f64 = 5.0;

impl<'a> Progress<'a> {
    fn new(model: &'a str, total: usize) -> Progress<'a> {
        let now = Instant::now();
        Progress {
            model,
            total,
            done: AtomicUsize::new(0),
            started: now,
            last_line: Mutex::new(now),
        }
    }

    fn tick(&self) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        // The last moment always gets its line; others only when no other thread is writing one.
        let last = if done >= self.total {
            self.last_line.lock().ok()
        } else {
            self.last_line.try_lock().ok()
        };
        let Some(mut last) = last else {
            return;
        };
        if done < self.total && last.elapsed().as_secs_f64() < PROGRESS_EVERY_SECS {
            return;
        }
        *last = Instant::now();
        let elapsed = self.started.elapsed().as_secs_f64();
        let eta = elapsed / done as f64 * (self.total - done.min(self.total)) as f64;
        tracing::info!(
            model = %self.model,
            moments_done = done,
            moments = self.total,
            elapsed_s = (elapsed * 10.0).round() / 10.0,
            eta_s = (eta * 10.0).round() / 10.0,
            "replay progress"
        );
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::fmt::Write;

    use super::*;
    use crate::outcome::CycleOutcome;

    const HOUR: u64 = 3600;
    /// The dump's last sample; its first is 12 days earlier.
    const END: u64 = 1_799_996_400;
    const START: u64 = END - 12 * 24 * HOUR;

    const MODEL: &str = r#"
name = "disk"
usage = 'used{job="node"}'
capacity = 100
threshold = "90%"
unit = "GB"
history = "7d"
step = "1h"
horizon = "14d"
"#;

    /// A disk filling by 0.25 GB an hour with a daily wobble (it crosses 90 GB near the end),
    /// and a flat one; `extra` lines are appended (a planted sample).
    fn dump(extra: &str) -> String {
        let mut out = String::new();
        for k in 0..=(12 * 24) {
            let t = START + k * HOUR;
            let h = k as f64;
            let wobble = 2.0 * (2.0 * std::f64::consts::PI * h / 24.0).sin();
            let _ = writeln!(
                out,
                "used{{job=\"node\",host=\"fill\"}} {} {}",
                20.0 + 0.25 * h + wobble,
                t * 1000
            );
            let _ = writeln!(out, "used{{job=\"node\",host=\"flat\"}} {} {}", 40.0 + wobble, t * 1000);
        }
        out + extra
    }

    fn setup(dump_text: &str) -> (tempfile::TempDir, Config, Vec<CapacityModel>) {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("history.txt"), dump_text).expect("write dump");
        let text = "[source]\nkind = \"file\"\npath = \"history.txt\"\n";
        let config = Config::from_text("headroom.toml", text, dir.path(), &BTreeMap::new()).expect("config");
        let models = crate::config::models::load_texts(&[("disk.toml", MODEL)]).expect("model");
        (dir, config, models)
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    /// Moments every 6 hours from day 8 to day 10 (9 moments, off the hour for the first).
    fn span() -> Span {
        Span {
            from: (START + 8 * 24 * HOUR) as f64 + 600.0,
            to: (START + 10 * 24 * HOUR) as f64 + 600.0,
            every: 6.0 * HOUR as f64,
        }
    }

    fn plans_at(replay: &Replay, index: usize) -> Vec<(String, Option<MomentPlan>)> {
        replay.models[0]
            .entities
            .iter()
            .map(|e| (e.labels.to_string(), e.plans[index].clone()))
            .collect()
    }

    #[test]
    fn every_moment_is_planned_as_once_at_that_moment_would_plan_it() {
        let (_dir, config, models) = setup(&dump(""));
        let runtime = runtime();
        let replay = runtime
            .block_on(run(&config, &models, span(), Shard::default()))
            .expect("replay");
        assert_eq!(replay.moments.len(), 9);
        assert_eq!(replay.models[0].entities.len(), 2);
        for (index, &at) in replay.moments.iter().enumerate() {
            let once: CycleOutcome = runtime
                .block_on(crate::app::plan_once(&config, &models, Some(at), Shard::default()))
                .expect("once");
            let expected: Vec<(String, Option<MomentPlan>)> = once.models[0]
                .entities
                .iter()
                .map(|e| (e.labels.to_string(), Some(MomentPlan::of(e))))
                .collect();
            assert_eq!(plans_at(&replay, index), expected, "moment {at}");
        }
        let fill = &replay.models[0].entities[0];
        assert!(
            fill.plans.iter().flatten().any(|p| p.likely.is_some()),
            "the filling disk has a crossing date: {fill:?}"
        );
    }

    #[test]
    fn a_span_backwards_or_without_data_is_refused_with_a_reason() {
        let (_dir, config, models) = setup(&dump(""));
        let runtime = runtime();
        let refused = |span: Span| {
            runtime
                .block_on(run(&config, &models, span, Shard::default()))
                .expect_err("refused")
                .to_string()
        };
        let backwards = Span {
            from: span().to,
            to: span().from,
            every: 3600.0,
        };
        assert!(refused(backwards).contains("is not before --to"));
        let equal = Span {
            to: span().from,
            ..span()
        };
        assert!(refused(equal).contains("is not before --to"));
        let zero = Span { every: 0.0, ..span() };
        assert!(refused(zero).contains("--every must be a positive"));
        let dense = Span { every: 1.0, ..span() };
        assert!(refused(dense).contains("at most 100000"));
        // Years before the dump's first sample.
        let before = Span {
            from: START as f64 - 400.0 * 86_400.0,
            to: START as f64 - 300.0 * 86_400.0,
            every: 86_400.0,
        };
        let text = refused(before);
        assert!(text.contains("no model has any data between"), "{text}");
        let after = Span {
            from: END as f64 + 3600.0,
            to: END as f64 + 7200.0,
            every: 3600.0,
        };
        assert!(refused(after).contains("after the newest data"));
    }

    #[test]
    fn a_sample_right_after_a_moment_changes_nothing_at_or_before_it() {
        let (_dir, config, models) = setup(&dump(""));
        let runtime = runtime();
        let plain = runtime
            .block_on(run(&config, &models, span(), Shard::default()))
            .expect("replay");
        // One second after the fifth moment, a volume appears already past its threshold (a
        // single odd value on a known series would not do: the engine rightly shrugs off one
        // recovered glitch).
        let planted_at = plain.moments[4] as u64 + 1;
        let planted: String = (0..=6)
            .map(|h| {
                format!(
                    "used{{job=\"node\",host=\"late\"}} 99 {}\n",
                    (planted_at + h * HOUR) * 1000
                )
            })
            .collect();
        let (_dir2, config2, _) = setup(&dump(&planted));
        let with_plant = runtime
            .block_on(run(&config2, &models, span(), Shard::default()))
            .expect("replay");
        // The volume that does not exist yet is planned at no moment before it appears.
        let present = |replay, index| -> Vec<_> {
            plans_at(replay, index)
                .into_iter()
                .filter(|(_, plan)| plan.is_some())
                .collect()
        };
        for index in 0..=4 {
            assert_eq!(present(&plain, index), present(&with_plant, index), "moment {index}");
            for (a, b) in plain.models[0].entities.iter().zip(&with_plant.models[0].entities) {
                assert_eq!(a.baseline[index], b.baseline[index], "baseline at moment {index}");
            }
        }
        let late = present(&with_plant, 5)
            .into_iter()
            .find(|(labels, _)| labels.contains("late"))
            .and_then(|(_, plan)| plan)
            .expect("the volume is planned once it is in the past");
        assert!(late.exceeded_now, "{late:?}");
    }
}
