//! History for a cycle: what the state file already holds, plus what is new at the source.
//!
//! The first cycle of a query fetches its whole window; later cycles fetch only from a little
//! before the end of what is cached (the overlap re-reads samples that arrived late) and slide
//! the cached grid. On an unchanged fleet the steady-state cost on Prometheus is then
//! proportional to the new samples, not to the history window (robusta-dev/krr#83 is what
//! happens otherwise). The cache is an optimisation only: when the state file cannot be read
//! or written, the cycle fetches in full and says so in the logs and metrics.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::outcome::FetchStats;
use crate::series::{Labels, Sample, Series};
use crate::shard::Shard;
use crate::source::{Ambiguous, RangeQuery, SeriesFilter, Source, SourceError, keep_all, split_ambiguous};
use crate::store::Store;
use crate::store::history::{CachedGrid, Coverage};

/// Samples re-read before the end of the cache, at least: late scrapes and remote-write lag.
const OVERLAP_SECS: f64 = 600.0;

/// One series of history as fetched: samples from the source, or a grid from the cache (handed
/// on as it is, so a large fleet's history is not copied back into samples).
#[derive(Clone, Debug)]
pub enum History {
    Samples(Series),
    Grid(CachedGrid),
}

impl History {
    pub fn labels(&self) -> &Labels {
        match self {
            History::Samples(series) => &series.labels,
            History::Grid(grid) => &grid.labels,
        }
    }

    /// Unix seconds of its last finite sample.
    pub fn last_sample(&self) -> Option<f64> {
        match self {
            History::Samples(series) => series
                .samples
                .iter()
                .rev()
                .find(|s| s.value.is_finite())
                .map(|s| s.timestamp),
            History::Grid(grid) => grid
                .values
                .iter()
                .rposition(|v| v.is_finite())
                .map(|i| grid.start + i as f64 * grid.step),
        }
    }

    /// As samples, whatever it came as.
    pub fn into_series(self) -> Series {
        match self {
            History::Samples(series) => series,
            History::Grid(grid) => to_series(grid),
        }
    }
}

/// How much of a query's window a request covers.
#[derive(Clone, Copy)]
enum Mode {
    Full,
    Incremental,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Full => "full",
            Mode::Incremental => "incremental",
        }
    }
}

/// Fetches range queries for one cycle, through the cache when there is one.
pub struct Fetcher<'a> {
    source: &'a Source,
    cache: Option<&'a Store>,
    shard: Shard,
    stats: Mutex<FetchStats>,
    /// The source's annotation counts when this cycle began.
    annotations_before: (u64, u64),
    /// Label sets each query's answer held more than once, taken out of its result.
    ambiguous: Mutex<BTreeMap<String, Vec<Ambiguous>>>,
}

