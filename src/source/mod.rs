//! Where history comes from: anything that answers a PromQL range query.
//!
//! [`Source`] is a closed enum rather than a trait object: there are three kinds (the
//! Prometheus HTTP API, a dump file, exporters scraped by Headroom itself), all known here, and
//! an enum keeps `async fn` simple. All return [`Series`] keyed by labels without `__name__`
//! (VictoriaMetrics keeps the name after functions, Prometheus drops it). [`cache`] puts the
//! state file in front of any of them.

pub mod cache;
pub mod file;
pub mod prometheus;
pub mod response;
pub mod scrape;
pub mod selector;

use std::sync::Arc;

use crate::config::SourceConfig;
use crate::series::{Labels, Series};

/// Which series of an answer to keep, decided from their labels as the answer is read. Shared
/// and `'static` so the parser can run on the blocking pool.
pub type SeriesFilter = Arc<dyn Fn(&Labels) -> bool + Send + Sync>;

/// A [`SeriesFilter`] keeping every series.
pub fn keep_all() -> SeriesFilter {
    Arc::new(|_| true)
}

/// A label set an answer held more than once. Entities are keyed by their labels without
/// `__name__`, so series that differ only in their metric name (a selector matching several
/// metrics, VictoriaMetrics keeping the name after a function) are one entity with two
/// histories: which one is the entity's is not knowable, and merging them would report one
/// of them (say the one at 10 % while the other is at 95 %) as if it were the whole truth.
#[derive(Clone, Debug, PartialEq)]
pub struct Ambiguous {
    pub labels: Labels,
    /// How many series carried these labels.
    pub copies: usize,
}

impl Ambiguous {
    /// Why the entity with these labels has no result, for its `reason`.
    pub fn reason(&self, query: &str) -> String {
        format!(
            "the query `{query}` returned {} series with the labels {} (at most their metric name, __name__, tells them apart), so the entity's value is ambiguous; make the query return one series per entity (aggregate them, e.g. max by (...) (...), or select one metric)",
            self.copies, self.labels
        )
    }
}

/// Takes out of `series` every label set held more than once (sources never merge them): the
/// series left, and the label sets taken out with how many copies each had.
pub fn split_ambiguous(series: Vec<Series>) -> (Vec<Series>, Vec<Ambiguous>) {
    let mut counts: std::collections::BTreeMap<Labels, usize> = std::collections::BTreeMap::new();
    for one in &series {
        *counts.entry(one.labels.clone()).or_default() += 1;
    }
    let ambiguous: Vec<Ambiguous> = counts
        .into_iter()
        .filter(|(_, copies)| *copies > 1)
        .map(|(labels, copies)| Ambiguous { labels, copies })
        .collect();
    if ambiguous.is_empty() {
        return (series, ambiguous);
    }
    let kept = series
        .into_iter()
        .filter(|one| !ambiguous.iter().any(|a| a.labels == one.labels))
        .collect();
    (kept, ambiguous)
}

/// A range query: PromQL, and the time range and resolution in Unix seconds.
#[derive(Clone, Debug, PartialEq)]
pub struct RangeQuery {
    pub query: String,
    pub start: f64,
    pub end: f64,
    pub step: f64,
}

/// Why a query failed. Every variant names the query and, for HTTP sources, the URL.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot reach {url} for query `{query}`: {reason}")]
    Unreachable { url: String, query: String, reason: String },
    #[error("{url} answered HTTP {status} to query `{query}`: {message}")]
    Http {
        url: String,
        query: String,
        status: u16,
        message: String,
        /// How long the server asked to wait (`Retry-After`), if it said.
        retry_after: Option<std::time::Duration>,
    },
    #[error("{url} rejected query `{query}`: {error_type}: {message}")]
    Query {
        url: String,
        query: String,
        error_type: String,
        message: String,
    },
    #[error("unreadable answer from {url} to query `{query}`: {reason}")]
    Malformed { url: String, query: String, reason: String },
    /// The query layer answered with only part of the data (a store or storage node it could
    /// not reach) although a complete answer was asked for; planning on it would hide what
    /// lives on the missing part.
    #[error(
        "{url} answered query `{query}` only in part: {reason}; a partial answer is not planned \
         (the missing part may hold the resources at risk)"
    )]
    Partial { url: String, query: String, reason: String },
    #[error("{origin}: {message}")]
    File { origin: String, message: String },
    #[error("cannot set up the source: {0}")]
    Setup(String),
}

