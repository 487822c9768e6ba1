//! Where results go besides `/metrics`: the state file, the weekly report by email, webhooks,
//! and how hard delivery tries.
//!
//! ```toml
//! [store]
//! path = "headroom.db"            # relative to this file
//!
//! [report]
//! to = ["sre@example.org"]        # no recipients: no weekly email (`headroom report` still works)
//! from = "headroom@example.org"
//! weekday = "monday"
//! time = "08:00"
//! timezone = "Europe/Paris"       # an IANA name
//! wait_for_complete = "6h"        # then it goes out marked incomplete, and is corrected later
//!
//! [smtp]
//! host = "smtp.example.org"
//! tls = "starttls"                # starttls (port 587) | tls (465) | none (25, loopback relays)
//! username = "headroom"           # password: password_file, or HEADROOM_SMTP__PASSWORD
//!
//! [[webhooks]]
//! name = "ops"
//! url = "https://hooks.example.org/headroom"   # or url_file / url_env (Slack URLs are secrets)
//! format = "json"                 # json (docs/webhooks.md) | slack (Block Kit)
//! secret_file = "/run/secrets/webhook"          # or secret_env = "VARIABLE"; signs the body
//!
//! [delivery]
//! retry_initial = "10s"
//! retry_max = "15m"
//! give_up_after = "3d"
//! min_date_move = "1d"            # a date that moved less is not news
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{NaiveTime, Weekday};

use super::Secret;
use super::files::secret;
use super::problems::Table;
use crate::duration::PromDuration;

/// The state file.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    pub path: PathBuf,
}

/// The weekly capacity report.
#[derive(Clone, Debug)]
pub struct ReportConfig {
    pub schedule: WeeklySchedule,
    pub from: String,
    /// Recipients; none means the report is only served and written, not mailed.
    pub to: Vec<String>,
    /// Start of the subject line; the week and the count of risks follow.
    pub subject: String,
    /// How long a due report waits for a cycle in which every model was planned before it
    /// goes out marked incomplete (a corrected one follows once every model is planned).
    pub wait_for_complete: PromDuration,
}

/// When the weekly report is due: a weekday and a time in a time zone.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WeeklySchedule {
    pub weekday: Weekday,
    pub time: NaiveTime,
    pub timezone: chrono_tz::Tz,
}

/// How to reach the mail relay.
#[derive(Clone, Debug)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// Extra CA certificate (PEM) for the relay, on top of the public roots.
    pub ca_file: Option<PathBuf>,
    pub timeout: PromDuration,
}

/// Transport security towards the mail relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain SMTP: only for a relay on loopback or a trusted network.
    None,
    /// Upgrade with STARTTLS, which must succeed (port 587).
    StartTls,
    /// TLS from the first byte (SMTPS, port 465).
    Tls,
}

/// One webhook receiver.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    pub name: String,
    /// The URL can carry a token (Slack's do), so it is kept as a secret.
    pub url: Secret,
    pub format: WebhookFormat,
    /// Key of the HMAC-SHA256 signature of each body.
    pub secret: Option<Secret>,
    pub timeout: PromDuration,
}

/// The body a webhook receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookFormat {
    /// Headroom's versioned JSON payload (docs/webhooks.md).
    Json,
    /// A Slack incoming-webhook message (Block Kit).
    Slack,
}

/// How delivery retries.
#[derive(Clone, Copy, Debug)]
pub struct DeliveryConfig {
    pub retry_initial: PromDuration,
    pub retry_max: PromDuration,
    /// A message still undelivered this long after it was queued is marked failed.
    pub give_up_after: PromDuration,
    /// A likely exhaustion date that moved less than this since it was last notified is not news.
    pub min_date_move: PromDuration,
}

impl Default for ReportConfig {
    /// Monday 08:00 UTC, no recipients.
    fn default() -> Self {
        ReportConfig {
            schedule: WeeklySchedule {
                weekday: Weekday::Mon,
                time: NaiveTime::MIN + chrono::Duration::hours(8),
                timezone: chrono_tz::Tz::UTC,
            },
            from: "headroom@localhost".into(),
            to: Vec::new(),
            subject: "Capacity report".into(),
            wait_for_complete: PromDuration::from_secs(6 * 3600),
        }
    }
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            retry_initial: PromDuration::from_secs(10),
            retry_max: PromDuration::from_secs(900),
            give_up_after: PromDuration::from_secs(3 * 86_400),
            min_date_move: PromDuration::from_secs(86_400),
        }
    }
}