impl<'a> Fetcher<'a> {
    pub fn new(source: &'a Source, cache: Option<&'a Store>) -> Fetcher<'a> {
        Fetcher {
            source,
            cache,
            shard: Shard::default(),
            stats: Mutex::new(FetchStats::default()),
            annotations_before: source.annotations(),
            ambiguous: Mutex::new(BTreeMap::new()),
        }
    }

    /// Keeps only the series this replica owns from [`Fetcher::owned_history`].
    pub fn with_shard(mut self, shard: Shard) -> Fetcher<'a> {
        self.shard = shard;
        self
    }

    /// This replica's part of the fleet.
    pub fn shard(&self) -> Shard {
        self.shard
    }

    /// The state file holding the cache, if any.
    pub fn cache(&self) -> Option<&'a Store> {
        self.cache
    }

    /// The source queries go to.
    pub fn source(&self) -> &Source {
        self.source
    }

    /// What was fetched so far.
    pub fn stats(&self) -> FetchStats {
        let mut stats = match self.stats.lock() {
            Ok(stats) => stats.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let (warnings, infos) = self.source.annotations();
        stats.warnings = warnings.saturating_sub(self.annotations_before.0);
        stats.infos = infos.saturating_sub(self.annotations_before.1);
        stats
    }

    /// The label sets the answer to `query` held more than once in this cycle: they are not
    /// in its result (see [`Ambiguous`]).
    pub fn ambiguous(&self, query: &str) -> Vec<Ambiguous> {
        let found = match self.ambiguous.lock() {
            Ok(found) => found.get(query).cloned(),
            Err(poisoned) => poisoned.into_inner().get(query).cloned(),
        };
        found.unwrap_or_default()
    }

    fn record(&self, update: impl FnOnce(&mut FetchStats)) {
        match self.stats.lock() {
            Ok(mut stats) => update(&mut stats),
            Err(poisoned) => update(&mut poisoned.into_inner()),
        }
    }

    async fn timed(&self, query: &RangeQuery, mode: Mode, keep: &SeriesFilter) -> Result<Vec<Series>, SourceError> {
        let started = Instant::now();
        let result = self.source.query_range_keeping(query, keep).await;
        let seconds = started.elapsed().as_secs_f64();
        let samples = result
            .as_ref()
            .map(|series| series.iter().map(|s| s.samples.len() as u64).sum())
            .unwrap_or(0);
        tracing::debug!(
            query = %query.query,
            mode = mode.name(),
            samples,
            elapsed_ms = (seconds * 1000.0) as u64,
            "query answered"
        );
        self.record(|stats| {
            match mode {
                Mode::Full => stats.full_queries += 1,
                Mode::Incremental => stats.incremental_queries += 1,
            }
            stats.samples += samples;
            stats.query_seconds.push(seconds);
        });
        let (series, ambiguous) = split_ambiguous(result?);
        if !ambiguous.is_empty() {
            tracing::warn!(query = %query.query, labels = %ambiguous.iter().map(|a| a.labels.to_string()).collect::<Vec<_>>().join(" "), "the answer holds several series with the same labels; those entities are left out");
            let mut found = match self.ambiguous.lock() {
                Ok(found) => found,
                Err(poisoned) => poisoned.into_inner(),
            };
            found.entry(query.query.clone()).or_default().extend(ambiguous);
        }
        Ok(series)
    }

    /// Runs `query` (whose start and end lie on its step grid), reading from and updating the
    /// cache.
    pub async fn history(&self, query: &RangeQuery) -> Result<Vec<Series>, SourceError> {
        let history = self.history_keeping(query, keep_all()).await?;
        Ok(history.into_iter().map(History::into_series).collect())
    }

    /// [`Fetcher::history`] of a model's usage: only the series this replica owns are kept,
    /// cached and returned.
    pub async fn owned_history(&self, query: &RangeQuery, model: &str) -> Result<Vec<History>, SourceError> {
        let (shard, model) = (self.shard, model.to_string());
        self.history_keeping(query, Arc::new(move |labels| shard.owns(&model, labels)))
            .await
    }

    async fn history_keeping(&self, query: &RangeQuery, keep: SeriesFilter) -> Result<Vec<History>, SourceError> {
        let Some(store) = self.cache else {
            let series = self.timed(query, Mode::Full, &keep).await?;
            return Ok(series.into_iter().map(History::Samples).collect());
        };
        let key = format!("{}|{}", query.step, query.query);
        let reading = Instant::now();
        let cached = {
            let (store, key) = (store.clone(), key.clone());
            tokio::task::spawn_blocking(move || store.cached_history(&key)).await
        };
        tracing::debug!(elapsed_ms = reading.elapsed().as_millis() as u64, "history cache read");
        let cached = match cached {
            Ok(Ok(cached)) => cached,
            Ok(Err(error)) => {
                self.record(|s| s.cache_errors += 1);
                tracing::warn!(%error, "cannot read the history cache; fetching the whole window");
                None
            }
            Err(error) => {
                self.record(|s| s.cache_errors += 1);
                tracing::warn!(%error, "history cache task failed; fetching the whole window");
                None
            }
        };
        let (fetch_start, base) = match cached {
            Some((coverage, grids)) if covers(&coverage, query) => {
                let from = (coverage.to - OVERLAP_SECS.max(3.0 * query.step)).max(query.start);
                let aligned = query.start + ((from - query.start) / query.step).floor() * query.step;
                (aligned, grids)
            }
            _ => (query.start, Vec::new()),
        };
        let mode = if fetch_start > query.start {
            Mode::Incremental
        } else {
            Mode::Full
        };
        let fresh = self
            .timed(
                &RangeQuery {
                    start: fetch_start,
                    ..query.clone()
                },
                mode,
                &keep,
            )
            .await?;
        // An ambiguous entity is not planned from what was cached for it either.
        let ambiguous = self.ambiguous(&query.query);
        let base: Vec<CachedGrid> = base
            .into_iter()
            .filter(|g| keep(&g.labels) && !ambiguous.iter().any(|a| a.labels == g.labels))
            .collect();
        let (merged, changed) = merge(query, fetch_start, base, fresh);
        let coverage = Coverage {
            step: query.step,
            from: query.start,
            to: query.end,
        };
        // The grids go to the blocking pool and come back: no copy of a fleet's history.
        let store = store.clone();
        let saving = Instant::now();
        let saved = tokio::task::spawn_blocking(move || {
            let saved = store.save_history(&key, coverage, &merged, &changed, coverage.to);
            (saved, merged)
        })
        .await;
        tracing::debug!(elapsed_ms = saving.elapsed().as_millis() as u64, "history cache saved");
        let merged = match saved {
            Ok((Ok(()), merged)) => merged,
            Ok((Err(error), merged)) => {
                self.record(|s| s.cache_errors += 1);
                tracing::warn!(query = %query.query, %error, "cannot save the history cache; the next cycle fetches in full");
                merged
            }
            Err(error) => {
                return Err(SourceError::Setup(format!("history cache task failed: {error}")));
            }
        };
        Ok(merged.into_iter().map(History::Grid).collect())
    }
}

