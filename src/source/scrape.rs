//! A source for small sites with no Prometheus: Headroom scrapes exporters' `/metrics` itself
//! on an interval, keeps the samples in its state file, and answers models' queries from them.
//!
//! Like the file source it evaluates plain series selectors only (`metric{label="value"}`):
//! a site without Prometheus has no query engine, and the error says so when a model asks for
//! more. Each sample gets `job` and `instance` labels as a Prometheus scrape would. The text
//! format is parsed by `prometheus-parse`; counters, gauges and untyped samples are kept
//! (histogram buckets and summary quantiles are not capacity measures and are skipped; their
//! `_sum` and `_count` series are kept).

use std::sync::Arc;
use std::time::Duration;

use super::selector::Selector;
use super::{RangeQuery, SourceError};
use crate::config::{ScrapeConfig, ScrapeTarget};
use crate::series::{Labels, Sample, Series};
use crate::store::Store;
use crate::store::scraped::ScrapedSample;

/// What one round of scrapes did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Round {
    pub succeeded: u32,
    pub failed: u32,
    pub samples: u64,
}

/// The scrape source; cheap to clone (the scraping task holds a clone).
#[derive(Clone, Debug)]
pub struct ScrapeSource {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    client: reqwest::Client,
    config: ScrapeConfig,
}

/// The largest exposition read from one target (Prometheus' own `body_size_limit` is off by
/// default; a node exporter answers a few hundred KB).
const MAX_EXPOSITION_BYTES: usize = 64 << 20;

impl ScrapeSource {
    /// Opens the state file the samples go to and builds the HTTP client.
    pub fn new(config: &ScrapeConfig) -> Result<ScrapeSource, SourceError> {
        crate::net::install_crypto_provider();
        let store = Store::open(&config.state_path).map_err(|e| SourceError::Setup(e.to_string()))?;
        let client = reqwest::Client::builder()
            .timeout(config.timeout.as_std())
            .user_agent(concat!("headroom/", env!("CARGO_PKG_VERSION")))
            .redirect(crate::net::same_origin_redirects())
            .referer(false)
            .build()
            .map_err(|e| SourceError::Setup(e.to_string()))?;
        Ok(ScrapeSource {
            inner: Arc::new(Inner {
                store,
                client,
                config: config.clone(),
            }),
        })
    }

    /// A name for logs and metrics.
    pub fn describe(&self) -> String {
        format!("scrape of {} target(s)", self.inner.config.targets.len())
    }

    /// The scrape interval.
    pub fn interval(&self) -> Duration {
        self.inner.config.interval.as_std()
    }

    /// Scrapes every target once at `now` and stores what it read; failures are logged and
    /// counted, never fatal.
    pub async fn scrape_all(&self, now: f64) -> Round {
        let mut round = Round::default();
        let mut samples: Vec<ScrapedSample> = Vec::new();
        for target in &self.inner.config.targets {
            match self.scrape(target, now).await {
                Ok(mut read) => {
                    round.succeeded += 1;
                    round.samples += read.len() as u64;
                    samples.append(&mut read);
                }
                Err(error) => {
                    round.failed += 1;
                    tracing::warn!(target = %crate::net::url_for_logs(&target.url), %error, "scrape failed");
                }
            }
        }
        let store = self.inner.store.clone();
        let retention = self.inner.config.retention.as_secs_f64();
        let saved = tokio::task::spawn_blocking(move || {
            store.insert_scraped(&samples)?;
            store.prune_scraped(now - retention)
        })
        .await;
        if !matches!(saved, Ok(Ok(_))) {
            tracing::error!("cannot store scraped samples; they are lost for this round");
        }
        round
    }

