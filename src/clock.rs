//! Where "now" comes from, and how people write instants.
//!
//! A planning cycle plans "as of" one instant. Live sources plan as of the wall clock; a dump
//! file plans as of its last sample (its history ends there); `--at` and replay plan as of a
//! moment the user names. Every command and the daemon read that instant from one [`Clock`],
//! once per cycle, and it travels with the cycle's outcome (`evaluated_at`) from then on.

use chrono::DateTime;

/// Seconds since the Unix epoch, as the forecasting maths and the query API use them.
pub type UnixSeconds = f64;

/// Where the instant a cycle plans from comes from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Clock {
    /// The wall clock (live sources).
    Wall,
    /// A fixed instant: the last sample of a dump file, `--at`, or a replayed moment.
    Fixed(UnixSeconds),
}

impl Clock {
    /// The instant to plan from.
    pub fn now(self) -> UnixSeconds {
        match self {
            Clock::Wall => unix_now(),
            Clock::Fixed(t) => t,
        }
    }

    /// This clock, or a fixed one at `at` when the user named an instant.
    pub fn or_at(self, at: Option<UnixSeconds>) -> Clock {
        at.map_or(self, Clock::Fixed)
    }
}

/// Seconds since the Unix epoch, now, from the wall clock.
pub fn unix_now() -> UnixSeconds {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// How an instant was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeForm {
    /// A number of Unix seconds.
    UnixSeconds,
    /// RFC 3339, with its UTC offset in seconds.
    Rfc3339 { offset_secs: i32 },
}

/// Parses Unix seconds or RFC 3339 (`2026-11-26T10:00:00Z`, `2026-03-29T09:00:00+02:00`).
pub fn parse_timestamp(text: &str) -> Option<(UnixSeconds, TimeForm)> {
    if let Ok(seconds) = text.parse::<f64>() {
        return seconds.is_finite().then_some((seconds, TimeForm::UnixSeconds));
    }
    let parsed = DateTime::parse_from_rfc3339(text).ok()?;
    Some((
        parsed.timestamp() as f64 + f64::from(parsed.timestamp_subsec_nanos()) / 1e9,
        TimeForm::Rfc3339 {
            offset_secs: parsed.offset().local_minus_utc(),
        },
    ))
}

/// Why a text is not an instant.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum InstantError {
    #[error("{0:?} is neither Unix seconds nor RFC 3339 (e.g. 2026-11-26T10:00:00Z)")]
    Unreadable(String),
    #[error("{text:?} reads as {unit}, not Unix seconds; give Unix seconds ({seconds:.0}) or RFC 3339")]
    NotSeconds {
        text: String,
        unit: &'static str,
        seconds: f64,
    },
}

/// Parses an instant a person gave on the command line or in a config file. A number too
/// large for Unix seconds of any capacity history (milliseconds from a dashboard's URL) is
/// refused with the value in seconds, never read as a date thousands of years away.
pub fn parse_instant(text: &str) -> Result<UnixSeconds, InstantError> {
    let (t, form) = parse_timestamp(text.trim()).ok_or_else(|| InstantError::Unreadable(text.to_string()))?;
    if form == TimeForm::UnixSeconds {
        let unit = EpochUnit::guess(t);
        if unit != EpochUnit::Seconds {
            return Err(InstantError::NotSeconds {
                text: text.to_string(),
                unit: unit.name(),
                seconds: unit.to_seconds(t),
            });
        }
    }
    Ok(t)
}

/// The unit a number of time since 1970 is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EpochUnit {
    Seconds,
    Milliseconds,
    Microseconds,
    Nanoseconds,
}

impl EpochUnit {
    /// The unit a timestamp of this size is written in: Unix seconds above 1e11 lie past the
    /// year 5000, never in a capacity history, so each unit has its own range of magnitudes
    /// for any date from 1973 to 5138.
    pub fn guess(value: f64) -> EpochUnit {
        match value.abs() {
            v if v < 1e11 => EpochUnit::Seconds,
            v if v < 1e14 => EpochUnit::Milliseconds,
            v if v < 1e17 => EpochUnit::Microseconds,
            _ => EpochUnit::Nanoseconds,
        }
    }

    /// A timestamp in this unit, in seconds.
    pub fn to_seconds(self, value: f64) -> UnixSeconds {
        match self {
            EpochUnit::Seconds => value,
            EpochUnit::Milliseconds => value / 1e3,
            EpochUnit::Microseconds => value / 1e6,
            EpochUnit::Nanoseconds => value / 1e9,
        }
    }

    /// Seconds in this unit.
    pub fn from_seconds(self, seconds: UnixSeconds) -> f64 {
        match self {
            EpochUnit::Seconds => seconds,
            EpochUnit::Milliseconds => seconds * 1e3,
            EpochUnit::Microseconds => seconds * 1e6,
            EpochUnit::Nanoseconds => seconds * 1e9,
        }
    }

    /// The unit's name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            EpochUnit::Seconds => "seconds",
            EpochUnit::Milliseconds => "milliseconds",
            EpochUnit::Microseconds => "microseconds",
            EpochUnit::Nanoseconds => "nanoseconds",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--at` in milliseconds (a dashboard's URL) is refused with the value in seconds, never
    /// read as a date tens of thousands of years away.
    #[test]
    fn an_instant_in_milliseconds_is_refused_with_its_value_in_seconds() {
        assert_eq!(parse_instant("1796000000"), Ok(1_796_000_000.0));
        let error = parse_instant("1796000000000").expect_err("milliseconds").to_string();
        assert!(
            error.contains("milliseconds") && error.contains("1796000000"),
            "{error}"
        );
        assert!(parse_instant("2026-11-26T10:00:00Z").is_ok());
    }

    #[test]
    fn instants_parse_in_both_forms() {
        assert_eq!(parse_timestamp("1700000000"), Some((1.7e9, TimeForm::UnixSeconds)));
        assert_eq!(
            parse_timestamp("2026-03-29T09:00:00+02:00"),
            Some((1_774_767_600.0, TimeForm::Rfc3339 { offset_secs: 7200 }))
        );
        assert!(parse_instant("yesterday").is_err());
        assert_eq!(Clock::Wall.or_at(Some(5.0)).now(), 5.0);
        assert_eq!(Clock::Fixed(3.0).or_at(None).now(), 3.0);
    }

    #[test]
    fn epoch_units_are_told_apart_by_size() {
        assert_eq!(EpochUnit::guess(1_772_409_600.0), EpochUnit::Seconds);
        assert_eq!(EpochUnit::guess(1_772_409_600_000.0), EpochUnit::Milliseconds);
        assert_eq!(EpochUnit::guess(1_772_409_600_000_000.0), EpochUnit::Microseconds);
        assert_eq!(EpochUnit::guess(1.7724096e18), EpochUnit::Nanoseconds);
        assert_eq!(EpochUnit::Milliseconds.to_seconds(1_772_409_600_000.0), 1_772_409_600.0);
        assert_eq!(EpochUnit::guess(300.0), EpochUnit::Seconds);
    }
}
