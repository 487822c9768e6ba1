//! `[source]`: where history comes from (a Prometheus-compatible query API, a text dump, or
//! exporters Headroom scrapes itself), and how to reach it without putting a credential where
//! it would show.

use std::path::{Path, PathBuf};

use super::Secret;
use super::files::{ca_file, secret};
use super::problems::Table;
use crate::duration::PromDuration;

/// Where history comes from.
#[derive(Clone, Debug)]
pub enum SourceConfig {
    /// Anything that speaks the Prometheus HTTP API.
    Prometheus(Box<PrometheusConfig>),
    /// A text-format dump with timestamps (what `promtool tsdb dump` prints).
    File { path: PathBuf },
    /// Exporters scraped by Headroom itself, for sites with no Prometheus.
    Scrape(ScrapeConfig),
}

/// Exporters Headroom scrapes itself (`kind = "scrape"`).
#[derive(Clone, Debug)]
pub struct ScrapeConfig {
    pub targets: Vec<ScrapeTarget>,
    pub interval: PromDuration,
    pub timeout: PromDuration,
    /// How long scraped samples are kept (at least the longest model history).
    pub retention: PromDuration,
    /// The state file the samples are kept in (`[store] path`).
    pub state_path: PathBuf,
}

/// One exporter to scrape.
#[derive(Clone, Debug)]
pub struct ScrapeTarget {
    pub url: reqwest::Url,
    /// The `job` label of its samples.
    pub job: String,
    /// The `instance` label: host:port of the URL.
    pub instance: String,
}

/// Connection settings for a Prometheus-compatible API.
#[derive(Clone, Debug)]
pub struct PrometheusConfig {
    /// Base URL, including any path prefix (`/prometheus` for Mimir, say).
    pub url: reqwest::Url,
    pub timeout: PromDuration,
    pub auth: Auth,
    /// Extra headers sent with every query (`X-Scope-OrgID` for Mimir or Cortex).
    pub headers: Vec<(String, String)>,
    /// Points per series per request; longer ranges are split (Prometheus allows 11,000).
    pub max_points_per_request: usize,
    /// Extra CA certificate (PEM) to trust, on top of the system roots.
    pub ca_file: Option<PathBuf>,
    /// Requests in flight at most, and requests started per second at most (0: no limit).
    pub max_concurrent_requests: usize,
    pub max_requests_per_second: f64,
    /// Skip TLS verification (never by default; for test servers only).
    pub insecure_skip_verify: bool,
}

/// How Headroom authenticates to the source.
#[derive(Clone, Debug, Default)]
pub enum Auth {
    #[default]
    None,
    Bearer(Secret),
    Basic {
        username: String,
        password: Secret,
    },
}

pub(super) fn source_config(mut table: Table<'_>, base_dir: &Path) -> Option<SourceConfig> {
    let kind: String = table
        .optional("kind", "\"prometheus\" or \"file\"")
        .unwrap_or_else(|| "prometheus".into());
    let result = match kind.as_str() {
        "prometheus" => prometheus_config(&mut table, base_dir).map(|c| SourceConfig::Prometheus(Box::new(c))),
        "file" => {
            let path: Option<String> = table.required("path", "the path of a text-format dump");
            let path = path.map(|p| base_dir.join(p));
            if let Some(Err(error)) = path.as_ref().map(std::fs::metadata) {
                table.report(
                    "path",
                    format!(
                        "cannot read {}: {error}",
                        path.as_ref().map_or(String::new(), |p| p.display().to_string())
                    ),
                );
            }
            path.map(|path| SourceConfig::File { path })
        }
        "scrape" => scrape_config(&mut table).map(SourceConfig::Scrape),
        other => {
            table.report(
                "kind",
                format!("unknown source kind {other:?}; valid: \"prometheus\", \"file\", \"scrape\""),
            );
            // The other keys belong to a kind not known: not reported as unknown one by one.
            return None;
        }
    };
    table.finish();
    result
}

fn scrape_config(table: &mut Table<'_>) -> Option<ScrapeConfig> {
    let interval = table
        .parsed("interval", "a duration such as 1m")
        .unwrap_or(PromDuration::from_secs(60));
    let timeout = table
        .parsed("timeout", "a duration such as 10s")
        .unwrap_or(PromDuration::from_secs(10));
    let retention = table
        .parsed("retention", "a duration such as 35d")
        .unwrap_or(PromDuration::from_secs(35 * 86_400));
    let mut targets = Vec::new();
    for mut target in table.array_of_tables("targets") {
        let url: Option<reqwest::Url> = target.parsed("url", "an exporter URL such as http://10.0.0.5:9100/metrics");
        if url.as_ref().is_some_and(has_credentials) {
            target.report(
                "url",
                "the URL carries credentials (user:password@), which would show wherever the URL does (logs, errors, labels); exporters are scraped without credentials",
            );
        }
        let job: String = target.optional("job", "a job name").unwrap_or_else(|| "scrape".into());
        target.finish();
        if let Some(url) = url {
            let Some(host) = url.host_str() else {
                continue;
            };
            let instance = format!("{host}:{}", url.port_or_known_default().unwrap_or(80));
            targets.push(ScrapeTarget { url, job, instance });
        }
    }
    if targets.is_empty() {
        table.report(
            "targets",
            "a scrape source needs at least one [[source.targets]] with a url",
        );
    }
    Some(ScrapeConfig {
        targets,
        interval,
        timeout,
        retention,
        state_path: PathBuf::new(),
    })
}