impl SourceError {
    /// A short stable kind for metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            SourceError::Unreachable { .. } => "unreachable",
            SourceError::Http { .. } => "http",
            SourceError::Query { .. } => "query",
            SourceError::Malformed { .. } => "malformed",
            SourceError::Partial { .. } => "partial",
            SourceError::File { .. } => "file",
            SourceError::Setup(_) => "setup",
        }
    }

    /// Whether the source itself is down (as opposed to one query being wrong): unreachable,
    /// unreadable, or answering with a status that says "not now" (5xx, 429, 408), whatever
    /// the body says.
    pub fn source_down(&self) -> bool {
        match self {
            SourceError::Unreachable { .. } | SourceError::Malformed { .. } => true,
            SourceError::Http { status, .. } => transient_status(*status) || refused_credentials(*status),
            _ => false,
        }
    }
}

/// Whether an HTTP status says the source refused Headroom's credentials (401, 403): the
/// source is unusable until they are fixed, whatever the query.
pub fn refused_credentials(status: u16) -> bool {
    status == 401 || status == 403
}

/// Whether an HTTP status means "try again later": the server, a gateway or a rate limiter
/// speaks for the moment, not about the query (5xx, 429 Too Many Requests, 408).
pub fn transient_status(status: u16) -> bool {
    status >= 500 || status == 429 || status == 408
}

/// A configured history source.
#[derive(Debug)]
pub enum Source {
    Prometheus(prometheus::PrometheusSource),
    File(file::FileSource),
    Scrape(scrape::ScrapeSource),
}

impl Source {
    /// Builds the source from its config (reads the whole file for a file source).
    pub fn from_config(config: &SourceConfig) -> Result<Source, SourceError> {
        match config {
            SourceConfig::Prometheus(c) => Ok(Source::Prometheus(prometheus::PrometheusSource::new(c)?)),
            SourceConfig::File { path } => Ok(Source::File(file::FileSource::from_path(path)?)),
            SourceConfig::Scrape(c) => Ok(Source::Scrape(scrape::ScrapeSource::new(c)?)),
        }
    }

    /// Warning and informational annotations the source's answers carried so far.
    pub fn annotations(&self) -> (u64, u64) {
        match self {
            Source::Prometheus(source) => source.annotations(),
            Source::File(_) | Source::Scrape(_) => (0, 0),
        }
    }

    /// Runs a range query.
    pub async fn query_range(&self, query: &RangeQuery) -> Result<Vec<Series>, SourceError> {
        self.query_range_keeping(query, &keep_all()).await
    }

    /// Runs a range query, keeping only the series `keep` accepts (as early as the source can).
    /// Series whose labels (without `__name__`) are the same are returned as they came, one
    /// each: see [`split_ambiguous`].
    pub async fn query_range_keeping(
        &self,
        query: &RangeQuery,
        keep: &SeriesFilter,
    ) -> Result<Vec<Series>, SourceError> {
        match self {
            Source::Prometheus(source) => source.query_range_keeping(query, keep).await,
            Source::File(source) => {
                let mut series = source.query_range(query)?;
                series.retain(|s| keep(&s.labels));
                Ok(series)
            }
            Source::Scrape(source) => {
                let mut series = source.query_range(query).await?;
                series.retain(|s| keep(&s.labels));
                Ok(series)
            }
        }
    }

    /// A name for logs and metrics (the URL or the file path).
    pub fn describe(&self) -> String {
        match self {
            Source::Prometheus(source) => source.url().to_string(),
            Source::File(source) => source.origin().to_string(),
            Source::Scrape(source) => source.describe(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::Sample;

    fn series(instance: &str, value: f64) -> Series {
        Series {
            labels: Labels::new([("__name__", "x"), ("instance", instance)]),
            samples: vec![Sample { timestamp: 1.0, value }],
        }
    }

    #[test]
    fn label_sets_held_twice_are_taken_out_and_named() {
        let (kept, ambiguous) = split_ambiguous(vec![series("a", 10.0), series("b", 1.0), series("a", 95.0)]);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].labels.get("instance"), Some("b"));
        assert_eq!(
            ambiguous,
            [Ambiguous {
                labels: Labels::new([("instance", "a")]),
                copies: 2
            }]
        );
        let reason = ambiguous[0].reason("up");
        assert!(
            reason.contains("`up` returned 2 series with the labels {instance=\"a\"}"),
            "{reason}"
        );
        let (kept, ambiguous) = split_ambiguous(vec![series("a", 1.0), series("b", 2.0)]);
        assert_eq!((kept.len(), ambiguous.len()), (2, 0));
    }
}