pub(super) fn store(mut table: Table<'_>, base_dir: &Path) -> StoreConfig {
    let path: String = table
        .optional("path", "the path of the state file")
        .unwrap_or_else(|| "headroom.db".into());
    table.finish();
    StoreConfig {
        path: base_dir.join(path),
    }
}

pub(super) fn report(mut table: Table<'_>) -> ReportConfig {
    let to: Vec<String> = table.optional("to", "a list of e-mail addresses").unwrap_or_default();
    for address in &to {
        if address.parse::<lettre::Address>().is_err() {
            table.report("to", format!("{address:?} is not an e-mail address"));
        }
    }
    let from: String = table
        .optional("from", "an e-mail address")
        .unwrap_or_else(|| "headroom@localhost".into());
    if from.parse::<lettre::message::Mailbox>().is_err() {
        table.report(
            "from",
            format!("{from:?} is not an e-mail address (or \"Name <address>\")"),
        );
    }
    let subject = table
        .optional("subject", "a subject line")
        .unwrap_or_else(|| "Capacity report".into());
    let weekday = table
        .optional::<String>("weekday", "a weekday such as \"monday\"")
        .and_then(|day| match day.parse::<Weekday>() {
            Ok(weekday) => Some(weekday),
            Err(_) => {
                table.report("weekday", format!("{day:?} is not a weekday; use monday … sunday"));
                None
            }
        })
        .unwrap_or(Weekday::Mon);
    let time = table
        .optional::<String>("time", "a time of day such as \"08:00\"")
        .and_then(|text| match NaiveTime::parse_from_str(&text, "%H:%M") {
            Ok(time) => Some(time),
            Err(_) => {
                table.report(
                    "time",
                    format!("{text:?} is not a time of day; use HH:MM, e.g. \"08:00\""),
                );
                None
            }
        })
        .unwrap_or(NaiveTime::MIN + chrono::Duration::hours(8));
    let timezone = table
        .optional::<String>("timezone", "an IANA time zone such as \"Europe/Paris\"")
        .and_then(|name| match name.parse::<chrono_tz::Tz>() {
            Ok(tz) => Some(tz),
            Err(_) => {
                table.report(
                    "timezone",
                    format!("{name:?} is not an IANA time zone; use e.g. \"UTC\" or \"America/New_York\""),
                );
                None
            }
        })
        .unwrap_or(chrono_tz::Tz::UTC);
    let wait_for_complete = table
        .parsed("wait_for_complete", "a duration such as 6h")
        .unwrap_or(PromDuration::from_secs(6 * 3600));
    table.finish();
    ReportConfig {
        schedule: WeeklySchedule {
            weekday,
            time,
            timezone,
        },
        from,
        to,
        subject,
        wait_for_complete,
    }
}

pub(super) fn smtp(mut table: Table<'_>, base_dir: &Path) -> Option<SmtpConfig> {
    if table.is_empty() {
        table.finish();
        return None;
    }
    let host: Option<String> = table.required("host", "the mail relay's host name");
    let tls = match table
        .optional::<String>("tls", "\"starttls\", \"tls\" or \"none\"")
        .as_deref()
    {
        None | Some("starttls") => SmtpTls::StartTls,
        Some("tls") => SmtpTls::Tls,
        Some("none") => SmtpTls::None,
        Some(other) => {
            table.report(
                "tls",
                format!("{other:?} is not a TLS mode; valid: \"starttls\", \"tls\", \"none\""),
            );
            SmtpTls::StartTls
        }
    };
    let default_port = match tls {
        SmtpTls::None => 25,
        SmtpTls::StartTls => 587,
        SmtpTls::Tls => 465,
    };
    let port = table.optional("port", "a port number").unwrap_or(default_port);
    let username: Option<String> = table.optional("username", "a user name for SMTP AUTH");
    let password = secret(&mut table, "password", "password_file", base_dir);
    if username.is_some() != password.is_some() {
        table.report(
            "username",
            "SMTP AUTH needs both username and a password (password_file, or HEADROOM_SMTP__PASSWORD)",
        );
    }
    if password.is_some() && tls == SmtpTls::None {
        table.report(
            "tls",
            "a password is never sent over plain SMTP; use tls = \"starttls\" or \"tls\"",
        );
    }
    let ca_file = super::files::ca_file(&mut table, "ca_file", base_dir);
    let timeout = table
        .parsed("timeout", "a duration such as 30s")
        .unwrap_or(PromDuration::from_secs(30));
    table.finish();
    Some(SmtpConfig {
        host: host?,
        port,
        tls,
        username,
        password,
        ca_file,
        timeout,
    })
}

