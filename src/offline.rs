//! `headroom forecast`: the daemon's engine on a CSV file, offline.
//!
//! Input: a header naming `series_id`, `timestamp` and `value` (in any order), then one row per
//! sample. Timestamps are Unix seconds or RFC 3339; rows may come in any order; the step is
//! inferred per series. Output: `series_id,timestamp,yhat,lo80,hi80,lo95,hi95`, one row per
//! series per future step, series in order of first appearance, timestamps in the form the
//! input used.
//!
//! RFC 3339 timestamps carry the local clock's offset: daily and weekly seasons are fitted in
//! that clock, so a daily peak keeps its local hour across a daylight-saving change, and the
//! forecast's timestamps carry the last offset seen.

use std::collections::HashMap;
use std::fmt::Write;

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use rayon::prelude::*;

use crate::forecast::{self, Forecast, Grid, LocalClock, NoForecast};
use crate::series::Sample;

/// The output header.
pub const OUTPUT_HEADER: &str = "series_id,timestamp,yhat,lo80,hi80,lo95,hi95";

/// A problem in the input, with its 1-based line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct CsvError {
    pub line: usize,
    pub message: String,
}

/// One input series.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSeries {
    pub id: String,
    pub samples: Vec<Sample>,
    /// The input wrote this series' timestamps in RFC 3339.
    pub rfc3339: bool,
    /// The UTC offset (seconds) each RFC 3339 timestamp carried, with its Unix time.
    pub offsets: Vec<(f64, i32)>,
}

impl InputSeries {
    /// The clock the series' own timestamps show (UTC when they carry no offset).
    pub fn clock(&self) -> LocalClock {
        LocalClock::observed(self.offsets.clone())
    }
}

/// Reads the input CSV; the first bad row stops it with its line number.
pub fn read(text: &str) -> Result<Vec<InputSeries>, CsvError> {
    let mut rows = Rows::new(text);
    let Some((header_line, header, _)) = rows.next() else {
        return Err(CsvError {
            line: 1,
            message: "empty input; expected a header series_id,timestamp,value".into(),
        });
    };
    let columns = split_row(header.trim_start_matches('\u{feff}')).map_err(|message| CsvError {
        line: header_line,
        message,
    })?;
    let position = |name: &str| columns.iter().position(|c| c.trim().eq_ignore_ascii_case(name));
    let (Some(id_col), Some(ts_col), Some(value_col)) =
        (position("series_id"), position("timestamp"), position("value"))
    else {
        return Err(CsvError {
            line: header_line,
            message: format!("header {header:?} must name the columns series_id, timestamp and value"),
        });
    };
    let mut order: HashMap<String, usize> = HashMap::new();
    let mut series: Vec<InputSeries> = Vec::new();
    let mut plain: Vec<&str> = Vec::with_capacity(columns.len());
    let mut last_slot = 0;
    while let Some((line, row, commas)) = rows.next() {
        // Most rows have no quotes: their fields are slices of the input between the commas
        // the row scan already found.
        let quoted: Vec<String>;
        let quoted_fields: Vec<&str>;
        let fields: &[&str] = match commas {
            Some(commas) => {
                plain.clear();
                let mut from = 0;
                for &at in commas {
                    plain.push(&row[from..at]);
                    from = at + 1;
                }
                plain.push(&row[from..]);
                &plain
            }
            None => {
                quoted = split_row(row).map_err(|message| CsvError { line, message })?;
                quoted_fields = quoted.iter().map(String::as_str).collect();
                &quoted_fields
            }
        };
        if fields.len() != columns.len() {
            return Err(CsvError {
                line,
                message: format!("{} fields, expected {}", fields.len(), columns.len()),
            });
        }
        let id = trim(fields[id_col]);
        if id.is_empty() {
            return Err(CsvError {
                line,
                message: "empty series_id".into(),
            });
        }
        let (timestamp, offset) = parse_timestamp_with_offset(trim(fields[ts_col])).ok_or_else(|| CsvError {
            line,
            message: format!(
                "timestamp {:?} is neither Unix seconds nor RFC 3339 (e.g. 2026-11-26T10:00:00Z)",
                fields[ts_col].trim()
            ),
        })?;
        let value_text = trim(fields[value_col]);
        // An empty value is a missing sample; anything else must be a number (NaN allowed).
        let value = if value_text.is_empty() {
            f64::NAN
        } else if let Some(value) = parse_plain_decimal(value_text) {
            value
        } else {
            value_text.parse::<f64>().map_err(|_| CsvError {
                line,
                message: format!("value {value_text:?} is not a number"),
            })?
        };
        // Rows usually come series by series: the previous row's series is checked first.
        let slot = match series
            .get(last_slot)
            .filter(|s| s.id == id)
            .map(|_| last_slot)
            .or_else(|| order.get(id).copied())
        {
            Some(slot) => slot,
            None => {
                series.push(InputSeries {
                    id: id.to_string(),
                    samples: Vec::new(),
                    rfc3339: offset.is_some(),
                    offsets: Vec::new(),
                });
                order.insert(id.to_string(), series.len() - 1);
                series.len() - 1
            }
        };
        last_slot = slot;
        let entry = &mut series[slot];
        entry.samples.push(Sample { timestamp, value });
        if let Some(offset) = offset {
            entry.offsets.push((timestamp, offset));
        }
    }
    if series.is_empty() {
        return Err(CsvError {
            line: header_line + 1,
            message: "no data rows after the header".into(),
        });
    }
    Ok(series)
}

