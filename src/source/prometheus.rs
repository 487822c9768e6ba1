//! The Prometheus HTTP API client (`/api/v1/query_range`), for Prometheus and everything that
//! speaks its API: VictoriaMetrics, Thanos Query, Mimir, Cortex.
//!
//! Long ranges are split so no request asks for more than `max_points_per_request` points per
//! series (Prometheus refuses more than 11,000), and the pieces are stitched back by label set.
//! Failures are judged by HTTP status first: transient ones (connection refused, 5xx, 429, 408,
//! whatever JSON error comes with them) are retried with jittered exponential backoff, as long
//! as `Retry-After` asks; a query the source refuses with a 4xx is not. Successful answers are parsed as they stream in
//! ([`super::response`]), on the blocking pool, so a replica never holds a whole answer.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};

use super::response::{self, Keep};
use super::{RangeQuery, SeriesFilter, SourceError};
use crate::config::{Auth, PrometheusConfig};
use crate::series::{Labels, Sample, Series};

/// Attempts per request for transient failures.
const ATTEMPTS: u32 = 3;
/// First retry delay; doubles each time, with up to 50 % jitter.
const FIRST_BACKOFF: Duration = Duration::from_millis(400);

/// A client for one Prometheus-compatible endpoint.
#[derive(Debug)]
pub struct PrometheusSource {
    client: reqwest::Client,
    url: reqwest::Url,
    max_points: usize,
    /// At most this many requests in flight (protects the source).
    in_flight: tokio::sync::Semaphore,
    /// Earliest start of the next request, spacing requests to the configured rate.
    next_slot: tokio::sync::Mutex<tokio::time::Instant>,
    min_spacing: Duration,
    /// Warning and informational annotations received so far (for self-metrics).
    annotations: Annotations,
}

/// Counts of the annotations answers carried, since the source was built.
#[derive(Debug, Default)]
pub struct Annotations {
    pub warnings: std::sync::atomic::AtomicU64,
    pub infos: std::sync::atomic::AtomicU64,
}

