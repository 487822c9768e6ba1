//! Forecast snapshots and their scores (see [`crate::forecast::accuracy`]).
//!
//! A snapshot's path is stored as little-endian `f64` sextuples (time, mean, 80 % and 95 %
//! bounds), up to the last checkpoint only: a few kilobytes per entity per day. Snapshots are
//! pruned once their last checkpoint is scored or can no longer be.

use std::collections::HashMap;

use rusqlite::params;

use super::{Store, StoreError};
use crate::forecast::PathPoint;
use crate::forecast::accuracy::{CHECKPOINTS, DueSnapshots, Score, Snapshot};

impl Store {
    /// When the last snapshot of each entity of `model` was made.
    pub fn last_snapshots(&self, model: &str) -> Result<HashMap<String, f64>, StoreError> {
        self.with(|c| {
            let mut statement = c.prepare_cached(
                "SELECT entity, MAX(made_at) FROM forecast_snapshots WHERE model = ?1 GROUP BY entity",
            )?;
            let rows = statement.query_map([model], |row| Ok((row.get(0)?, row.get(1)?)))?;
            rows.collect()
        })
    }

    /// Keeps new snapshots of `model`.
    pub fn save_snapshots(&self, model: &str, snapshots: &[Snapshot]) -> Result<(), StoreError> {
        self.with(|c| {
            let transaction = c.transaction()?;
            {
                let mut insert = transaction.prepare_cached(
                    "INSERT OR REPLACE INTO forecast_snapshots (model, entity, made_at, scale, path) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for snapshot in snapshots {
                    let path: Vec<u8> = snapshot
                        .path
                        .iter()
                        .flat_map(|p| [p.timestamp, p.mean, p.lower_80, p.upper_80, p.lower_95, p.upper_95])
                        .flat_map(f64::to_le_bytes)
                        .collect();
                    insert.execute(params![model, snapshot.entity, snapshot.made_at, snapshot.scale, path])?;
                }
            }
            transaction.commit()
        })
    }

    /// Snapshots of `entities` of `model` with a checkpoint passed by `now` and not scored yet,
    /// by entity: `(snapshot, checkpoint name, span)`. Asked a batch of entities at a time, so
    /// that a fleet's snapshots are never all in memory.
    pub fn due_for_scoring(&self, model: &str, now: f64, entities: &[String]) -> Result<DueSnapshots, StoreError> {
        // A list of strings always serialises.
        let entities = serde_json::to_string(entities).unwrap_or_else(|_| "[]".into());
        self.with(|c| {
            let mut due = DueSnapshots::new();
            let mut statement = c.prepare_cached(
                "SELECT s.entity, s.made_at, s.scale, s.path FROM forecast_snapshots s
                 WHERE s.model = ?1 AND s.entity IN (SELECT value FROM json_each(?5)) AND s.made_at + ?2 <= ?3
                   AND NOT EXISTS (SELECT 1 FROM forecast_scores r WHERE r.model = s.model AND r.entity = s.entity
                                   AND r.made_at = s.made_at AND r.checkpoint = ?4)",
            )?;
            for (name, span) in CHECKPOINTS {
                let rows = statement.query_map(params![model, span, now, name, entities], |row| {
                    let bytes: Vec<u8> = row.get(3)?;
                    Ok(Snapshot {
                        entity: row.get(0)?,
                        made_at: row.get(1)?,
                        scale: row.get(2)?,
                        path: decode_path(&bytes),
                    })
                })?;
                for snapshot in rows {
                    let snapshot = snapshot?;
                    due.entry(snapshot.entity.clone())
                        .or_default()
                        .push((snapshot, name, span));
                }
            }
            Ok(due)
        })
    }