/// The non-blank lines of a CSV text, each with its 1-based number (blank lines count) and,
/// when it holds no quote, the positions of its commas: one pass over the bytes finds the end
/// of the line and its commas together.
struct Rows<'a> {
    text: &'a str,
    at: usize,
    line: usize,
    commas: Vec<usize>,
}

impl<'a> Rows<'a> {
    fn new(text: &'a str) -> Self {
        Rows {
            text,
            at: 0,
            line: 0,
            commas: Vec::with_capacity(8),
        }
    }

    /// The next non-blank line, without its `\n` or `\r\n`: `(number, line, commas)`, the
    /// commas `None` when the line has a quote (it needs the full CSV rules).
    fn next(&mut self) -> Option<(usize, &'a str, Option<&[usize]>)> {
        let bytes = self.text.as_bytes();
        while self.at < bytes.len() {
            self.line += 1;
            let start = self.at;
            self.commas.clear();
            let mut quote = false;
            let mut end = start;
            // Eight bytes at a time: the positions of newlines, commas and quotes in a word are
            // the zero bytes of the word XOR each of them.
            'scan: while end + 8 <= bytes.len() {
                let word = u64::from_le_bytes(bytes[end..end + 8].try_into().unwrap_or([0; 8]));
                let newline = zero_bytes(word ^ (ONES * u64::from(b'\n')));
                let mut commas = zero_bytes(word ^ (ONES * u64::from(b',')));
                let stop = if newline == 0 {
                    8
                } else {
                    newline.trailing_zeros() as usize / 8
                };
                let within = if stop == 8 { u64::MAX } else { (1u64 << (stop * 8)) - 1 };
                quote |= zero_bytes(word ^ (ONES * u64::from(b'"'))) & within != 0;
                while commas != 0 {
                    let at = commas.trailing_zeros() as usize / 8;
                    if at >= stop {
                        break;
                    }
                    self.commas.push(end + at - start);
                    commas &= commas - 1;
                }
                end += stop;
                if stop < 8 {
                    break 'scan;
                }
            }
            while end < bytes.len() {
                match bytes[end] {
                    b'\n' => break,
                    b',' => self.commas.push(end - start),
                    b'"' => quote = true,
                    _ => {}
                }
                end += 1;
            }
            self.at = end + 1;
            let line = &self.text[start..end];
            let line = line.strip_suffix('\r').unwrap_or(line);
            // A line that starts with a visible character is not blank, the common case.
            if line.as_bytes().first().is_some_and(u8::is_ascii_graphic) || !line.trim().is_empty() {
                return Some((self.line, line, (!quote).then_some(self.commas.as_slice())));
            }
        }
        None
    }
}

/// A byte of ones in each of the eight bytes of a word.
const ONES: u64 = 0x0101_0101_0101_0101;

/// The high bit of each zero byte of `word`, exactly (no carries between bytes).
fn zero_bytes(word: u64) -> u64 {
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    !(((word & LOW7) + LOW7) | word) & !LOW7
}

/// `field` without surrounding white space (ASCII first, the cheap case).
fn trim(field: &str) -> &str {
    let trimmed = field.trim_ascii();
    match (trimmed.as_bytes().first(), trimmed.as_bytes().last()) {
        (Some(first), Some(last)) if !first.is_ascii() || !last.is_ascii() => trimmed.trim(),
        _ => trimmed,
    }
}

