//! Samples Headroom scraped itself (see [`crate::source::scrape`]), kept for the longest
//! history a model asks for.

use rusqlite::params;

use super::{Store, StoreError};

/// One stored sample: metric name, labels as JSON, Unix seconds, value.
pub type ScrapedSample = (String, String, f64, f64);

impl Store {
    /// Appends a scrape's samples (a repeated timestamp replaces the earlier value).
    pub fn insert_scraped(&self, samples: &[ScrapedSample]) -> Result<(), StoreError> {
        self.with(|c| {
            let transaction = c.transaction()?;
            {
                let mut insert = transaction.prepare_cached(
                    "INSERT OR REPLACE INTO scraped (name, labels, ts, value) VALUES (?1, ?2, ?3, ?4)",
                )?;
                for (name, labels, ts, value) in samples {
                    insert.execute(params![name, labels, ts, value])?;
                }
            }
            transaction.commit()
        })
    }

    /// Samples between `start` and `end` (inclusive), of metric `name` when given, ordered by
    /// series and time.
    pub fn scraped_range(&self, name: Option<&str>, start: f64, end: f64) -> Result<Vec<ScrapedSample>, StoreError> {
        self.with(|c| {
            let mut statement = c.prepare_cached(
                "SELECT name, labels, ts, value FROM scraped
                 WHERE (?1 IS NULL OR name = ?1) AND ts >= ?2 AND ts <= ?3 ORDER BY name, labels, ts",
            )?;
            let rows = statement.query_map(params![name, start, end], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })?;
            rows.collect()
        })
    }

    /// The newest scraped timestamp, if any.
    pub fn last_scraped(&self) -> Result<Option<f64>, StoreError> {
        self.with(|c| c.query_row("SELECT MAX(ts) FROM scraped", [], |row| row.get(0)))
    }

    /// Forgets samples older than `before`.
    pub fn prune_scraped(&self, before: f64) -> Result<usize, StoreError> {
        self.with(|c| c.execute("DELETE FROM scraped WHERE ts < ?1", [before]))
    }
}