/// Whether the cache holds this query's window up to somewhere inside it, on the same grid.
fn covers(coverage: &Coverage, query: &RangeQuery) -> bool {
    let tolerance = query.step * 1e-6;
    (coverage.step - query.step).abs() < tolerance
        && coverage.from <= query.start + tolerance
        && coverage.to >= query.start
        && coverage.to <= query.end + tolerance
        && ((coverage.from - query.start) / query.step).fract().abs() < 1e-6
}

/// The window of `query` on its grid: cached values before `fetch_start`, fresh ones from it.
/// Each grid comes with whether it differs from the cached one (a slid window, new values, a
/// new series): only those are written back.
fn merge(
    query: &RangeQuery,
    fetch_start: f64,
    base: Vec<CachedGrid>,
    fresh: Vec<Series>,
) -> (Vec<CachedGrid>, Vec<bool>) {
    let step = query.step;
    let points = ((query.end - query.start) / step).round().max(0.0) as usize + 1;
    let index = |t: f64| -> Option<usize> {
        let i = ((t - query.start) / step).round();
        (i >= 0.0 && (i as usize) < points && (query.start + i * step - t).abs() < step / 2.0).then_some(i as usize)
    };
    let refetched = ((fetch_start - query.start) / step).round().max(0.0) as usize;
    /// A grid being merged, and the cached values of its refetched part when the rest of it
    /// is exactly as cached (same start, same length).
    struct Slot {
        values: Vec<f64>,
        cached_tail: Option<Vec<f64>>,
    }
    let mut grids: BTreeMap<Labels, Slot> = BTreeMap::new();
    for grid in base {
        let CachedGrid {
            labels,
            start,
            step: grid_step,
            mut values,
        } = grid;
        let shift = (query.start - start) / step;
        if (grid_step - step).abs() < 1e-9 * step && shift >= 0.0 && (shift - shift.round()).abs() < 1e-6 {
            // The same grid, slid forward: moved in place, no second copy of a fleet's history.
            let shift = shift.round() as usize;
            let unmoved = shift == 0 && values.len() == points;
            values.drain(..shift.min(values.len()));
            values.resize(points, f64::NAN);
            let cached_tail = unmoved.then(|| values.get(refetched..).unwrap_or_default().to_vec());
            for value in values.iter_mut().skip(refetched) {
                *value = f64::NAN;
            }
            grids.insert(labels, Slot { values, cached_tail });
            continue;
        }
        let slot = grids.entry(labels).or_insert_with(|| Slot {
            values: vec![f64::NAN; points],
            cached_tail: None,
        });
        for (i, value) in values.iter().enumerate() {
            let t = start + i as f64 * grid_step;
            if t < fetch_start - step / 2.0 {
                if let Some(at) = index(t) {
                    slot.values[at] = *value;
                }
            }
        }
    }
    for series in fresh {
        let slot = grids.entry(series.labels).or_insert_with(|| Slot {
            values: vec![f64::NAN; points],
            cached_tail: None,
        });
        for sample in series.samples {
            if let Some(at) = index(sample.timestamp) {
                slot.values[at] = sample.value;
            }
        }
    }
    grids
        .into_iter()
        .filter(|(_, slot)| slot.values.iter().any(|v| v.is_finite()))
        .map(|(labels, slot)| {
            let tail = slot.values.get(refetched..).unwrap_or_default();
            let changed = slot.cached_tail.is_none_or(|cached| {
                cached.len() != tail.len() || cached.iter().zip(tail).any(|(a, b)| a.to_bits() != b.to_bits())
            });
            let grid = CachedGrid {
                labels,
                start: query.start,
                step,
                values: slot.values,
            };
            (grid, changed)
        })
        .unzip()
}