impl PrometheusSource {
    /// Builds the HTTP client: timeouts, auth, extra headers, TLS roots.
    pub fn new(config: &PrometheusConfig) -> Result<PrometheusSource, SourceError> {
        crate::net::install_crypto_provider();
        if crate::config::has_credentials(&config.url) {
            // Refused by the config check too; never carried into logs and outputs.
            return Err(SourceError::Setup(
                "source.url carries credentials; use username and password_file, or bearer_token_file".into(),
            ));
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &config.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| SourceError::Setup(format!("header name {name:?}: {e}")))?;
            let value =
                HeaderValue::from_str(value).map_err(|e| SourceError::Setup(format!("header {name} value: {e}")))?;
            headers.insert(name, value);
        }
        match &config.auth {
            Auth::None => {}
            Auth::Bearer(token) => {
                let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
                    SourceError::Setup("the bearer token has characters not allowed in an HTTP header".into())
                })?;
                value.set_sensitive(true);
                headers.insert(AUTHORIZATION, value);
            }
            Auth::Basic { username, password } => {
                let encoded = base64_encode(format!("{username}:{}", password.expose()).as_bytes());
                let mut value = HeaderValue::from_str(&format!("Basic {encoded}")).map_err(|_| {
                    SourceError::Setup(
                        "the basic auth credentials have characters not allowed in an HTTP header".into(),
                    )
                })?;
                value.set_sensitive(true);
                headers.insert(AUTHORIZATION, value);
            }
        }
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout.as_std())
            .connect_timeout(config.timeout.as_std().min(Duration::from_secs(10)))
            .default_headers(headers)
            .user_agent(concat!("headroom/", env!("CARGO_PKG_VERSION")))
            .redirect(crate::net::same_origin_redirects())
            .referer(false);
        if let Some(ca_file) = &config.ca_file {
            let pem = std::fs::read(ca_file)
                .map_err(|e| SourceError::Setup(format!("cannot read ca_file {}: {e}", ca_file.display())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| SourceError::Setup(format!("ca_file {}: {e}", ca_file.display())))?;
            builder = builder.tls_certs_merge(certs);
        }
        if config.insecure_skip_verify {
            tracing::warn!(url = %config.url, "TLS certificate verification is disabled for the source (insecure_skip_verify)");
            builder = builder.danger_accept_invalid_certs(true);
        }
        let client = builder.build().map_err(|e| SourceError::Setup(e.to_string()))?;
        let mut url = config.url.clone();
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        Ok(PrometheusSource {
            client,
            url,
            max_points: config.max_points_per_request,
            in_flight: tokio::sync::Semaphore::new(config.max_concurrent_requests.max(1)),
            next_slot: tokio::sync::Mutex::new(tokio::time::Instant::now()),
            min_spacing: if config.max_requests_per_second > 0.0 {
                Duration::from_secs_f64(1.0 / config.max_requests_per_second)
            } else {
                Duration::ZERO
            },
            annotations: Annotations::default(),
        })
    }

    /// Warning and informational annotations received so far: (warnings, infos).
    pub fn annotations(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.annotations.warnings.load(Relaxed),
            self.annotations.infos.load(Relaxed),
        )
    }

    /// Logs and counts what an answer says of itself.
    fn note(&self, query: &str, answer: &response::Answer) {
        use std::sync::atomic::Ordering::Relaxed;
        let (warnings, infos) = answer.annotations();
        for warning in warnings {
            tracing::warn!(query, warning = %warning, "the query layer warned about its answer");
        }
        for info in infos {
            tracing::debug!(query, info = %info, "informational annotation");
        }
        self.annotations.warnings.fetch_add(warnings.len() as u64, Relaxed);
        self.annotations.infos.fetch_add(infos.len() as u64, Relaxed);
    }

    /// Waits until the request rate allows one more request.
    async fn wait_for_slot(&self) {
        if self.min_spacing.is_zero() {
            return;
        }
        let start = {
            let mut next = self.next_slot.lock().await;
            let now = tokio::time::Instant::now();
            let start = (*next).max(now);
            *next = start + self.min_spacing;
            start
        };
        tokio::time::sleep_until(start).await;
    }

    /// The base URL (never contains credentials: those live in headers).
    pub fn url(&self) -> &reqwest::Url {
        &self.url
    }

    /// Runs a range query, split into requests of at most `max_points` points per series.
    pub async fn query_range(&self, query: &RangeQuery) -> Result<Vec<Series>, SourceError> {
        self.query_range_keeping(query, &super::keep_all()).await
    }

    /// [`PrometheusSource::query_range`] keeping only the series `keep` accepts, dropped as
    /// each request's answer arrives: with a small `max_points_per_request`, a replica that
    /// plans a quarter of a large fleet holds a quarter of its samples, not all of them.
    pub async fn query_range_keeping(
        &self,
        query: &RangeQuery,
        keep: &SeriesFilter,
    ) -> Result<Vec<Series>, SourceError> {
        // Keyed by labels and by which copy of them in an answer: series that differ only in
        // their metric name are stitched copy by copy (the server sends them in the same
        // order in each answer) and handed on apart, never merged into one.
        let mut merged: BTreeMap<(Labels, usize), Vec<Sample>> = BTreeMap::new();
        let span_per_request = (self.max_points.saturating_sub(1)) as f64 * query.step;
        let mut chunk_start = query.start;
        while chunk_start <= query.end {
            let chunk_end = (chunk_start + span_per_request).min(query.end);
            // Sized once for the whole range: growing by doubling would hold up to twice the
            // samples of a large fleet.
            let points = ((query.end - query.start) / query.step).round().max(0.0) as usize + 1;
            let mut copies: BTreeMap<Labels, usize> = BTreeMap::new();
            for series in self.request(query, chunk_start, chunk_end, keep).await? {
                let copy = copies.entry(series.labels.clone()).or_default();
                merged
                    .entry((series.labels, *copy))
                    .or_insert_with(|| Vec::with_capacity(points))
                    .extend(series.samples);
                *copy += 1;
            }
            chunk_start = chunk_end + query.step;
        }
        Ok(merged
            .into_iter()
            .map(|((labels, _), mut samples)| {
                samples.sort_by(|a, b| a.timestamp.total_cmp(&b.timestamp));
                samples.dedup_by(|a, b| a.timestamp == b.timestamp);
                Series { labels, samples }
            })
            .collect())
    }

    async fn request(
        &self,
        query: &RangeQuery,
        start: f64,
        end: f64,
        keep: &SeriesFilter,
    ) -> Result<Vec<Series>, SourceError> {
        let mut url = self
            .url
            .join("api/v1/query_range")
            .map_err(|e| SourceError::Setup(e.to_string()))?;
        url.query_pairs_mut()
            .append_pair("query", &query.query)
            .append_pair("start", &format_time(start))
            .append_pair("end", &format_time(end))
            .append_pair("step", &format_time(query.step))
            // Complete answers or an error, from the query layers that can answer in part:
            // Thanos (`partial_response`) and VictoriaMetrics cluster (`deny_partial_response`).
            // Prometheus, Mimir and the rest ignore the parameters they do not know.
            .append_pair("partial_response", "false")
            .append_pair("deny_partial_response", "1");
        let mut attempt = 0;
        loop {
            attempt += 1;
            let permit = self.in_flight.acquire().await;
            self.wait_for_slot().await;
            let result = self.request_once(&url, query, keep).await;
            drop(permit);
            match result {
                Err(error) if attempt < ATTEMPTS => match retry_delay(&error, attempt) {
                    Some(delay) => {
                        tracing::debug!(%error, attempt, delay_ms = delay.as_millis() as u64, "retrying query");
                        tokio::time::sleep(delay).await;
                    }
                    None => return Err(error),
                },
                other => return other,
            }
        }
    }

    async fn request_once(
        &self,
        url: &reqwest::Url,
        query: &RangeQuery,
        keep: &SeriesFilter,
    ) -> Result<Vec<Series>, SourceError> {
        let base = self.url.to_string();
        let unreachable = |reason: String| SourceError::Unreachable {
            url: base.clone(),
            query: query.query.clone(),
            reason,
        };
        let mut response = self
            .client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| unreachable(crate::net::error_chain(&e)))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| crate::net::retry_after(value, crate::clock::unix_now()));
        if !(200..300).contains(&status) {
            // An error answer is read whole up to a bound: a server's JSON error is small, and
            // a proxy's page (not JSON) is only quoted.
            let mut body = Vec::new();
            while body.len() < ERROR_BODY_LIMIT {
                match response.chunk().await {
                    Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                    Ok(None) => break,
                    Err(e) => {
                        return Err(unreachable(format!(
                            "reading the response: {}",
                            crate::net::error_chain(&e)
                        )));
                    }
                }
            }
            return Err(error_answer(&base, &query.query, status, retry_after, &body));
        }
        // The body goes to a parser on the blocking pool chunk by chunk; a full channel holds
        // the download back, and a parser that gave up stops it.
        let (chunks, receiver) = tokio::sync::mpsc::channel(CHUNKS_IN_FLIGHT);
        let parser = {
            let keep = keep.clone();
            tokio::task::spawn_blocking(move || response::read(ChunkReader::new(receiver), &*keep))
        };
        let mut read_error = None;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if chunks.send(Ok(chunk)).await.is_err() {
                        break;
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    let reason = format!("reading the response: {}", crate::net::error_chain(&error));
                    let _ = chunks.send(Err(reason.clone())).await;
                    read_error = Some(reason);
                    break;
                }
            }
        }
        drop(chunks);
        let parsed = parser
            .await
            .map_err(|e| SourceError::Setup(format!("response parser task failed: {e}")))?;
        if let Some(reason) = read_error {
            return Err(unreachable(reason));
        }
        match parsed {
            Ok(answer) => {
                self.note(&query.query, &answer);
                answer.into_series(&base, &query.query, status)
            }
            Err(error) => Err(SourceError::Malformed {
                url: base,
                query: query.query.clone(),
                reason: format!("not Prometheus API JSON: {error}"),
            }),
        }
    }
}

