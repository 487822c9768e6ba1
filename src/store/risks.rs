//! The last notified state of each entity's recommendation, so that a webhook fires when a
//! recommendation changes in a way that matters, and never twice for the same state.
//!
//! Only notified states are written: a date that drifts an hour per cycle is compared with the
//! date last *sent*, so it is reported once it has moved by more than the configured amount.
//! Saving the new states and queueing their messages happen in one transaction.

use std::collections::HashMap;

use rusqlite::params;

use super::outbox::{self, NewMessage};
use super::{Store, StoreError};

/// What was last said about one entity.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RiskState {
    /// `model` + entity labels: stable across runs.
    pub key: String,
    pub model: String,
    /// The entity's labels as `{a="b"}`.
    pub entity: String,
    pub urgency: String,
    pub likely: Option<f64>,
    pub earliest: Option<f64>,
    pub order_by: Option<f64>,
}

impl Store {
    /// Every saved state, by key.
    pub fn risks(&self) -> Result<HashMap<String, RiskState>, StoreError> {
        self.with(|c| {
            let mut statement =
                c.prepare_cached("SELECT key, model, entity, urgency, likely, earliest, order_by FROM risks")?;
            let rows = statement.query_map([], |row| {
                Ok(RiskState {
                    key: row.get(0)?,
                    model: row.get(1)?,
                    entity: row.get(2)?,
                    urgency: row.get(3)?,
                    likely: row.get(4)?,
                    earliest: row.get(5)?,
                    order_by: row.get(6)?,
                })
            })?;
            rows.map(|r| r.map(|state| (state.key.clone(), state))).collect()
        })
    }

    /// Saves `updated` states, forgets `removed` keys and queues `messages`, all or nothing.
    /// Returns how many messages were new.
    pub fn commit_risks(
        &self,
        updated: &[RiskState],
        removed: &[String],
        messages: &[NewMessage],
        now: f64,
    ) -> Result<usize, StoreError> {
        self.with(|c| {
            let transaction = c.transaction()?;
            for state in updated {
                transaction.execute(
                    "INSERT INTO risks (key, model, entity, urgency, likely, earliest, order_by, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT (key) DO UPDATE SET urgency = ?4, likely = ?5, earliest = ?6, order_by = ?7,
                        updated_at = ?8",
                    params![
                        state.key,
                        state.model,
                        state.entity,
                        state.urgency,
                        state.likely,
                        state.earliest,
                        state.order_by,
                        now
                    ],
                )?;
            }
            for key in removed {
                transaction.execute("DELETE FROM risks WHERE key = ?1", [key])?;
            }
            let mut queued = 0;
            for message in messages {
                queued += usize::from(outbox::enqueue(&transaction, message, now)?);
            }
            transaction.commit()?;
            Ok(queued)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_their_messages_are_saved_together() {
        let store = Store::in_memory().expect("store");
        let state = RiskState {
            key: "disk{host=\"a\"}".into(),
            model: "disk".into(),
            entity: "{host=\"a\"}".into(),
            urgency: "critical".into(),
            likely: Some(1000.0),
            earliest: Some(900.0),
            order_by: None,
        };
        let message = NewMessage {
            channel: "webhook:ops".into(),
            dedupe_key: "changes:1".into(),
            envelope: "{}".into(),
            body: vec![1],
        };
        assert_eq!(
            store
                .commit_risks(std::slice::from_ref(&state), &[], std::slice::from_ref(&message), 5.0)
                .expect("commit"),
            1
        );
        assert_eq!(store.risks().expect("risks")[&state.key], state);
        store
            .commit_risks(&[], std::slice::from_ref(&state.key), &[], 6.0)
            .expect("remove");
        assert!(store.risks().expect("risks").is_empty());
    }
}
