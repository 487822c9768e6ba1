//! Weekly reports already built: one row per period, written in the same transaction as the
//! emails that carry the report, so a period's report is queued exactly once, even across
//! restarts. The snapshot is what "what changed since last week" compares with.

use rusqlite::{OptionalExtension, params};

use super::outbox::{self, NewMessage};
use super::{Store, StoreError};

impl Store {
    /// Whether the report of `period` was already built.
    pub fn report_built(&self, period: &str) -> Result<bool, StoreError> {
        Ok(self.report_complete(period)?.is_some())
    }

    /// Whether the report of `period` went out complete (`Some(true)`), incomplete and not yet
    /// corrected (`Some(false)`), or not at all (`None`).
    pub fn report_complete(&self, period: &str) -> Result<Option<bool>, StoreError> {
        self.with(|c| {
            c.query_row("SELECT complete FROM reports WHERE period = ?1", [period], |row| {
                row.get::<_, bool>(0)
            })
            .optional()
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

    /// Records the report of `period` (`complete`: built from a cycle in which every model
    /// was planned) and queues its `messages`, all or nothing. Returns `false` (and queues
    /// nothing) when that period's report already exists.
    pub fn commit_report(
        &self,
        period: &str,
        snapshot: &str,
        messages: &[NewMessage],
        now: f64,
        complete: bool,
    ) -> Result<bool, StoreError> {
        self.write_report(messages, now, |c| {
            c.execute(
                "INSERT OR IGNORE INTO reports (period, built_at, snapshot, complete) VALUES (?1, ?2, ?3, ?4)",
                params![period, now, snapshot, complete],
            )
        })
    }

    /// Replaces the incomplete report of `period` with a complete one and queues its
    /// `messages`, all or nothing. Returns `false` (and queues nothing) unless that period's
    /// report exists and is still incomplete.
    pub fn commit_correction(
        &self,
        period: &str,
        snapshot: &str,
        messages: &[NewMessage],
        now: f64,
    ) -> Result<bool, StoreError> {
        self.write_report(messages, now, |c| {
            c.execute(
                "UPDATE reports SET built_at = ?2, snapshot = ?3, complete = 1 WHERE period = ?1 AND complete = 0",
                params![period, now, snapshot],
            )
        })
    }

    /// In one transaction: `write` a report row, and when it wrote one, queue `messages`.
    fn write_report(
        &self,
        messages: &[NewMessage],
        now: f64,
        write: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<usize>,
    ) -> Result<bool, StoreError> {
        self.with(|c| {
            let transaction = c.transaction()?;
            if write(&transaction)? == 0 {
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

    fn mail(key: &str) -> NewMessage {
        NewMessage {
            channel: "email".into(),
            dedupe_key: key.into(),
            envelope: "{}".into(),
            body: vec![],
        }
    }

    #[test]
    fn a_period_is_committed_once_and_is_the_next_ones_baseline() {
        let store = Store::in_memory().expect("store");
        assert!(
            store
                .commit_report("2026-W47", "{\"a\":1}", &[mail("r47")], 1.0, true)
                .expect("first")
        );
        assert!(
            !store
                .commit_report("2026-W47", "{\"a\":2}", &[mail("r47b")], 2.0, true)
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
        assert!(
            !store
                .commit_correction("2026-W47", "{}", &[mail("r47c")], 3.0)
                .expect("correct"),
            "a complete report is not corrected"
        );
    }

    #[test]
    fn an_incomplete_report_is_corrected_once() {
        let store = Store::in_memory().expect("store");
        assert_eq!(store.report_complete("2026-W48").expect("state"), None);
        assert!(
            store
                .commit_report("2026-W48", "[]", &[mail("r48")], 1.0, false)
                .expect("incomplete")
        );
        assert_eq!(store.report_complete("2026-W48").expect("state"), Some(false));
        assert!(
            store
                .commit_correction("2026-W48", "[1]", &[mail("r48-corrected")], 2.0)
                .expect("corrected")
        );
        assert_eq!(store.report_complete("2026-W48").expect("state"), Some(true));
        assert!(
            !store
                .commit_correction("2026-W48", "[2]", &[mail("r48-again")], 3.0)
                .expect("once")
        );
        assert!(store.message_state("r48-again").expect("state").is_none());
        assert_eq!(
            store.previous_report("2026-W49").expect("previous"),
            Some(("2026-W48".into(), "[1]".into()))
        );
    }
}