/// How much of an error answer is read.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// Chunks of a body in flight from the download to the parser.
const CHUNKS_IN_FLIGHT: usize = 16;

/// A blocking reader over the chunks of a body as the download hands them over.
struct ChunkReader {
    receiver: tokio::sync::mpsc::Receiver<Result<bytes::Bytes, String>>,
    current: bytes::Bytes,
    position: usize,
}

impl ChunkReader {
    /// Buffered: serde_json reads byte by byte, and `BufReader` serves those from its buffer.
    fn new(receiver: tokio::sync::mpsc::Receiver<Result<bytes::Bytes, String>>) -> std::io::BufReader<ChunkReader> {
        let reader = ChunkReader {
            receiver,
            current: bytes::Bytes::new(),
            position: 0,
        };
        std::io::BufReader::with_capacity(64 * 1024, reader)
    }
}

impl std::io::Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.position >= self.current.len() {
            match self.receiver.blocking_recv() {
                Some(Ok(chunk)) => {
                    self.current = chunk;
                    self.position = 0;
                }
                Some(Err(reason)) => return Err(std::io::Error::other(reason)),
                None => return Ok(0),
            }
        }
        let available = &self.current[self.position..];
        let n = buf.len().min(available.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.position += n;
        Ok(n)
    }
}

/// Parses a query_range response body (any status) into series or the server's error.
pub fn parse_response(url: &str, query: &str, status: u16, body: &[u8]) -> Result<Vec<Series>, SourceError> {
    parse_response_keeping(url, query, status, body, &|_| true)
}