    async fn scrape(&self, target: &ScrapeTarget, now: f64) -> Result<Vec<ScrapedSample>, String> {
        let mut response = self
            .inner
            .client
            .get(target.url.clone())
            .header(reqwest::header::ACCEPT, "text/plain;version=0.0.4")
            .send()
            .await
            .map_err(|e| crate::net::error_chain(&e.without_url()))?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status()));
        }
        // An exporter that never stops writing must not take the daemon's memory.
        let too_large = || {
            format!(
                "the exposition is larger than {} MiB; scrape a smaller exporter or filter it",
                MAX_EXPOSITION_BYTES >> 20
            )
        };
        if response
            .content_length()
            .is_some_and(|n| n > MAX_EXPOSITION_BYTES as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| crate::net::error_chain(&e.without_url()))?
        {
            if body.len() + chunk.len() > MAX_EXPOSITION_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        let text = String::from_utf8(body).map_err(|_| "the exposition is not UTF-8 text".to_string())?;
        Ok(parse_exposition(&text, target, now))
    }

    /// Scrapes every `interval` until `stop`, reporting each round to `record`.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>, record: impl Fn(Round) + Send + 'static) {
        loop {
            let round = self.scrape_all(crate::clock::unix_now()).await;
            record(round);
            tokio::select! {
                _ = tokio::time::sleep(self.interval()) => {}
                _ = stop.wait_for(|stop| *stop) => return,
            }
        }
    }

    /// Answers a range query whose PromQL is a plain selector, from the stored samples.
    pub async fn query_range(&self, query: &RangeQuery) -> Result<Vec<Series>, SourceError> {
        let selector = Selector::parse(&query.query).map_err(|message| SourceError::File {
            origin: self.describe(),
            message: message.to_string(),
        })?;
        let store = self.inner.store.clone();
        let (name, start, end) = (selector.name.clone(), query.start, query.end);
        let rows = tokio::task::spawn_blocking(move || store.scraped_range(name.as_deref(), start, end))
            .await
            .map_err(|e| SourceError::Setup(e.to_string()))?
            .map_err(|e| SourceError::File {
                origin: self.describe(),
                message: e.to_string(),
            })?;
        // Rows come ordered by series: group them, keep the groups the selector matches.
        let mut out: Vec<Series> = Vec::new();
        let mut group: Option<(String, String, Vec<Sample>)> = None;
        let flush = |group: Option<(String, String, Vec<Sample>)>, out: &mut Vec<Series>| {
            if let Some((name, json, samples)) = group {
                let map: std::collections::BTreeMap<String, String> = serde_json::from_str(&json).unwrap_or_default();
                let labels = Labels::new(map);
                if selector.matches(&name, &labels) {
                    out.push(Series { labels, samples });
                }
            }
        };
        for (name, json, timestamp, value) in rows {
            if group.as_ref().is_none_or(|(n, j, _)| *n != name || *j != json) {
                flush(group.take(), &mut out);
                group = Some((name, json, Vec::new()));
            }
            if let Some((_, _, samples)) = group.as_mut() {
                samples.push(Sample { timestamp, value });
            }
        }
        flush(group.take(), &mut out);
        out.retain(|s| !s.samples.is_empty());
        Ok(out)
    }
}

/// The samples of one scrape in the text format, with `job` and `instance` added.
pub fn parse_exposition(text: &str, target: &ScrapeTarget, now: f64) -> Vec<ScrapedSample> {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let Ok(scrape) = prometheus_parse::Scrape::parse(lines) else {
        return Vec::new();
    };
    let instance = target.instance.clone();
    scrape
        .samples
        .into_iter()
        .filter_map(|sample| {
            let value = match sample.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => return None,
            };
            let mut labels: std::collections::BTreeMap<String, String> =
                sample.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            labels.entry("job".into()).or_insert_with(|| target.job.clone());
            labels.entry("instance".into()).or_insert_with(|| instance.clone());
            let labels = serde_json::to_string(&labels).ok()?;
            Some((sample.metric, labels, now, value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauges_and_counters_are_kept_with_job_and_instance() {
        let target = ScrapeTarget {
            url: "http://127.0.0.1:9100/metrics".parse().expect("url"),
            job: "node".into(),
            instance: "127.0.0.1:9100".into(),
        };
        let text = "# TYPE disk_used_bytes gauge\ndisk_used_bytes{mountpoint=\"/\"} 42\n\
                    # TYPE requests_total counter\nrequests_total 7\n\
                    # TYPE latency histogram\nlatency_bucket{le=\"1\"} 1\nlatency_bucket{le=\"+Inf\"} 2\nlatency_sum 1\nlatency_count 2\n";
        let samples = parse_exposition(text, &target, 100.0);
        let names: Vec<&str> = samples.iter().map(|s| s.0.as_str()).collect();
        assert!(names.contains(&"disk_used_bytes"), "{names:?}");
        // Histogram buckets are not capacity measures; their _sum and _count come through as
        // plain series, as Prometheus would store them.
        assert!(
            !names.iter().any(|n| n.starts_with("latency_bucket") || *n == "latency"),
            "{names:?}"
        );
        let disk = samples.iter().find(|s| s.0 == "disk_used_bytes").expect("disk");
        assert_eq!(disk.1, r#"{"instance":"127.0.0.1:9100","job":"node","mountpoint":"/"}"#);
        assert_eq!((disk.2, disk.3), (100.0, 42.0));
    }
}
