//! Getting results to people: webhooks on recommendation changes and the weekly report by
//! email, through a durable outbox so that nothing is lost.
//!
//! Producers ([`queue_changes`], the weekly report in [`crate::report::weekly`]) write messages into
//! the store in the same transaction as the state that produced them. The [`worker::Deliverer`] task
//! drains the outbox: each due message is attempted once; a receiver that is down, a 5xx or a
//! 429 is retried with exponential backoff and jitter; a 4xx (other than 408 and 429) or an
//! SMTP 5xx is a permanent failure, logged and counted; a message pending longer than
//! `give_up_after` is failed. Because the outbox is on disk, a restart resumes where the last
//! process stopped, including after SIGKILL.

pub mod changes;
pub mod email;
pub mod webhook;
pub mod weekly;
pub mod worker;

use std::time::Duration;

use crate::config::Config;
use crate::config::delivery::{DeliveryConfig, WebhookConfig};
use crate::outcome::CycleOutcome;
use crate::store::outbox::NewMessage;
use crate::store::{Store, StoreError};
use crate::telemetry::SelfMetrics;
use email::Mailer;

/// Why a delivery component could not be set up, or a message not be built or queued.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("smtp.ca_file {path}: {reason}")]
    CaFile { path: std::path::PathBuf, reason: String },
    #[error("smtp TLS setup: {0}")]
    Tls(String),
    #[error("{key} {address:?} is not a mail address: {reason}")]
    Address {
        key: &'static str,
        address: String,
        reason: String,
    },
    #[error("building the report email: {0}")]
    Email(String),
    #[error("cannot build the webhook HTTP client: {0}")]
    HttpClient(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot encode the {what}: {source}")]
    Encode {
        what: &'static str,
        source: serde_json::Error,
    },
}

/// The result of one delivery attempt.
#[derive(Clone, Debug, PartialEq)]
pub enum Attempt {
    Delivered,
    /// Worth trying again later (receiver down, 5xx, 429, timeout).
    Retry {
        error: String,
        /// What the receiver asked for (`Retry-After`), if anything.
        retry_after: Option<Duration>,
    },
    /// Trying again would fail the same way.
    Permanent(String),
}

/// The channel name of the weekly report emails.
pub const EMAIL_CHANNEL: &str = "email";

/// The channel name of a webhook's messages.
pub fn webhook_channel(name: &str) -> String {
    format!("webhook:{name}")
}

/// The receivers as currently configured; replaced whole on reload.
#[derive(Clone, Debug)]
pub struct Channels {
    pub webhooks: Vec<WebhookConfig>,
    pub mailer: Option<Mailer>,
    pub policy: DeliveryConfig,
}

impl Channels {
    /// Builds the receivers of `config` (the mail transport needs its CA file readable).
    pub fn from_config(config: &Config) -> Result<Channels, DeliveryError> {
        let mailer = config.smtp.as_ref().map(Mailer::new).transpose()?;
        Ok(Channels {
            webhooks: config.webhooks.clone(),
            mailer,
            policy: config.delivery,
        })
    }
}

/// Compares the cycle's recommendations with those last notified and queues one message per
/// webhook when something changed; returns the changes found.
pub fn queue_changes(
    store: &Store,
    report: &CycleOutcome,
    channels: &Channels,
    metrics: &SelfMetrics,
) -> Result<usize, StoreError> {
    let notified = store.risks()?;
    let diff = changes::diff(report, &notified, channels.policy.min_date_move.as_secs_f64());
    if diff.save.is_empty() && diff.forget.is_empty() {
        return Ok(0);
    }
    let id = format!("changes-{:.0}", report.evaluated_at * 1000.0);
    let messages: Vec<NewMessage> = if diff.changes.is_empty() {
        Vec::new()
    } else {
        channels
            .webhooks
            .iter()
            .map(|hook| NewMessage {
                channel: webhook_channel(&hook.name),
                dedupe_key: format!("{id}-{}", hook.name),
                envelope: "{}".into(),
                body: webhook::body(hook.format, &id, report.evaluated_at, &report.source, &diff.changes),
            })
            .collect()
    };
    store.commit_risks(&diff.save, &diff.forget, &messages, report.evaluated_at)?;
    for change in &diff.changes {
        metrics.record_change(change.kind.name());
        tracing::info!(kind = change.kind.name(), model = change.model, entity = %change.current.entity, "{}", webhook::summary(change));
    }
    Ok(diff.changes.len())
}