fn to_series(grid: CachedGrid) -> Series {
    let samples = grid
        .values
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_finite())
        .map(|(i, v)| Sample {
            timestamp: grid.start + i as f64 * grid.step,
            value: *v,
        })
        .collect();
    Series {
        labels: grid.labels,
        samples,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(host: &str, points: &[(f64, f64)]) -> Series {
        Series {
            labels: Labels::new([("host", host)]),
            samples: points
                .iter()
                .map(|&(timestamp, value)| Sample { timestamp, value })
                .collect(),
        }
    }

    #[test]
    fn the_window_slides_and_fresh_samples_replace_cached_ones() {
        let query = RangeQuery {
            query: "q".into(),
            start: 200.0,
            end: 600.0,
            step: 100.0,
        };
        let base = vec![CachedGrid {
            labels: Labels::new([("host", "a")]),
            start: 100.0,
            step: 100.0,
            values: vec![1.0, 2.0, 3.0, 4.0, 5.0],
        }];
        // Cached 100..500; the overlap re-reads from 400, where a late sample changed 4 → 4.5.
        let fresh = vec![
            series("a", &[(400.0, 4.5), (500.0, 5.0), (600.0, 6.0)]),
            series("b", &[(600.0, 60.0)]),
        ];
        let (merged, changed) = merge(&query, 400.0, base, fresh);
        assert_eq!(merged.len(), 2);
        assert_eq!(changed, [true, true], "slid, and new");
        assert_eq!(merged[0].start, 200.0);
        assert_eq!(merged[0].values, vec![2.0, 3.0, 4.5, 5.0, 6.0]);
        let b = &merged[1].values;
        assert!(b[..4].iter().all(|v| v.is_nan()) && b[4] == 60.0);
        let rebuilt = to_series(merged[1].clone());
        assert_eq!(rebuilt.samples.len(), 1);
    }

    #[test]
    fn a_series_silent_in_the_refetched_part_keeps_only_its_older_samples() {
        let query = RangeQuery {
            query: "q".into(),
            start: 0.0,
            end: 300.0,
            step: 100.0,
        };
        let base = vec![CachedGrid {
            labels: Labels::new([("host", "gone")]),
            start: 0.0,
            step: 100.0,
            values: vec![1.0, 2.0, 3.0],
        }];
        let (merged, changed) = merge(&query, 200.0, base, Vec::new());
        assert_eq!(merged[0].values[..2], [1.0, 2.0]);
        assert!(merged[0].values[2].is_nan() && merged[0].values[3].is_nan());
        assert_eq!(changed, [true]);
    }

    #[test]
    fn only_grids_that_differ_from_the_cache_are_marked_for_writing() {
        let query = RangeQuery {
            query: "q".into(),
            start: 0.0,
            end: 300.0,
            step: 100.0,
        };
        let cached = |host: &str, last: f64| CachedGrid {
            labels: Labels::new([("host", host)]),
            start: 0.0,
            step: 100.0,
            values: vec![1.0, 2.0, f64::NAN, last],
        };
        // The same window re-read from 200: `same` answers what is cached (a gap included),
        // `late` has a sample that arrived late, `gone` has been dropped from the window.
        let base = vec![cached("gone", 4.0), cached("late", 4.0), cached("same", 4.0)];
        let fresh = vec![
            series("late", &[(200.0, 3.0), (300.0, 4.0)]),
            series("same", &[(300.0, 4.0)]),
        ];
        let (merged, changed) = merge(&query, 200.0, base, fresh);
        let hosts: Vec<_> = merged.iter().map(|g| g.labels.get("host").unwrap_or("")).collect();
        assert_eq!(hosts, ["gone", "late", "same"]);
        assert_eq!(changed, [true, true, false]);
    }

    #[test]
    fn coverage_on_another_grid_or_window_is_not_reused() {
        let query = RangeQuery {
            query: "q".into(),
            start: 1000.0,
            end: 2000.0,
            step: 100.0,
        };
        let covering = Coverage {
            step: 100.0,
            from: 900.0,
            to: 1900.0,
        };
        assert!(covers(&covering, &query));
        assert!(!covers(&Coverage { step: 60.0, ..covering }, &query));
        assert!(
            !covers(
                &Coverage {
                    from: 1100.0,
                    ..covering
                },
                &query
            ),
            "history grew"
        );
        assert!(!covers(&Coverage { to: 900.0, ..covering }, &query), "too old to slide");
        assert!(
            !covers(
                &Coverage {
                    from: 950.0,
                    ..covering
                },
                &query
            ),
            "off the grid"
        );
    }
}