/// [`parse_response`], building samples only for the series `keep` accepts.
pub fn parse_response_keeping(
    url: &str,
    query: &str,
    status: u16,
    body: &[u8],
    keep: Keep<'_>,
) -> Result<Vec<Series>, SourceError> {
    if !(200..300).contains(&status) {
        return Err(error_answer(url, query, status, None, body));
    }
    match response::from_slice(body, keep) {
        Ok(answer) => answer.into_series(url, query, status),
        Err(error) => Err(SourceError::Malformed {
            url: url.into(),
            query: query.into(),
            reason: format!("not Prometheus API JSON: {error}"),
        }),
    }
}

/// What a non-2xx answer means, judged by its status first: 5xx, 429 and 408 say the source
/// cannot answer now (Prometheus' query timeout, a Thanos store or Mimir ingester that is
/// unavailable, a tenant's rate limit), so the query is retried and the source counted down,
/// whatever the body; 401 and 403 say the credentials were refused (an expired token), which
/// no query can fix, so the source counts down too, without retries; another 4xx is about the
/// query. The body, the API's JSON error
/// (`errorType: error`) or a proxy's text, only supplies the message.
fn error_answer(url: &str, query: &str, status: u16, retry_after: Option<Duration>, body: &[u8]) -> SourceError {
    let api_error = response::from_slice(body, &|_| false)
        .ok()
        .and_then(|answer| answer.into_series(url, query, status).err());
    match api_error {
        Some(SourceError::Query {
            error_type, message, ..
        }) if !super::transient_status(status) && !super::refused_credentials(status) => SourceError::Query {
            url: url.into(),
            query: query.into(),
            error_type,
            message,
        },
        Some(SourceError::Query {
            error_type, message, ..
        }) => SourceError::Http {
            url: url.into(),
            query: query.into(),
            status,
            message: format!("{error_type}: {message}"),
            retry_after,
        },
        _ => SourceError::Http {
            url: url.into(),
            query: query.into(),
            status,
            message: String::from_utf8_lossy(&body[..body.len().min(300)]).trim().to_string(),
            retry_after,
        },
    }
}

/// The longest `Retry-After` waited for within a cycle; a source asking for more is counted
/// down now and tried again by the daemon's own backoff.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// How long to wait before attempt `attempt + 1` after `error`, or `None` when retrying is
/// pointless (the query's own fault) or the server asked for a longer pause than a cycle waits.
fn retry_delay(error: &SourceError, attempt: u32) -> Option<Duration> {
    let refused = matches!(error, SourceError::Http { status, .. } if super::refused_credentials(*status));
    if !error.source_down() || refused {
        return None;
    }
    let ours = backoff(attempt);
    match error {
        SourceError::Http {
            retry_after: Some(asked),
            ..
        } => (*asked <= MAX_RETRY_AFTER).then(|| ours.max(*asked)),
        _ => Some(ours),
    }
}

/// Unix seconds as Prometheus accepts them (up to millisecond precision).
fn format_time(seconds: f64) -> String {
    let text = format!("{seconds:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Jittered exponential backoff for retry `attempt` (1-based): 100-150 % of the step.
pub fn backoff(attempt: u32) -> Duration {
    let base = crate::net::exponential_backoff(FIRST_BACKOFF, attempt, FIRST_BACKOFF.saturating_mul(1 << 10));
    base.mul_f64(1.0 + crate::net::jitter_fraction() * 0.5)
}

/// Standard base64 with padding (for the basic auth header).
fn base64_encode(input: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
