//! Numbers and dates for people, one way everywhere (and base64, the one text encoding).
//!
//! The justification sentences, the `once` table, the weekly report and the webhooks all
//! print the same thresholds and dates; one function per kind of value keeps them printing
//! the same text for the same number.

use chrono::{DateTime, Utc};

/// A PromQL query on one line, for a sentence or a table note: a query written over several
/// lines in a model file is quoted with its runs of whitespace as single spaces.
pub fn query(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Up to four significant digits, with an SI suffix from ten thousand on
/// (`0.9080`, `12.35`, `118.4`, `45.6k`, `1.50G`).
pub fn number(value: f64) -> String {
    let abs = value.abs();
    let (scaled, suffix) = match abs {
        a if a >= 1e12 => (value / 1e12, "T"),
        a if a >= 1e9 => (value / 1e9, "G"),
        a if a >= 1e6 => (value / 1e6, "M"),
        a if a >= 1e4 => (value / 1e3, "k"),
        _ => (value, ""),
    };
    let decimals = match scaled.abs() {
        a if a >= 100.0 => 1,
        a if a >= 10.0 => 2,
        a if a >= 1.0 => 3,
        _ => 4,
    };
    format!("{scaled:.decimals$}{suffix}")
}

/// An amount of money, to the cent.
pub fn money(value: f64) -> String {
    format!("{value:.2}")
}

/// Unix seconds as `2026-12-01 14:05 UTC`.
pub fn time(unix: f64) -> String {
    DateTime::<Utc>::from_timestamp(unix as i64, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| format!("{unix}"))
}

/// Unix seconds as `2026-12-01`.
pub fn date(unix: f64) -> String {
    DateTime::<Utc>::from_timestamp(unix as i64, 0)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// A span of seconds in the larger unit that reads well: `3.0 h`, `2.5 d`.
pub fn days_or_hours(seconds: f64) -> String {
    if seconds >= 2.0 * 86_400.0 {
        format!("{:.1} d", seconds / 86_400.0)
    } else {
        format!("{:.1} h", seconds / 3600.0)
    }
}

/// A number of days, `12.3 d`, or `-` when there is none.
pub fn days(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |d| format!("{d:.1} d"))
}

/// An instant relative to `now`: `2026-12-03 10:00 UTC (in 2.4 d)` or `(... d ago)`.
pub fn relative(at: Option<f64>, now: f64) -> String {
    match at {
        None => "-".into(),
        Some(at) if at >= now => format!("{} (in {:.1} d)", time(at), (at - now) / 86_400.0),
        Some(at) => format!("{} ({:.1} d ago)", time(at), (now - at) / 86_400.0),
    }
}

/// Standard base64 with padding (a basic auth header, an image inlined in HTML).
pub fn base64(input: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_over_several_lines_is_quoted_on_one() {
        let written = "max by (pool) (\n  label_replace(\n\tx, \"a\", \"$1\", \"b\", \"(.+)\")\n)\n";
        assert_eq!(
            query(written),
            "max by (pool) ( label_replace( x, \"a\", \"$1\", \"b\", \"(.+)\") )"
        );
    }

    #[test]
    fn numbers_keep_four_significant_digits() {
        assert_eq!(number(0.908), "0.9080");
        assert_eq!(number(12.345), "12.35");
        assert_eq!(number(118.44), "118.4");
        assert_eq!(number(45_600.0), "45.60k");
        assert_eq!(number(1.5e9), "1.500G");
        assert_eq!(money(412.5), "412.50");
    }

    #[test]
    fn dates_are_utc() {
        assert_eq!(time(1_764_597_900.0), "2025-12-01 14:05 UTC");
        assert_eq!(date(1_764_597_900.0), "2025-12-01");
        assert_eq!(days(Some(2.04)), "2.0 d");
        assert_eq!(relative(Some(86_400.0 * 2.0), 0.0), "1970-01-03 00:00 UTC (in 2.0 d)");
    }
}
