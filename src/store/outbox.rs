//! The durable outbox: every email and webhook is written here before any attempt to send it.
//!
//! A message is enqueued once (its `dedupe_key` is unique, so the weekly report of a period or
//! the change notice of a cycle cannot be queued twice, even after a restart), then attempted
//! until it is delivered, fails permanently (a 4xx other than 429, an SMTP 5xx), or grows
//! older than the give-up age. Nothing is deleted: delivered and failed rows are the audit
//! trail, pruned after a retention period.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};

/// A message to queue.
#[derive(Clone, Debug, PartialEq)]
pub struct NewMessage {
    /// Where it goes: `email` or `webhook:<name>`.
    pub channel: String,
    /// Unique per message: a second enqueue with the same key is ignored.
    pub dedupe_key: String,
    /// Channel-specific routing as JSON (recipients, content type).
    pub envelope: String,
    pub body: Vec<u8>,
}

/// A queued message, as the delivery worker sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub id: i64,
    pub channel: String,
    pub dedupe_key: String,
    pub envelope: String,
    pub body: Vec<u8>,
    pub created_at: f64,
    pub attempts: u32,
}

/// How the outbox stands, for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Depth {
    pub pending: u64,
    /// Unix seconds of the oldest pending message.
    pub oldest_pending: Option<f64>,
    pub failed: u64,
}

impl Store {
    /// Queues `message` unless one with the same key exists; `true` when it was queued.
    pub fn enqueue(&self, message: &NewMessage, now: f64) -> Result<bool, StoreError> {
        self.with(|c| enqueue(c, message, now))
    }

    /// Pending messages whose next attempt is due at `now`, oldest first. A row that cannot be
    /// read back (a column of the wrong type, written by hand or by another version) would
    /// block every message behind it: it is marked failed with what is wrong, and skipped.
    pub fn due(&self, now: f64, limit: usize) -> Result<Vec<Message>, StoreError> {
        self.with(|c| {
            let mut poisoned = Vec::new();
            let mut messages = Vec::new();
            {
                let mut statement = c.prepare_cached(
                    "SELECT id, channel, dedupe_key, envelope, body, created_at, attempts FROM outbox
                     WHERE state = 'pending' AND next_attempt_at <= ?1 ORDER BY id LIMIT ?2",
                )?;
                let mut rows = statement.query(params![now, limit as i64])?;
                while let Some(row) = rows.next()? {
                    let decoded = (|| -> rusqlite::Result<Message> {
                        Ok(Message {
                            id: row.get(0)?,
                            channel: row.get(1)?,
                            dedupe_key: row.get(2)?,
                            envelope: row.get(3)?,
                            body: row.get(4)?,
                            created_at: row.get(5)?,
                            attempts: row.get(6)?,
                        })
                    })();
                    match decoded {
                        Ok(message) => messages.push(message),
                        Err(error) => poisoned.push((row.get::<_, i64>(0)?, error)),
                    }
                }
            }
            for (id, error) in poisoned {
                let error = format!("the stored message cannot be read: {error}");
                tracing::error!(id, %error, "outbox row marked failed; the messages behind it go on");
                c.execute(
                    "UPDATE outbox SET state = 'failed', last_error = ?2, finished_at = ?3 WHERE id = ?1",
                    params![id, error, now],
                )?;
            }
            Ok(messages)
        })
    }

    /// When the next pending message falls due, if any is pending.
    pub fn next_due(&self) -> Result<Option<f64>, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT MIN(next_attempt_at) FROM outbox WHERE state = 'pending'",
                [],
                |row| row.get(0),
            )
        })
    }

    /// Records a successful delivery.
    pub fn mark_delivered(&self, id: i64, now: f64) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE outbox SET state = 'delivered', attempts = attempts + 1, finished_at = ?2, last_error = NULL
                 WHERE id = ?1",
                params![id, now],
            )
            .map(drop)
        })
    }

    /// Records a failed attempt to be retried at `retry_at`.
    pub fn mark_retry(&self, id: i64, error: &str, retry_at: f64) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3 WHERE id = ?1",
                params![id, error, retry_at],
            )
            .map(drop)
        })
    }

    /// Records a permanent failure: the message is not attempted again.
    pub fn mark_failed(&self, id: i64, error: &str, now: f64) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_error = ?2, finished_at = ?3
                 WHERE id = ?1",
                params![id, error, now],
            )
            .map(drop)
        })
    }

    /// Pending and failed counts.
    pub fn outbox_depth(&self) -> Result<Depth, StoreError> {
        self.with(|c| {
            let (pending, oldest_pending) = c.query_row(
                "SELECT COUNT(*), MIN(created_at) FROM outbox WHERE state = 'pending'",
                [],
                |row| Ok((row.get::<_, i64>(0)?, row.get::<_, Option<f64>>(1)?)),
            )?;
            let failed: i64 = c.query_row("SELECT COUNT(*) FROM outbox WHERE state = 'failed'", [], |row| {
                row.get(0)
            })?;
            Ok(Depth {
                pending: pending as u64,
                oldest_pending,
                failed: failed as u64,
            })
        })
    }

    /// The state of the message with `dedupe_key` (`pending`, `delivered`, `failed`).
    pub fn message_state(&self, dedupe_key: &str) -> Result<Option<String>, StoreError> {
        self.with(|c| {
            c.query_row("SELECT state FROM outbox WHERE dedupe_key = ?1", [dedupe_key], |row| {
                row.get(0)
            })
            .optional()
        })
    }

    /// Deletes delivered and failed messages finished before `before`; returns how many.
    pub fn prune_outbox(&self, before: f64) -> Result<usize, StoreError> {
        self.with(|c| {
            c.execute(
                "DELETE FROM outbox WHERE state IN ('delivered', 'failed') AND finished_at < ?1",
                [before],
            )
        })
    }
}

