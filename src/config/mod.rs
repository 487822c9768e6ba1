//! Headroom's settings: what source to read, where to listen, how often to run.
//!
//! Read in two phases (quickwit's habit): the `config` crate layers the file and
//! `HEADROOM_SECTION__KEY` environment variables into one tree; then [`Config::from_tree`]
//! turns that tree into typed settings, collecting *every* problem with its file, line and key
//! (see [`problems`]). Environment variables come in as a map, so tests pass their own.
//!
//! Secrets (bearer tokens, passwords) are accepted only from environment variables or files,
//! never written in the config file, and their `Debug` output is redacted.

pub mod delivery;
pub mod files;
pub mod load;
pub mod models;
pub mod problems;
pub mod scenarios;
pub mod server;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::duration::PromDuration;
use files::{ca_file, secret};
use problems::{Document, Problem, Problems, Table};

/// The prefix of environment variables that override config keys.
pub const ENV_PREFIX: &str = "HEADROOM_";

/// Where the default config lives, relative to the working directory.
pub const DEFAULT_PATH: &str = "config/headroom.toml";

/// The validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub source: SourceConfig,
    pub server: server::ServerConfig,
    pub schedule: ScheduleConfig,
    pub forecast: ForecastConfig,
    /// The directory holding capacity model files.
    pub models_dir: PathBuf,
    /// Named what-ifs applied on top of the baseline (`[[scenarios]]`).
    pub scenarios: Vec<crate::scenario::Scenario>,
    /// The state file (`[store]`).
    pub store: delivery::StoreConfig,
    /// The weekly capacity report (`[report]`).
    pub report: delivery::ReportConfig,
    /// The mail relay (`[smtp]`), when one is configured.
    pub smtp: Option<delivery::SmtpConfig>,
    /// Webhook receivers (`[[webhooks]]`).
    pub webhooks: Vec<delivery::WebhookConfig>,
    /// Retry policy for email and webhooks (`[delivery]`).
    pub delivery: delivery::DeliveryConfig,
}

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

/// A secret string whose `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How often the daemon runs a cycle.
#[derive(Clone, Debug)]
pub struct ScheduleConfig {
    pub interval: PromDuration,
}

/// Engine settings shared by every model.
#[derive(Clone, Debug)]
pub struct ForecastConfig {
    pub min_history: PromDuration,
    pub min_points: usize,
    pub backtest_origins: usize,
    /// Threads fitting forecasts (0: one per core).
    pub threads: usize,
}

impl Config {
    /// Loads the config file at `path`, with overrides from `env` (`HEADROOM_SECTION__KEY`).
    pub fn load(path: &Path, env: &BTreeMap<String, String>) -> Result<Config, Problems> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| {
            Problems(vec![Problem {
                origin: origin.clone(),
                line: None,
                key: String::new(),
                message: format!("cannot read the config file: {error}"),
            }])
        })?;
        let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Config::from_text(&origin, &text, &base_dir, env)
    }

    /// Parses config `text` (TOML); relative paths in it are taken from `base_dir`.
    pub fn from_text(
        origin: &str,
        text: &str,
        base_dir: &Path,
        env: &BTreeMap<String, String>,
    ) -> Result<Config, Problems> {
        // Only variables of the form HEADROOM_SECTION__KEY are config overrides; others (such
        // as HEADROOM_CONFIG for the command line) are left alone.
        let overrides: BTreeMap<String, String> = env
            .iter()
            .filter_map(|(name, value)| {
                let rest = name.strip_prefix(ENV_PREFIX)?;
                rest.contains("__")
                    .then(|| (rest.to_lowercase().replace("__", "."), value.clone()))
            })
            .collect();
        let env_names: BTreeMap<String, String> = env
            .keys()
            .filter_map(|name| {
                let rest = name.strip_prefix(ENV_PREFIX)?;
                rest.contains("__")
                    .then(|| (rest.to_lowercase().replace("__", "."), name.clone()))
            })
            .collect();
        let document = Document::new(origin, text, env_names);
        let mut builder = config::Config::builder().add_source(config::File::from_str(text, config::FileFormat::Toml));
        for (key, value) in &overrides {
            builder = match builder.set_override(key.as_str(), value.as_str()) {
                Ok(b) => b,
                Err(error) => {
                    return Err(Problems(vec![Problem {
                        origin: origin.into(),
                        line: None,
                        key: key.clone(),
                        message: error.to_string(),
                    }]));
                }
            };
        }
        let tree = match builder.build().and_then(|c| c.try_deserialize::<serde_json::Value>()) {
            Ok(tree) => tree,
            Err(error) => {
                document.report_at(toml_error_line(text), format!("not valid TOML: {error}"));
                return Err(Problems(document.into_problems()));
            }
        };
        for problem in inline_secret_problems(origin, text) {
            document.push(problem);
        }
        for name in env.keys() {
            if let Some(meant) = single_underscore_override(name) {
                document.push(Problem {
                    origin: format!("environment variable {name}"),
                    line: None,
                    key: String::new(),
                    message: format!(
                        "is not read: a config key is named with double underscores between its parts, {meant}"
                    ),
                });
            }
        }
        let config = Config::from_tree(&document, tree, base_dir, env);
        match config {
            Some(config) if !document.has_problems() => Ok(config),
            Some(_) => Err(Problems(document.into_problems())),
            None => {
                if !document.has_problems() {
                    document.report_at(None, "the configuration is incomplete".into());
                }
                Err(Problems(document.into_problems()))
            }
        }
    }

    fn from_tree(
        document: &Document,
        tree: serde_json::Value,
        base_dir: &Path,
        env: &BTreeMap<String, String>,
    ) -> Option<Config> {
        let mut root = document.root(tree);
        let source = source_config(root.table("source"), base_dir);
        let server = server::server(root.table("server"), base_dir);
        let schedule = {
            let mut table = root.table("schedule");
            let interval = table
                .parsed("interval", "a duration such as 15m")
                .unwrap_or(PromDuration::from_secs(900));
            table.finish();
            ScheduleConfig { interval }
        };
        let forecast = {
            let mut table = root.table("forecast");
            let min_history = table
                .parsed("min_history", "a duration such as 1d")
                .unwrap_or(PromDuration::from_secs(86_400));
            let min_points = table
                .optional::<usize>("min_points", "a whole number of at least 8")
                .unwrap_or(24);
            if min_points < 8 {
                table.report("min_points", "must be at least 8");
            }
            let backtest_origins = table
                .optional::<usize>("backtest_origins", "a whole number from 1 to 12")
                .unwrap_or(6);
            if !(1..=12).contains(&backtest_origins) {
                table.report("backtest_origins", "must be from 1 to 12");
            }
            let threads = table
                .optional::<usize>("threads", "a whole number (0: one per core)")
                .unwrap_or(0);
            table.finish();
            ForecastConfig {
                min_history,
                min_points,
                backtest_origins,
                threads,
            }
        };
        let models_dir = {
            let mut table = root.table("models");
            let dir: String = table
                .optional("dir", "a directory path")
                .unwrap_or_else(|| "models".into());
            table.finish();
            base_dir.join(dir)
        };
        let scenarios = scenarios::parse(&mut root);
        let store = delivery::store(root.table("store"), base_dir);
        let source = source.map(|source| match source {
            SourceConfig::Scrape(scrape) => SourceConfig::Scrape(ScrapeConfig {
                state_path: store.path.clone(),
                ..scrape
            }),
            other => other,
        });
        let report = delivery::report(root.table("report"));
        let smtp = delivery::smtp(root.table("smtp"), base_dir);
        if !report.to.is_empty() && smtp.is_none() {
            root.report(
                "report",
                "report.to is set but there is no [smtp] section to send through",
            );
        }
        let webhooks = delivery::webhooks(root.array_of_tables("webhooks"), base_dir, env);
        let delivery = delivery::delivery(root.table("delivery"));
        root.finish();
        Some(Config {
            source: source?,
            server,
            schedule,
            forecast,
            models_dir,
            scenarios,
            store,
            report,
            smtp,
            webhooks,
            delivery,
        })
    }
}