pub(super) fn webhooks(tables: Vec<Table<'_>>, base_dir: &Path, env: &BTreeMap<String, String>) -> Vec<WebhookConfig> {
    let mut names = std::collections::BTreeSet::new();
    let mut hooks = Vec::new();
    for mut table in tables {
        let name: Option<String> = table.required("name", "a name for this receiver");
        if let Some(name) = &name {
            let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid || !names.insert(name.clone()) {
                table.report(
                    "name",
                    format!("{name:?} must be unique and made of letters, digits, - and _"),
                );
            }
        }
        let url = secret_from_anywhere(&mut table, ("url", "url_file", "url_env"), base_dir, env);
        if let Some(url) = &url {
            match reqwest::Url::parse(url.expose()) {
                Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
                _ => table.report(
                    "url",
                    "not an http(s) URL (the value is not shown: it may carry a token)",
                ),
            }
        } else {
            table.report("url", "missing; set url, url_file or url_env");
        }
        let format = match table.optional::<String>("format", "\"json\" or \"slack\"").as_deref() {
            None | Some("json") => WebhookFormat::Json,
            Some("slack") => WebhookFormat::Slack,
            Some(other) => {
                table.report(
                    "format",
                    format!("{other:?} is not a webhook format; valid: \"json\", \"slack\""),
                );
                WebhookFormat::Json
            }
        };
        let signing = secret_from_anywhere(&mut table, ("secret", "secret_file", "secret_env"), base_dir, env);
        if signing.is_none() && format == WebhookFormat::Json {
            table.report(
                "secret_file",
                "a JSON webhook is signed: set secret_file or secret_env (the receiver checks the signature)",
            );
        }
        let timeout = table
            .parsed("timeout", "a duration such as 10s")
            .unwrap_or(PromDuration::from_secs(10));
        table.finish();
        if let (Some(name), Some(url)) = (name, url) {
            hooks.push(WebhookConfig {
                name,
                url,
                format,
                secret: signing,
                timeout,
            });
        }
    }
    hooks
}

pub(super) fn delivery(mut table: Table<'_>) -> DeliveryConfig {
    let retry_initial = table
        .parsed("retry_initial", "a duration such as 10s")
        .unwrap_or(PromDuration::from_secs(10));
    let retry_max = table
        .parsed("retry_max", "a duration such as 15m")
        .unwrap_or(PromDuration::from_secs(900));
    let give_up_after = table
        .parsed("give_up_after", "a duration such as 3d")
        .unwrap_or(PromDuration::from_secs(3 * 86_400));
    let min_date_move = table
        .parsed("min_date_move", "a duration such as 1d")
        .unwrap_or(PromDuration::from_secs(86_400));
    if retry_max.as_secs_f64() < retry_initial.as_secs_f64() {
        table.report("retry_max", "must be at least retry_initial");
    }
    table.finish();
    DeliveryConfig {
        retry_initial,
        retry_max,
        give_up_after,
        min_date_move,
    }
}

/// A secret given as `key` (environment override only), `key_file` (a file) or `key_env` (the
/// name of an environment variable holding it): exactly one of them.
fn secret_from_anywhere(
    table: &mut Table<'_>,
    (key, file_key, env_key): (&'static str, &'static str, &'static str),
    base_dir: &Path,
    env: &BTreeMap<String, String>,
) -> Option<Secret> {
    let from_key_or_file = secret(table, key, file_key, base_dir);
    let variable: Option<String> = table.optional(env_key, "the name of an environment variable");
    match (from_key_or_file, variable) {
        (Some(found), None) => Some(found),
        (None, Some(variable)) => match env.get(&variable) {
            Some(value) if !value.is_empty() => Some(Secret::new(value.clone())),
            _ => {
                table.report(env_key, format!("the environment variable {variable} is not set"));
                None
            }
        },
        (Some(_), Some(_)) => {
            table.report(env_key, format!("set only one of {key}, {file_key} and {env_key}"));
            None
        }
        (None, None) => None,
    }
}