    /// Records scores of `model`.
    pub fn save_scores(&self, model: &str, scores: &[Score]) -> Result<(), StoreError> {
        self.with(|c| {
            let transaction = c.transaction()?;
            {
                let mut insert = transaction.prepare_cached(
                    "INSERT OR REPLACE INTO forecast_scores
                     (model, entity, made_at, checkpoint, mase, coverage_80, coverage_95, points, predicted, actual, at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )?;
                for s in scores {
                    insert.execute(params![
                        model,
                        s.entity,
                        s.made_at,
                        s.checkpoint,
                        s.mase,
                        s.coverage_80,
                        s.coverage_95,
                        s.points as i64,
                        s.predicted,
                        s.actual,
                        s.at
                    ])?;
                }
            }
            transaction.commit()
        })
    }

    /// The latest score of each checkpoint for each entity of `model`.
    pub fn latest_scores(&self, model: &str) -> Result<HashMap<String, Vec<Score>>, StoreError> {
        self.with(|c| {
            let mut statement = c.prepare_cached(
                "SELECT entity, made_at, checkpoint, mase, coverage_80, coverage_95, points, predicted, actual, at
                 FROM forecast_scores r WHERE model = ?1 AND made_at = (
                    SELECT MAX(made_at) FROM forecast_scores l
                    WHERE l.model = r.model AND l.entity = r.entity AND l.checkpoint = r.checkpoint)",
            )?;
            let rows = statement.query_map([model], |row| {
                Ok(Score {
                    entity: row.get(0)?,
                    made_at: row.get(1)?,
                    checkpoint: row.get(2)?,
                    mase: row.get(3)?,
                    coverage_80: row.get(4)?,
                    coverage_95: row.get(5)?,
                    points: row.get::<_, i64>(6)? as usize,
                    predicted: row.get(7)?,
                    actual: row.get(8)?,
                    at: row.get(9)?,
                })
            })?;
            let mut by_entity: HashMap<String, Vec<Score>> = HashMap::new();
            for score in rows {
                let score = score?;
                by_entity.entry(score.entity.clone()).or_default().push(score);
            }
            Ok(by_entity)
        })
    }

    /// Forgets snapshots made before `before` and scores older than `scores_before`.
    pub fn prune_accuracy(&self, before: f64, scores_before: f64) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute("DELETE FROM forecast_snapshots WHERE made_at < ?1", [before])?;
            c.execute("DELETE FROM forecast_scores WHERE made_at < ?1", [scores_before])?;
            Ok(())
        })
    }
}

fn decode_path(bytes: &[u8]) -> Vec<PathPoint> {
    let values: Vec<f64> = bytes
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
        .collect();
    values
        .chunks_exact(6)
        .map(|v| PathPoint {
            timestamp: v[0],
            mean: v[1],
            lower_80: v[2],
            upper_80: v[3],
            lower_95: v[4],
            upper_95: v[5],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_is_due_once_per_checkpoint_until_scored() {
        let store = Store::in_memory().expect("store");
        let point = |t: f64| PathPoint {
            timestamp: t,
            mean: 1.0,
            lower_80: 0.5,
            upper_80: 1.5,
            lower_95: 0.0,
            upper_95: 2.0,
        };
        let snapshot = Snapshot {
            entity: "{host=\"a\"}".into(),
            made_at: 1000.0,
            scale: 0.5,
            path: vec![point(2000.0), point(90_000.0)],
        };
        store
            .save_snapshots("disk", std::slice::from_ref(&snapshot))
            .expect("save");
        assert_eq!(store.last_snapshots("disk").expect("last")["{host=\"a\"}"], 1000.0);
        let a = ["{host=\"a\"}".to_string()];
        assert!(store.due_for_scoring("disk", 2000.0, &a).expect("due").is_empty());
        // Only the entities asked for are read.
        let others = ["{host=\"b\"}".to_string()];
        assert!(
            store
                .due_for_scoring("disk", 1000.0 + 86_400.0, &others)
                .expect("due")
                .is_empty()
        );
        let due = store.due_for_scoring("disk", 1000.0 + 86_400.0, &a).expect("due");
        let entries = &due["{host=\"a\"}"];
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].0, snapshot, "the path survives the round trip");
        assert_eq!(entries[0].1, "1d");
        let score = crate::forecast::accuracy::score(&entries[0].0, "1d", 86_400.0, |_| Some(1.0)).expect("score");
        store.save_scores("disk", &[score]).expect("save score");
        assert!(
            store
                .due_for_scoring("disk", 1000.0 + 86_400.0, &a)
                .expect("due")
                .is_empty()
        );
        let latest = store.latest_scores("disk").expect("latest");
        assert_eq!(latest["{host=\"a\"}"][0].mase, 0.0);
    }
}
