//! The delivery worker: drains the outbox in its own task.
//!
//! Each due message is attempted once; a receiver that is down, a 5xx or a 429 is retried
//! with exponential backoff and jitter; a 4xx (other than 408 and 429) or an SMTP 5xx is a
//! permanent failure, logged and counted; a message pending longer than `give_up_after` is
//! failed. Because the outbox is on disk, a restart resumes where the last process stopped.

use std::sync::Arc;
use std::time::Duration;

use super::email::StoredEnvelope;
use super::{Attempt, Channels, DeliveryError, EMAIL_CHANNEL, webhook};
use crate::config::delivery::DeliveryConfig;
use crate::store::outbox::Message;
use crate::store::{Store, StoreError};
use crate::telemetry::SelfMetrics;

/// Drains the outbox.
pub struct Deliverer {
    store: Store,
    channels: tokio::sync::watch::Receiver<Arc<Channels>>,
    client: reqwest::Client,
    metrics: Arc<SelfMetrics>,
}

impl Deliverer {
    pub fn new(
        store: Store,
        channels: tokio::sync::watch::Receiver<Arc<Channels>>,
        metrics: Arc<SelfMetrics>,
    ) -> Result<Deliverer, DeliveryError> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("headroom/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .redirect(crate::net::same_origin_redirects())
            .referer(false)
            .build()
            .map_err(|e| DeliveryError::HttpClient(e.to_string()))?;
        Ok(Deliverer {
            store,
            channels,
            client,
            metrics,
        })
    }

    /// Delivers until `stop`; `wake` is notified when new messages are queued.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>, wake: Arc<tokio::sync::Notify>) {
        let mut unreadable_in_a_row: u32 = 0;
        loop {
            let now = crate::clock::unix_now();
            self.ensure_state_file().await;
            let read = self.deliver_due(now).await;
            self.record_depth(now).await;
            let next_due = self.blocking(|store| store.next_due()).await.ok().flatten();
            let mut wait = next_due
                .map(|at| (at - crate::clock::unix_now()).clamp(0.05, 30.0))
                .unwrap_or(30.0);
            // An outbox that cannot be read is tried again with backoff, not every 50 ms.
            if read.is_none() {
                unreadable_in_a_row += 1;
                wait = wait.max(
                    crate::net::exponential_backoff(
                        Duration::from_millis(500),
                        unreadable_in_a_row,
                        Duration::from_secs(30),
                    )
                    .as_secs_f64(),
                );
            } else {
                unreadable_in_a_row = 0;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs_f64(wait)) => {}
                _ = wake.notified() => {}
                _ = stop.wait_for(|stop| *stop) => return,
            }
        }
    }

    /// Attempts every message due at `now`; returns how many were attempted (`None`: the
    /// outbox could not be read).
    pub async fn deliver_due(&self, now: f64) -> Option<usize> {
        let due = match self.blocking(move |store| store.due(now, 100)).await {
            Ok(due) => due,
            Err(error) => {
                self.metrics.record_store_error();
                tracing::error!(%error, "cannot read the outbox");
                return None;
            }
        };
        let channels = Arc::clone(&self.channels.borrow());
        let count = due.len();
        for message in due {
            let attempt = self.attempt(&channels, &message).await;
            self.settle(&channels.policy, &message, attempt).await;
        }
        Some(count)
    }

    async fn attempt(&self, channels: &Channels, message: &Message) -> Attempt {
        if message.channel == EMAIL_CHANNEL {
            let Some(mailer) = &channels.mailer else {
                return Attempt::Retry {
                    error: "no [smtp] relay is configured".into(),
                    retry_after: None,
                };
            };
            return match serde_json::from_str::<StoredEnvelope>(&message.envelope) {
                Ok(envelope) => mailer.send(&envelope, &message.body).await,
                Err(e) => Attempt::Permanent(format!("stored envelope is not valid: {e}")),
            };
        }
        if let Some(name) = message.channel.strip_prefix("webhook:") {
            return match channels.webhooks.iter().find(|h| h.name == name) {
                Some(hook) => webhook::post(&self.client, hook, &message.dedupe_key, &message.body).await,
                None => Attempt::Permanent(format!("webhook {name} is no longer configured")),
            };
        }
        Attempt::Permanent(format!("unknown channel {:?}", message.channel))
    }

    async fn settle(&self, policy: &DeliveryConfig, message: &Message, attempt: Attempt) {
        let metrics = &self.metrics;
        let receiver = message
            .channel
            .strip_prefix("webhook:")
            .unwrap_or(&message.channel)
            .to_string();
        let now = crate::clock::unix_now();
        let id = message.id;
        let result = match attempt {
            Attempt::Delivered => {
                metrics.record_delivery(&receiver, "delivered");
                tracing::info!(receiver, key = %message.dedupe_key, attempts = message.attempts + 1, "delivered");
                self.blocking(move |store| store.mark_delivered(id, now)).await
            }
            Attempt::Retry { error, retry_after } => {
                if now - message.created_at > policy.give_up_after.as_secs_f64() {
                    metrics.record_delivery(&receiver, "failed");
                    tracing::error!(receiver, key = %message.dedupe_key, %error, "giving up: still undelivered after give_up_after");
                    let error = format!("gave up after {} attempts: {error}", message.attempts + 1);
                    self.blocking(move |store| store.mark_failed(id, &error, now)).await
                } else {
                    let delay = retry_delay(policy, message.attempts + 1, retry_after);
                    metrics.record_delivery(&receiver, "retry");
                    tracing::warn!(receiver, key = %message.dedupe_key, %error, retry_in_s = delay.as_secs_f64(), "delivery failed; will retry");
                    self.blocking(move |store| store.mark_retry(id, &error, now + delay.as_secs_f64()))
                        .await
                }
            }
            Attempt::Permanent(error) => {
                metrics.record_delivery(&receiver, "failed");
                tracing::error!(receiver, key = %message.dedupe_key, %error, "delivery failed permanently");
                self.blocking(move |store| store.mark_failed(id, &error, now)).await
            }
        };
        if let Err(error) = result {
            metrics.record_store_error();
            tracing::error!(%error, "cannot record a delivery attempt; it will be attempted again");
        }
    }

    /// Restores the state file if it was deleted under the running daemon (nothing committed
    /// is lost: the open connection still has it all).
    async fn ensure_state_file(&self) {
        let metrics = &self.metrics;
        match self.blocking(|store| store.ensure_file()).await {
            Ok(false) => {}
            Ok(true) => {
                metrics.record_store_error();
                tracing::error!(path = %self.store.path().display(), "the state file was deleted while in use; restored it from the open copy");
            }
            Err(error) => {
                metrics.record_store_error();
                tracing::error!(%error, "the state file is gone and cannot be restored; check the directory's permissions and space");
            }
        }
    }

    async fn record_depth(&self, now: f64) {
        match self
            .blocking(|store| Ok((store.outbox_depth()?, store.size_bytes())))
            .await
        {
            Ok((depth, size)) => self.metrics.record_outbox(depth, now, size),
            Err(_) => self.metrics.record_store_error(),
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || work(&store))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
    }
}

