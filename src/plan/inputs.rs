//! What an entity is planned against, found among a model's series: its capacity, its
//! driver, and the helpers that line series up on one grid.

use crate::forecast::Grid;
use crate::format;
use crate::series::{Labels, Series};

/// Why an entity's capacity cannot be used (the entity is then an error, never planned).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum CapacityProblem {
    #[error(
        "the capacity query `{}` returns no series matching the labels {labels}",
        format::query(query)
    )]
    NoMatchingSeries { query: String, labels: Labels },
    #[error(
        "the capacity series {series} of `{}` has no finite sample in the last {} (its last was {})",
        format::query(query),
        format::days_or_hours(*stale_after),
        last.map_or_else(|| "never, in the history window".to_string(), format::time)
    )]
    NoRecentSample {
        query: String,
        series: Labels,
        last: Option<f64>,
        stale_after: f64,
    },
    #[error(
        "the capacity series {series} of `{}` reads {value}: a capacity must be above 0 \
         (is the exporter behind it down, or does a rule default to 0?)",
        format::query(query)
    )]
    NotPositive { query: String, series: Labels, value: f64 },
    #[error(
        "the capacity series {series} of `{}` reads {value} (its last finite sample was {}): \
         a capacity must be a number above 0 (does a rule divide by zero?)",
        format::query(query),
        last.map_or_else(|| "never, in the history window".to_string(), format::time)
    )]
    NotFinite {
        query: String,
        series: Labels,
        value: f64,
        last: Option<f64>,
    },
}

/// Why a model's driver cannot be used for an entity (it is then forecast on its own).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DriverProblem {
    #[error("none of the {series} series of driver {driver} matches its labels")]
    NoMatchingSeries { driver: String, series: usize },
    #[error("driver {0} has no finite sample")]
    NoSample(String),
    #[error("driver {driver} cannot be fitted ({points} shared points, or it never varies)")]
    CannotFit { driver: String, points: usize },
}

/// Where each entity's capacity comes from.
pub enum CapacityLookup {
    None,
    Constant(f64),
    /// The capacity query's series over the history window.
    Series {
        query: String,
        series: Vec<Series>,
    },
}

/// An entity's capacity: the value in force now, and how it changed over the history.
#[derive(Clone, Debug, PartialEq)]
pub struct EntityCapacity {
    pub now: f64,
    /// The capacity level in force from each instant on (Unix seconds, value), oldest
    /// first, one entry per change; empty for a constant capacity.
    pub levels: Vec<(f64, f64)>,
}

/// Relative changes smaller than this are measurement noise, not a resize.
const CHANGE_TOLERANCE: f64 = 1e-3;

impl EntityCapacity {
    /// The changes of capacity over the history: (when, from, to).
    pub fn changes(&self) -> impl Iterator<Item = (f64, f64, f64)> + '_ {
        self.levels.windows(2).map(|w| (w[1].0, w[0].1, w[1].1))
    }

    /// The capacity in force at `t`.
    pub fn at(&self, t: f64) -> f64 {
        let after = self.levels.partition_point(|(start, _)| *start <= t);
        match after {
            0 => self.levels.first().map_or(self.now, |(_, v)| *v),
            i => self.levels[i - 1].1,
        }
    }
}