/// A plain decimal (`-12.5`, `0.125`, `300`) read exactly as the general parser would, when
/// its digits fit in 53 bits and it has at most 22 decimals: an integer divided by a power
/// of ten, both exact in binary, is then correctly rounded. `None` for anything else.
fn parse_plain_decimal(text: &str) -> Option<f64> {
    const POWERS: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
        1e20, 1e21, 1e22,
    ];
    let (negative, digits) = match text.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        rest => (false, rest),
    };
    if digits.len() > 20 {
        return None;
    }
    let (mut mantissa, mut decimals, mut seen_point, mut count) = (0u64, 0usize, false, 0usize);
    for &b in digits {
        match b {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(b - b'0');
                count += 1;
                decimals += usize::from(seen_point);
            }
            b'.' if !seen_point => seen_point = true,
            _ => return None,
        }
    }
    if count == 0 || count > 19 || mantissa > 1 << 53 || decimals >= POWERS.len() {
        return None;
    }
    let value = mantissa as f64 / POWERS[decimals];
    Some(if negative { -value } else { value })
}

/// Forecasts every series `horizon` steps ahead. Returns the output CSV and, for each series
/// that could not be forecast, a message naming it.
pub fn forecast_all(series: &[InputSeries], horizon: usize, settings: &forecast::Settings) -> (String, Vec<String>) {
    let results: Vec<Result<Forecast, String>> = series
        .par_iter()
        .map(|s| {
            let grid = Grid::from_samples(&s.samples, None)
                .ok_or_else(|| format!("series {:?}: needs at least two finite samples to infer its step", s.id))?;
            // Seasons in the clock the timestamps carry.
            let settings = forecast::Settings {
                clock: s.clock(),
                ..settings.clone()
            };
            forecast::forecast(&grid, horizon, &settings).map_err(|e: NoForecast| format!("series {:?}: {e}", s.id))
        })
        .collect();
    let mut out = String::with_capacity(series.len() * horizon * 80 + 64);
    out.push_str(OUTPUT_HEADER);
    out.push('\n');
    let mut skipped = Vec::new();
    for (input, result) in series.iter().zip(results) {
        let forecast = match result {
            Ok(forecast) => forecast,
            Err(message) => {
                skipped.push(message);
                continue;
            }
        };
        let id = quote(&input.id);
        let clock = input.clock();
        let (b80, b95) = (forecast.band(0.8), forecast.band(0.95));
        for (h, yhat) in forecast.mean.iter().enumerate() {
            let band = |b: Option<&forecast::Band>, lower: bool| {
                b.map(|b| if lower { b.lower[h] } else { b.upper[h] })
                    .unwrap_or(f64::NAN)
            };
            let _ = writeln!(
                out,
                "{id},{},{yhat},{},{},{},{}",
                format_timestamp(
                    forecast.timestamp(h),
                    input.rfc3339.then(|| clock.offset_at(f64::INFINITY))
                ),
                band(b80, true),
                band(b80, false),
                band(b95, true),
                band(b95, false),
            );
        }
    }
    (out, skipped)
}

/// Parses Unix seconds or RFC 3339; the flag says which form it was.
pub fn parse_timestamp(text: &str) -> Option<(f64, bool)> {
    parse_timestamp_with_offset(text).map(|(seconds, offset)| (seconds, offset.is_some()))
}

/// Parses Unix seconds or RFC 3339, with the UTC offset (seconds) an RFC 3339 timestamp
/// carries.
pub fn parse_timestamp_with_offset(text: &str) -> Option<(f64, Option<i32>)> {
    // Whole Unix seconds, the common case, without the general float parser.
    if (1..=15).contains(&text.len()) {
        let mut seconds = 0u64;
        let mut digits = true;
        for &b in text.as_bytes() {
            digits &= b.is_ascii_digit();
            seconds = seconds * 10 + u64::from(b.wrapping_sub(b'0'));
        }
        if digits {
            return Some((seconds as f64, None));
        }
    }
    if let Ok(seconds) = text.parse::<f64>() {
        return seconds.is_finite().then_some((seconds, None));
    }
    let parsed = DateTime::parse_from_rfc3339(text).ok()?;
    Some((
        parsed.timestamp() as f64 + f64::from(parsed.timestamp_subsec_nanos()) / 1e9,
        Some(parsed.offset().local_minus_utc()),
    ))
}

/// Unix seconds, or RFC 3339 at the given UTC offset (`Z` for zero).
fn format_timestamp(seconds: f64, rfc3339_offset: Option<i32>) -> String {
    if let Some(offset) = rfc3339_offset {
        let whole = seconds.floor();
        let nanos = ((seconds - whole) * 1e9).round() as u32;
        let time = DateTime::<Utc>::from_timestamp(whole as i64, nanos.min(999_999_999));
        match (time, FixedOffset::east_opt(offset)) {
            (Some(time), Some(zone)) if offset != 0 => {
                return time.with_timezone(&zone).to_rfc3339_opts(SecondsFormat::AutoSi, true);
            }
            (Some(time), _) => return time.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            _ => {}
        }
    }
    if (seconds - seconds.round()).abs() < 1e-6 {
        format!("{}", seconds.round() as i64)
    } else {
        format!("{seconds:.3}")
    }
}

