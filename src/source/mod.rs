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

    /// Whether the source itself is down (as opposed to one query being wrong).
    pub fn source_down(&self) -> bool {
        match self {
            SourceError::Unreachable { .. } | SourceError::Malformed { .. } => true,
            SourceError::Http { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
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