impl CapacityLookup {
    /// The capacity for `labels` as of `now`: from the series with exactly these labels, else
    /// the one whose labels are the largest subset of them (a cluster's capacity for each of
    /// its nodes). A capacity must have a finite sample within `stale_after` of `now`, and be
    /// above 0: an exporter that went away, or a rule that defaults to 0, is not a capacity.
    pub(super) fn for_entity(
        &self,
        labels: &Labels,
        now: f64,
        stale_after: f64,
    ) -> Result<Option<EntityCapacity>, CapacityProblem> {
        let (query, series) = match self {
            CapacityLookup::None => return Ok(None),
            CapacityLookup::Constant(value) => {
                return Ok(Some(EntityCapacity {
                    now: *value,
                    levels: Vec::new(),
                }));
            }
            CapacityLookup::Series { query, series } => (query, series),
        };
        let Some(candidate) = matching_series(series, labels) else {
            return Err(CapacityProblem::NoMatchingSeries {
                query: query.clone(),
                labels: labels.clone(),
            });
        };
        let last = candidate.samples.iter().rev().find(|s| s.value.is_finite());
        let Some(last) = last.filter(|s| now - s.timestamp <= stale_after) else {
            // Still answering, with NaN or an infinity (a ratio rule dividing by zero): say so.
            if let Some(newest) = candidate
                .samples
                .last()
                .filter(|s| !s.value.is_finite() && now - s.timestamp <= stale_after)
            {
                return Err(CapacityProblem::NotFinite {
                    query: query.clone(),
                    series: candidate.labels.clone(),
                    value: newest.value,
                    last: last.map(|s| s.timestamp),
                });
            }
            return Err(CapacityProblem::NoRecentSample {
                query: query.clone(),
                series: candidate.labels.clone(),
                last: last.map(|s| s.timestamp),
                stale_after,
            });
        };
        if last.value <= 0.0 {
            return Err(CapacityProblem::NotPositive {
                query: query.clone(),
                series: candidate.labels.clone(),
                value: last.value,
            });
        }
        // The levels in force over the history: usable (finite, positive) samples only, so a
        // glitch to 0 or NaN in the past is not taken for a resize.
        let mut levels: Vec<(f64, f64)> = Vec::new();
        for sample in candidate
            .samples
            .iter()
            .filter(|s| s.value.is_finite() && s.value > 0.0)
        {
            match levels.last() {
                Some((_, level)) if (sample.value - level).abs() <= CHANGE_TOLERANCE * level.abs() => {}
                _ => levels.push((sample.timestamp, sample.value)),
            }
        }
        if levels.len() <= 1 {
            levels.clear();
        }
        Ok(Some(EntityCapacity {
            now: last.value,
            levels,
        }))
    }
}

/// A remaining quantity (free bytes, available memory) as it would have been had the
/// capacity always been today's: each step gains the capacity added since. Consumption is what
/// a forecast of what remains must follow; an online resize is not a sudden fall in
/// consumption.
pub(super) fn remaining_at_todays_capacity(grid: &mut Grid, capacity: &EntityCapacity) {
    if capacity.levels.is_empty() {
        return;
    }
    for (index, value) in grid.values.iter_mut().enumerate() {
        if value.is_finite() {
            let t = grid.start + index as f64 * grid.step;
            *value += capacity.now - capacity.at(t);
        }
    }
}

/// The value of `grid` at `t`, if there is a sample within half a step.
pub(super) fn value_at(grid: &Grid, t: f64) -> Option<f64> {
    let index = ((t - grid.start) / grid.step).round();
    if index < 0.0 || (grid.start + index * grid.step - t).abs() > grid.step / 2.0 {
        return None;
    }
    grid.values.get(index as usize).copied().filter(|v| v.is_finite())
}

/// `grid` averaged into at most `points` buckets of (mean time, mean value), gaps skipped.
pub(super) fn chart_history(grid: &Grid, points: usize) -> Vec<(f64, f64)> {
    let per_bucket = grid.values.len().div_ceil(points.max(1)).max(1);
    grid.values
        .chunks(per_bucket)
        .enumerate()
        .filter_map(|(bucket, values)| {
            let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
            (!finite.is_empty()).then(|| {
                let middle = (bucket * per_bucket) as f64 + (values.len() as f64 - 1.0) / 2.0;
                (
                    grid.start + middle * grid.step,
                    finite.iter().sum::<f64>() / finite.len() as f64,
                )
            })
        })
        .collect()
}

