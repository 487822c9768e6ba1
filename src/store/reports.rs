//! Weekly reports already built: one row per period, written in the same transaction as the
//! emails that carry the report, so a period's report is queued exactly once, even across
//! restarts. The snapshot is what "what changed since last week" compares with.

use rusqlite::{OptionalExtension, params};

use super::outbox::{self, NewMessage};
use super::{Store, StoreError};

impl Store {
    /// Whether the report of `period` was already built.
    pub fn report_built(&self, period: &str) -> Result<bool, StoreError> {
        self.with(|c| {
            c.query_row("SELECT 1 FROM reports WHERE period = ?1", [period], |_| Ok(()))
                .optional()
                .map(|row| row.is_some())
        })
    }

    /// The snapshot of the most recent report built before `period`, with its period.
    pub fn previous_report(&self, period: &str) -> Result<Option<(String, String)>, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT period, snapshot FROM reports WHERE period < ?1 ORDER BY period DESC LIMIT 1",
                [period],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
        })
    }

    /// Records the report of `period` and queues its `messages`, all or nothing. Returns
    /// `false` (and queues nothing) when that period's report already exists.
    pub fn commit_report(
        &self,
        period: &str,
        snapshot: &str,
        messages: &[NewMessage],
        now: f64,
    ) -> Result<bool, StoreError> {
        self.with(|c| {
            let transaction = c.transaction()?;
            let inserted = transaction.execute(
                "INSERT OR IGNORE INTO reports (period, built_at, snapshot) VALUES (?1, ?2, ?3)",
                params![period, now, snapshot],
            )?;
            if inserted == 0 {
                return Ok(false);
            }
            for message in messages {
                outbox::enqueue(&transaction, message, now)?;
            }
            transaction.commit()?;
            Ok(true)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_period_is_committed_once_and_is_the_next_ones_baseline() {
        let store = Store::in_memory().expect("store");
        let mail = |key: &str| NewMessage {
            channel: "email".into(),
            dedupe_key: key.into(),
            envelope: "{}".into(),
            body: vec![],
        };
        assert!(
            store
                .commit_report("2026-W47", "{\"a\":1}", &[mail("r47")], 1.0)
                .expect("first")
        );
        assert!(
            !store
                .commit_report("2026-W47", "{\"a\":2}", &[mail("r47b")], 2.0)
                .expect("again")
        );
        assert!(
            store.message_state("r47b").expect("state").is_none(),
            "nothing queued the second time"
        );
        assert!(store.report_built("2026-W47").expect("built"));
        assert_eq!(
            store.previous_report("2026-W48").expect("previous"),
            Some(("2026-W47".into(), "{\"a\":1}".into()))
        );
        assert_eq!(store.previous_report("2026-W47").expect("previous"), None);
    }
}
