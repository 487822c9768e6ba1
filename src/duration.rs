//! Durations written the way Prometheus writes them (`30s`, `5m`, `1h30m`, `28d`, `1w`).
//!
//! Capacity planners read these in PromQL every day, so config and model files use the same
//! syntax rather than a second one (humantime's `28days`). Units: `ms`, `s`, `m`, `h`, `d`,
//! `w`, `y` (365 days), concatenated from largest to smallest as Prometheus requires.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A positive duration parsed from Prometheus syntax; keeps the text it was written as.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PromDuration(Duration);

/// Why a duration string is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {text:?}: {reason} (valid: a number and unit such as 30s, 5m, 1h30m, 28d, 1w)")]
pub struct DurationError {
    text: String,
    reason: &'static str,
}

impl PromDuration {
    /// Builds a duration from whole seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }

    /// The duration as a std type.
    pub fn as_std(self) -> Duration {
        self.0
    }

    /// The duration in seconds, as a float (what the forecasting maths works in).
    pub fn as_secs_f64(self) -> f64 {
        self.0.as_secs_f64()
    }
}

impl FromStr for PromDuration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |reason| DurationError {
            text: text.to_string(),
            reason,
        };
        let bytes = text.as_bytes();
        if bytes.is_empty() {
            return Err(err("empty"));
        }
        // Units in the order Prometheus requires them; a unit may appear once.
        const UNITS: [(&str, u64); 7] = [
            ("y", 365 * 86_400_000),
            ("w", 7 * 86_400_000),
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1_000),
            ("ms", 1),
        ];
        let mut total_ms: u64 = 0;
        let mut pos = 0;
        let mut last_unit: Option<usize> = None;
        while pos < bytes.len() {
            let start = pos;
            while pos < bytes.len() && bytes[pos].is_ascii_digit() {
                pos += 1;
            }
            if pos == start {
                return Err(err("expected a number"));
            }
            let number: u64 = text[start..pos].parse().map_err(|_| err("number too large"))?;
            let unit_start = pos;
            while pos < bytes.len() && bytes[pos].is_ascii_alphabetic() {
                pos += 1;
            }
            let unit = &text[unit_start..pos];
            let Some(index) = UNITS.iter().position(|(name, _)| *name == unit) else {
                return Err(err(if unit.is_empty() {
                    "missing unit"
                } else {
                    "unknown unit"
                }));
            };
            if last_unit.is_some_and(|last| index <= last) {
                return Err(err("units must go from largest to smallest, each once"));
            }
            last_unit = Some(index);
            let part = number.checked_mul(UNITS[index].1).ok_or_else(|| err("too large"))?;
            total_ms = total_ms.checked_add(part).ok_or_else(|| err("too large"))?;
        }
        if total_ms == 0 {
            return Err(err("must be greater than zero"));
        }
        Ok(Self(Duration::from_millis(total_ms)))
    }
}

impl fmt::Display for PromDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.0.as_millis() as u64;
        const UNITS: [(&str, u64); 6] = [
            ("w", 7 * 86_400_000),
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1_000),
            ("ms", 1),
        ];
        for (name, size) in UNITS {
            if ms >= size {
                write!(f, "{}{}", ms / size, name)?;
                ms %= size;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for PromDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl<'de> serde::Deserialize<'de> for PromDuration {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for PromDuration {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prometheus_durations() {
        let secs = |s: &str| s.parse::<PromDuration>().map(|d| d.as_secs_f64());
        assert_eq!(secs("30s"), Ok(30.0));
        assert_eq!(secs("5m"), Ok(300.0));
        assert_eq!(secs("1h30m"), Ok(5400.0));
        assert_eq!(secs("28d"), Ok(28.0 * 86400.0));
        assert_eq!(secs("1w2d"), Ok(9.0 * 86400.0));
        assert_eq!(secs("250ms"), Ok(0.25));
    }

    #[test]
    fn rejects_what_prometheus_rejects() {
        for bad in ["", "5", "m", "5x", "1m1h", "0s", "5m5m", "-5m", "1.5h"] {
            assert!(bad.parse::<PromDuration>().is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn displays_round_trip() {
        for text in ["5m", "1h30m", "2w", "1d12h", "250ms"] {
            let parsed: PromDuration = text.parse().expect("valid");
            assert_eq!(parsed.to_string(), text);
        }
    }
}