/// Exponential backoff from `retry_initial`, capped at `retry_max`, with jitter (50–100 % of
/// the step, so that many messages to one receiver do not retry in lockstep). A receiver's
/// `Retry-After` is honoured up to `retry_max`.
pub fn retry_delay(policy: &DeliveryConfig, attempt: u32, retry_after: Option<Duration>) -> Duration {
    let initial = policy.retry_initial.as_std();
    let max = policy.retry_max.as_std();
    let step = crate::net::exponential_backoff(initial, attempt, max);
    let jittered = step.mul_f64(0.5 + crate::net::jitter_fraction() / 2.0);
    retry_after.map_or(jittered, |asked| asked.min(max).max(jittered))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duration::PromDuration;

    #[test]
    fn retries_back_off_exponentially_up_to_the_cap() {
        let policy = DeliveryConfig {
            retry_initial: PromDuration::from_secs(10),
            retry_max: PromDuration::from_secs(300),
            give_up_after: PromDuration::from_secs(86_400),
            min_date_move: PromDuration::from_secs(86_400),
        };
        for (attempt, step) in [(1, 10.0), (2, 20.0), (3, 40.0), (6, 300.0), (30, 300.0)] {
            let delay = retry_delay(&policy, attempt, None).as_secs_f64();
            assert!(delay >= step * 0.5 && delay <= step, "attempt {attempt}: {delay}");
        }
        let asked = retry_delay(&policy, 1, Some(Duration::from_secs(120))).as_secs_f64();
        assert_eq!(asked, 120.0);
        let capped = retry_delay(&policy, 1, Some(Duration::from_secs(10_000))).as_secs_f64();
        assert_eq!(capped, 300.0);
    }
}
