//! Cached history: each series of each query on its step grid, so that the next cycle fetches
//! only the samples since the last one (plus an overlap for late samples).
//!
//! One row per series holds its values as little-endian `f64` on a regular grid (`NaN` where
//! there was no sample): compact, and rewritten only when it changed (the window slid, or new
//! samples arrived). `fetches` says
//! which range of a query the rows cover.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};
use crate::series::Labels;

/// One cached series on its grid.
#[derive(Clone, Debug, PartialEq)]
pub struct CachedGrid {
    pub labels: Labels,
    /// Unix seconds of `values[0]`.
    pub start: f64,
    pub step: f64,
    pub values: Vec<f64>,
}

/// The range of a query the cache covers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Coverage {
    pub step: f64,
    pub from: f64,
    pub to: f64,
}

impl Store {
    /// What the cache holds for `query_key`: its coverage and its series.
    pub fn cached_history(&self, query_key: &str) -> Result<Option<(Coverage, Vec<CachedGrid>)>, StoreError> {
        self.with(|c| {
            let coverage = c
                .query_row(
                    "SELECT step, covered_from, covered_to FROM fetches WHERE query_key = ?1",
                    [query_key],
                    |row| {
                        Ok(Coverage {
                            step: row.get(0)?,
                            from: row.get(1)?,
                            to: row.get(2)?,
                        })
                    },
                )
                .optional()?;
            let Some(coverage) = coverage else {
                return Ok(None);
            };
            let mut statement =
                c.prepare_cached("SELECT labels, start, step, vals FROM history WHERE query_key = ?1")?;
            let rows = statement.query_map([query_key], |row| {
                let labels: String = row.get(0)?;
                let bytes: Vec<u8> = row.get(3)?;
                Ok((labels, row.get::<_, f64>(1)?, row.get::<_, f64>(2)?, bytes))
            })?;
            let mut grids = Vec::new();
            for row in rows {
                let (labels, start, step, bytes) = row?;
                // A row that does not decode is dropped: the next fetch is then a full one.
                let Ok(map) = serde_json::from_str::<std::collections::BTreeMap<String, String>>(&labels) else {
                    return Ok(None);
                };
                if bytes.len() % 8 != 0 {
                    return Ok(None);
                }
                let values = bytes
                    .chunks_exact(8)
                    .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
                    .collect();
                grids.push(CachedGrid {
                    labels: Labels::new(map),
                    start,
                    step,
                    values,
                });
            }
            Ok(Some((coverage, grids)))
        })
    }

    /// Makes the cache of `query_key` hold `grids` over `coverage`. Only the grids whose
    /// `changed` flag is set are written, and rows of series no longer in `grids` are removed:
    /// within one step the answer is mostly what is cached, and rewriting a fleet's history
    /// every cycle would be most of the state file's writes.
    pub fn save_history(
        &self,
        query_key: &str,
        coverage: Coverage,
        grids: &[CachedGrid],
        changed: &[bool],
        now: f64,
    ) -> Result<(), StoreError> {
        let labels: Vec<String> = grids
            .iter()
            .map(|g| serde_json::to_string(&g.labels).unwrap_or_else(|_| "{}".into()))
            .collect();
        let everything = changed.len() < grids.len() || changed.iter().all(|c| *c);
        self.with(|c| {
            let transaction = c.transaction()?;
            if everything {
                transaction.execute("DELETE FROM history WHERE query_key = ?1", [query_key])?;
            } else {
                // A list of strings always serialises.
                let kept = serde_json::to_string(&labels).unwrap_or_else(|_| "[]".into());
                transaction.execute(
                    "DELETE FROM history WHERE query_key = ?1 AND labels NOT IN (SELECT value FROM json_each(?2))",
                    params![query_key, kept],
                )?;
            }
            {
                let mut upsert = transaction.prepare_cached(
                    "INSERT INTO history (query_key, labels, start, step, vals) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (query_key, labels) DO UPDATE SET start = ?3, step = ?4, vals = ?5",
                )?;
                for ((grid, labels), _) in grids
                    .iter()
                    .zip(&labels)
                    .zip(changed.iter().chain(std::iter::repeat(&true)))
                    .filter(|(_, changed)| everything || **changed)
                {
                    let bytes: Vec<u8> = grid.values.iter().flat_map(|v| v.to_le_bytes()).collect();
                    upsert.execute(params![query_key, labels, grid.start, grid.step, bytes])?;
                }
            }
            transaction.execute(
                "INSERT INTO fetches (query_key, step, covered_from, covered_to, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (query_key) DO UPDATE SET step = ?2, covered_from = ?3, covered_to = ?4, updated_at = ?5",
                params![query_key, coverage.step, coverage.from, coverage.to, now],
            )?;
            transaction.commit()
        })
    }

    /// Forgets cached queries not refreshed since `before` (models removed from the config).
    pub fn prune_history(&self, before: f64) -> Result<usize, StoreError> {
        self.with(|c| {
            let transaction = c.transaction()?;
            transaction.execute(
                "DELETE FROM history WHERE query_key IN (SELECT query_key FROM fetches WHERE updated_at < ?1)",
                [before],
            )?;
            let removed = transaction.execute("DELETE FROM fetches WHERE updated_at < ?1", [before])?;
            transaction.commit()?;
            Ok(removed)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_round_trip_with_their_gaps() {
        let store = Store::in_memory().expect("store");
        assert!(store.cached_history("q").expect("read").is_none());
        let grid = CachedGrid {
            labels: Labels::new([("instance", "a")]),
            start: 600.0,
            step: 300.0,
            values: vec![1.0, f64::NAN, 3.5],
        };
        let coverage = Coverage {
            step: 300.0,
            from: 600.0,
            to: 1200.0,
        };
        let other = CachedGrid {
            labels: Labels::new([("instance", "b")]),
            ..grid.clone()
        };
        store
            .save_history("q", coverage, &[grid.clone(), other.clone()], &[true, true], 10.0)
            .expect("save");
        let (read_coverage, grids) = store.cached_history("q").expect("read").expect("cached");
        assert_eq!(read_coverage, coverage);
        assert_eq!(grids.len(), 2);
        assert_eq!(grids[0].labels, grid.labels);
        assert_eq!(grids[0].values[0], 1.0);
        assert!(grids[0].values[1].is_nan());
        // Unchanged grids are not rewritten (the stale value shows it), and series no longer
        // answered are forgotten.
        let stale = CachedGrid {
            values: vec![9.0],
            ..grid.clone()
        };
        store
            .save_history("q", coverage, std::slice::from_ref(&stale), &[false], 10.0)
            .expect("save");
        let (_, grids) = store.cached_history("q").expect("read").expect("cached");
        assert_eq!(grids.len(), 1);
        assert_eq!(grids[0].values.len(), 3);
        store
            .save_history("q", coverage, std::slice::from_ref(&stale), &[true], 10.0)
            .expect("save");
        let (_, grids) = store.cached_history("q").expect("read").expect("cached");
        assert_eq!(grids[0].values, [9.0]);
        assert_eq!(store.prune_history(11.0).expect("prune"), 1);
        assert!(store.cached_history("q").expect("read").is_none());
    }
}
