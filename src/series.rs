//! Time series as they come from a source: a label set and samples.
//!
//! Sources produce [`Series`] with irregular timestamps (scrapes jitter, gaps happen); the
//! forecasting core takes a regular grid, built by [`crate::forecast::grid`].

use std::collections::BTreeMap;
use std::fmt;

/// A label set, sorted by name. `__name__` is never kept: entities are identified by their
/// labels only, because some backends keep the metric name after functions and some drop it.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Labels(BTreeMap<String, String>);

impl Labels {
    /// Builds a label set, dropping `__name__`.
    pub fn new<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        let map = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .filter(|(k, _)| k != "__name__")
            .collect();
        Self(map)
    }

    /// The label value for `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Iterates over `(name, value)` pairs in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether the set has no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{k}={v:?}")?;
        }
        f.write_str("}")
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// One sample: Unix time in seconds (fractional allowed, as Prometheus returns) and a value
/// (which may be NaN or infinite, as Prometheus allows).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub timestamp: f64,
    pub value: f64,
}

/// One series of one entity.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}