/// Splits one CSV row (RFC 4180 quoting) into fields.
fn split_row(row: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = row.trim_end_matches('\r').chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' if quoted => quoted = false,
            '"' if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            ',' if !quoted => fields.push(std::mem::take(&mut field)),
            other => field.push(other),
        }
    }
    if quoted {
        return Err("unterminated quoted field".into());
    }
    fields.push(field);
    Ok(fields)
}

fn quote(id: &str) -> String {
    if id.contains([',', '"', '\n']) {
        format!("\"{}\"", id.replace('"', "\"\""))
    } else {
        id.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mixed_order_and_formats() {
        let text = "series_id,timestamp,value\nb,1700000300,2\na,2026-11-26T10:05:00Z,1.5\nb,1700000000,1\n\"a\",2026-11-26T10:00:00Z,\n";
        let series = read(text).expect("valid");
        assert_eq!(series.len(), 2);
        assert_eq!(series[0].id, "b");
        assert!(!series[0].rfc3339 && series[1].rfc3339);
        assert!(series[1].samples[1].value.is_nan());
    }

    #[test]
    fn bad_rows_name_their_line() {
        let err = read("series_id,timestamp,value\na,1,2\na,yesterday,3\n").expect_err("bad");
        assert_eq!(err.line, 3);
        assert!(err.message.contains("yesterday"));
        assert_eq!(read("series_id,timestamp,value\na,1,two\n").expect_err("bad").line, 2);
        assert_eq!(read("id,time,v\n").expect_err("bad").line, 1);
        assert_eq!(read("series_id,timestamp,value\na,1\n").expect_err("bad").line, 2);
    }

    #[test]
    fn rows_split_at_their_commas_whatever_their_length() {
        let text = "a,1,2\nlonger-id-than-a-word,1700000000,-12.5\n\n,,\nq,\"x,y\",3\r\nend,1,2";
        let mut rows = Rows::new(text);
        let mut seen = Vec::new();
        while let Some((line, row, commas)) = rows.next() {
            seen.push((line, row.to_string(), commas.map(<[usize]>::to_vec)));
        }
        assert_eq!(
            seen,
            vec![
                (1, "a,1,2".to_string(), Some(vec![1, 3])),
                (
                    2,
                    "longer-id-than-a-word,1700000000,-12.5".to_string(),
                    Some(vec![21, 32])
                ),
                (4, ",,".to_string(), Some(vec![0, 1])),
                (5, "q,\"x,y\",3".to_string(), None),
                (6, "end,1,2".to_string(), Some(vec![3, 5])),
            ]
        );
        assert_eq!(zero_bytes(0x2C01_2C2D_0000_2C2C ^ (ONES * 0x2C)), 0x8000_8000_0000_8080);
    }

    #[test]
    fn plain_decimals_read_as_the_general_parser_reads_them() {
        for text in [
            "0",
            "300",
            "-12.5",
            "0.1",
            "123.456",
            "1000000.25",
            "9007199254740992",
            "0.000000000000000001",
        ] {
            assert_eq!(
                parse_plain_decimal(text),
                Some(text.parse::<f64>().expect("number")),
                "{text}"
            );
        }
        for text in [
            "1e5",
            "NaN",
            "inf",
            "1.2.3",
            "",
            "-",
            ".",
            "12345678901234567890",
            "+1",
            "0.12345678901234567890123",
        ] {
            assert!(
                parse_plain_decimal(text).is_none_or(|v| text.parse::<f64>().ok() == Some(v)),
                "{text}"
            );
        }
        assert_eq!(parse_plain_decimal("."), None);
    }

    #[test]
    fn timestamps_round_trip_in_the_input_form() {
        assert_eq!(format_timestamp(1_700_000_000.0, None), "1700000000");
        assert_eq!(format_timestamp(1_795_689_000.0, Some(0)), "2026-11-26T10:30:00Z");
        assert_eq!(
            format_timestamp(1_795_689_000.0, Some(3600)),
            "2026-11-26T11:30:00+01:00"
        );
        assert_eq!(split_row("\"x,y\",1,\"q\"\"\"").expect("row"), vec!["x,y", "1", "q\""]);
        assert_eq!(quote("x,y"), "\"x,y\"");
    }
}