/// The series for an entity with `labels`: the one with exactly these labels, else the one whose
/// labels are the largest subset of them (a cluster's capacity or driver for each of its nodes),
/// else the only series there is (one cluster-wide figure applies to every entity).
pub fn matching_series<'a>(series: &'a [Series], labels: &Labels) -> Option<&'a Series> {
    series
        .iter()
        .find(|s| &s.labels == labels)
        .or_else(|| {
            series
                .iter()
                .filter(|s| s.labels.iter().all(|(k, v)| labels.get(k) == Some(v)))
                .max_by_key(|s| s.labels.iter().count())
        })
        .or(match series {
            // One series answers for every entity (a fleet-wide total, `vector(64e9)`), unless
            // it names another entity: a label both carry with different values (the size of
            // pool "b" is not the size of pool "a").
            [only]
                if only
                    .labels
                    .iter()
                    .all(|(k, v)| labels.get(k).is_none_or(|mine| mine == v)) =>
            {
                Some(only)
            }
            _ => None,
        })
}

/// The values of two grids with the same step at the timestamps they share.
pub(super) fn aligned(a: &Grid, b: &Grid) -> (Vec<f64>, Vec<f64>) {
    let offset = ((b.start - a.start) / a.step).round() as i64;
    let mut left = Vec::new();
    let mut right = Vec::new();
    for (i, &value) in a.values.iter().enumerate() {
        let j = i as i64 - offset;
        if j >= 0 && (j as usize) < b.values.len() {
            left.push(value);
            right.push(b.values[j as usize]);
        }
    }
    (left, right)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::Sample;

    fn lookup(values: &[f64]) -> CapacityLookup {
        CapacityLookup::Series {
            query: "limit".into(),
            series: vec![Series {
                labels: Labels::new([("service", "cart")]),
                samples: values
                    .iter()
                    .enumerate()
                    .map(|(i, &value)| Sample {
                        timestamp: i as f64 * 300.0,
                        value,
                    })
                    .collect(),
            }],
        }
    }

    /// A lone series answers for every entity unless it names another one: the size of pool
    /// "b" is not pool "a"'s, a cluster-wide total (no shared label) is everyone's.
    #[test]
    fn a_lone_series_of_another_entity_is_no_match() {
        let lone = |pairs: &[(&str, &str)]| {
            vec![Series {
                labels: Labels::new(pairs.iter().copied()),
                samples: Vec::new(),
            }]
        };
        let pool_a = Labels::new([("pool", "a"), ("cluster", "eu")]);
        assert!(matching_series(&lone(&[("pool", "b")]), &pool_a).is_none());
        assert!(matching_series(&lone(&[("cluster", "us"), ("job", "k")]), &pool_a).is_none());
        assert!(matching_series(&lone(&[]), &pool_a).is_some());
        assert!(matching_series(&lone(&[("job", "ksm")]), &pool_a).is_some());
        assert!(matching_series(&lone(&[("cluster", "eu"), ("job", "ksm")]), &pool_a).is_some());
    }

    /// A capacity that reads NaN or 0 now is refused, saying what it reads.
    #[test]
    fn a_capacity_that_reads_nan_or_zero_is_named() {
        let labels = Labels::new([("service", "cart")]);
        let now = 9.0 * 300.0;
        let nan = lookup(&[
            8.0,
            8.0,
            8.0,
            8.0,
            8.0,
            f64::NAN,
            f64::NAN,
            f64::NAN,
            f64::NAN,
            f64::NAN,
        ]);
        let error = nan.for_entity(&labels, now, 1200.0).expect_err("NaN is no capacity");
        assert!(
            matches!(error, CapacityProblem::NotFinite { last: Some(1200.0), .. }),
            "{error}"
        );
        assert!(error.to_string().contains("reads NaN"), "{error}");
        let zero = lookup(&[8.0, 8.0, 0.0]);
        let error = zero.for_entity(&labels, 600.0, 1200.0).expect_err("0 is no capacity");
        assert!(error.to_string().contains("reads 0"), "{error}");
        // Old NaN samples are just a series that stopped.
        let stopped = lookup(&[8.0, f64::NAN]);
        assert!(matches!(
            stopped.for_entity(&labels, now, 1200.0),
            Err(CapacityProblem::NoRecentSample { .. })
        ));
    }
}