fn prometheus_config(table: &mut Table<'_>, base_dir: &Path) -> Option<PrometheusConfig> {
    let has_url = table.contains("url");
    let url: Option<reqwest::Url> = table.parsed("url", "a URL such as http://127.0.0.1:9090");
    if !has_url {
        table.report(
            "url",
            "missing; expected the Prometheus API's URL, such as http://127.0.0.1:9090 (or HEADROOM_SOURCE__URL)",
        );
    }
    if let Some(url) = &url {
        if !matches!(url.scheme(), "http" | "https") {
            table.report(
                "url",
                format!("scheme {:?} is not supported; use http or https", url.scheme()),
            );
        }
        if url.query().is_some() || url.fragment().is_some() {
            table.report(
                "url",
                "the URL has a query string or fragment, which Headroom does not send (it builds each API request's own) and which would show wherever the URL does; give the API's base URL, with a tenant or key in headers (X-Scope-OrgID) or bearer_token_file",
            );
        }
        if has_credentials(url) {
            table.report(
                "url",
                "the URL carries credentials (user:password@), which would show wherever the URL does (logs, errors, reports, webhooks); remove them and set username with password_file (or HEADROOM_SOURCE__PASSWORD), or bearer_token_file (or HEADROOM_SOURCE__BEARER_TOKEN)",
            );
        }
    }
    let timeout = table
        .parsed("timeout", "a duration such as 30s")
        .unwrap_or(PromDuration::from_secs(30));
    let max_points_per_request = table
        .optional::<usize>("max_points_per_request", "a whole number from 10 to 30000")
        .unwrap_or(11_000);
    if !(10..=30_000).contains(&max_points_per_request) {
        table.report(
            "max_points_per_request",
            "must be from 10 to 30000 (Prometheus allows 11000)",
        );
    }
    let max_concurrent_requests = table
        .optional::<usize>("max_concurrent_requests", "a whole number from 1 to 64")
        .unwrap_or(2);
    if !(1..=64).contains(&max_concurrent_requests) {
        table.report("max_concurrent_requests", "must be from 1 to 64");
    }
    let max_requests_per_second = table
        .optional::<f64>(
            "max_requests_per_second",
            "a number of requests per second (0: no limit)",
        )
        .unwrap_or(10.0);
    if !(max_requests_per_second >= 0.0 && max_requests_per_second.is_finite()) {
        table.report("max_requests_per_second", "must be zero (no limit) or more");
    }
    let headers = table.string_map("headers", "a table of header names to string values");
    for (name, value) in &headers {
        if ["authorization", "proxy-authorization"].contains(&name.to_ascii_lowercase().as_str()) {
            table.report(
                "headers",
                format!("{name} would put a credential in the config file; use bearer_token_file, or username with password_file (or their HEADROOM_SOURCE__ variables)"),
            );
        } else if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            table.report("headers", format!("{name:?} is not a valid HTTP header name"));
        } else if reqwest::header::HeaderValue::from_str(value).is_err() {
            table.report(
                "headers",
                format!("the value of {name} has characters not allowed in an HTTP header"),
            );
        }
    }
    let ca_file = ca_file(table, "ca_file", base_dir);
    let insecure_skip_verify = table.optional("insecure_skip_verify", "true or false").unwrap_or(false);
    let bearer = secret(table, "bearer_token", "bearer_token_file", base_dir);
    let username: Option<String> = table.optional("username", "a user name for basic auth");
    let password = secret(table, "password", "password_file", base_dir);
    let auth = match (bearer, username, password) {
        (Some(token), None, None) => Auth::Bearer(token),
        (None, Some(username), Some(password)) => Auth::Basic { username, password },
        (None, None, None) => Auth::None,
        (None, Some(_), None) => {
            table.report("username", "basic auth needs a password too (password_file, or the HEADROOM_SOURCE__PASSWORD environment variable)");
            Auth::None
        }
        (None, None, Some(_)) => {
            table.report("password", "basic auth needs a username too");
            Auth::None
        }
        (Some(_), _, _) => {
            table.report("bearer_token", "choose bearer token or basic auth, not both");
            Auth::None
        }
    };
    Some(PrometheusConfig {
        url: url?,
        timeout,
        auth,
        headers,
        max_points_per_request,
        ca_file,
        insecure_skip_verify,
        max_concurrent_requests,
        max_requests_per_second,
    })
}

/// Whether `url` carries a user name or password (`http://user:pass@host`).
pub fn has_credentials(url: &reqwest::Url) -> bool {
    !url.username().is_empty() || url.password().is_some()
}