/// Queues `message` on an open connection or transaction; `true` when it was new.
pub(crate) fn enqueue(c: &rusqlite::Connection, message: &NewMessage, now: f64) -> rusqlite::Result<bool> {
    let inserted = c.execute(
        "INSERT OR IGNORE INTO outbox (channel, dedupe_key, envelope, body, created_at, next_attempt_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![message.channel, message.dedupe_key, message.envelope, message.body, now],
    )?;
    Ok(inserted == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(key: &str) -> NewMessage {
        NewMessage {
            channel: "webhook:ops".into(),
            dedupe_key: key.into(),
            envelope: "{}".into(),
            body: b"{\"hello\":1}".to_vec(),
        }
    }

    #[test]
    fn a_message_is_queued_once_and_retried_until_delivered() {
        let store = Store::in_memory().expect("store");
        assert!(store.enqueue(&message("a"), 100.0).expect("enqueue"));
        assert!(!store.enqueue(&message("a"), 101.0).expect("enqueue again"));
        let due = store.due(100.0, 10).expect("due");
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].body, b"{\"hello\":1}");
        store.mark_retry(due[0].id, "connection refused", 130.0).expect("retry");
        assert!(
            store.due(120.0, 10).expect("due").is_empty(),
            "not before its retry time"
        );
        assert_eq!(store.next_due().expect("next"), Some(130.0));
        let again = store.due(130.0, 10).expect("due");
        assert_eq!(again[0].attempts, 1);
        store.mark_delivered(again[0].id, 131.0).expect("delivered");
        assert!(store.due(1e12, 10).expect("due").is_empty());
        assert_eq!(store.message_state("a").expect("state").as_deref(), Some("delivered"));
        assert_eq!(store.outbox_depth().expect("depth").pending, 0);
        assert_eq!(store.prune_outbox(200.0).expect("prune"), 1);
    }

    #[test]
    fn an_unreadable_row_is_failed_with_its_error_and_the_queue_moves_on() {
        let store = Store::in_memory().expect("store");
        for key in ["a", "poison", "b"] {
            store.enqueue(&message(key), 1.0).expect("enqueue");
        }
        // A body stored as text, and attempts out of range: neither decodes.
        store
            .with(|c| {
                c.execute(
                    "UPDATE outbox SET body = 'text', attempts = -1 WHERE dedupe_key = 'poison'",
                    [],
                )
            })
            .expect("poison");
        let due: Vec<String> = store
            .due(2.0, 10)
            .expect("due")
            .into_iter()
            .map(|m| m.dedupe_key)
            .collect();
        assert_eq!(due, ["a", "b"]);
        assert_eq!(store.message_state("poison").expect("state").as_deref(), Some("failed"));
        let error: String = store
            .with(|c| {
                c.query_row("SELECT last_error FROM outbox WHERE dedupe_key = 'poison'", [], |r| {
                    r.get(0)
                })
            })
            .expect("error");
        assert!(error.contains("cannot be read"), "{error}");
        assert_eq!(store.outbox_depth().expect("depth").failed, 1);
        assert_eq!(store.due(3.0, 10).expect("due").len(), 2, "asked once, failed once");
    }

    #[test]
    fn a_permanent_failure_is_not_attempted_again() {
        let store = Store::in_memory().expect("store");
        store.enqueue(&message("b"), 1.0).expect("enqueue");
        let id = store.due(1.0, 1).expect("due")[0].id;
        store.mark_failed(id, "HTTP 404", 2.0).expect("failed");
        assert!(store.due(1e12, 10).expect("due").is_empty());
        let depth = store.outbox_depth().expect("depth");
        assert_eq!((depth.pending, depth.failed), (0, 1));
    }
}