fn source_config(mut table: Table<'_>, base_dir: &Path) -> Option<SourceConfig> {
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

/// The variable a `HEADROOM_SECTION_KEY` variable was most likely meant to be
/// (`HEADROOM_SOURCE__URL` for `HEADROOM_SOURCE_URL`): one that names a config section with a
/// single underscore, which would otherwise be ignored without a word.
fn single_underscore_override(name: &str) -> Option<String> {
    const SECTIONS: [&str; 9] = [
        "source", "server", "store", "smtp", "report", "schedule", "forecast", "models", "delivery",
    ];
    let rest = name.strip_prefix(ENV_PREFIX)?;
    if rest.contains("__") {
        return None;
    }
    let lower = rest.to_lowercase();
    let section = SECTIONS.iter().find(|section| {
        lower
            .strip_prefix(*section)
            .is_some_and(|key| key.starts_with('_') && key.len() > 1)
    })?;
    let key = &rest[section.len() + 1..];
    Some(format!("{ENV_PREFIX}{}__{key}", rest[..section.len()].to_uppercase()))
}

/// Whether `url` carries a user name or password (`http://user:pass@host`).
pub fn has_credentials(url: &reqwest::Url) -> bool {
    !url.username().is_empty() || url.password().is_some()
}

/// The line of a TOML syntax error, when the parser gives one.
fn toml_error_line(text: &str) -> Option<usize> {
    let error = toml::from_str::<toml::Table>(text).err()?;
    let span = error.span()?;
    Some(text[..span.start.min(text.len())].lines().count().max(1))
}

/// Whether `text` sets a secret inline: secrets belong in the environment or in files.
pub fn inline_secret_problems(origin: &str, text: &str) -> Vec<Problem> {
    let Ok(table) = toml::from_str::<toml::Table>(text) else {
        return Vec::new();
    };
    let mut found: Vec<(Vec<String>, String)> = Vec::new();
    for (section, keys) in [
        ("source", &["bearer_token", "password"][..]),
        ("smtp", &["password"][..]),
        ("server", &["bearer_token"][..]),
    ] {
        if let Some(section_table) = table.get(section).and_then(|s| s.as_table()) {
            for key in keys.iter().filter(|key| section_table.contains_key(**key)) {
                let advice = format!(
                    "use {key}_file or the HEADROOM_{}__{} environment variable",
                    section.to_uppercase(),
                    key.to_uppercase()
                );
                found.push((vec![section.to_string(), key.to_string()], advice));
            }
        }
    }
    if let Some(hooks) = table.get("webhooks").and_then(|w| w.as_array()) {
        for (index, hook) in hooks.iter().enumerate() {
            if hook.as_table().is_some_and(|t| t.contains_key("secret")) {
                found.push((
                    vec!["webhooks".into(), index.to_string(), "secret".into()],
                    "use secret_file, or secret_env naming an environment variable".into(),
                ));
            }
        }
    }
    found
        .into_iter()
        .map(|(path, advice)| Problem {
            origin: origin.to_string(),
            line: problems::line_of(text, &path),
            key: path.join("."),
            message: format!("secrets do not belong in the config file; {advice}"),
        })
        .collect()
}

#[cfg(test)]
mod tests;
