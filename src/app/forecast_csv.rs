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

use super::csv_rows::{Rows, parse_plain_decimal, read_timestamp, trim};
use crate::clock::{EpochUnit, TimeForm};
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
    /// The 1-based input line of each sample.
    pub lines: Vec<usize>,
    /// The input wrote this series' timestamps in RFC 3339.
    pub rfc3339: bool,
    /// The unit numeric timestamps were written in (the output uses it too).
    pub unit: EpochUnit,
    /// The UTC offset (seconds) each RFC 3339 timestamp carried, with its Unix time.
    pub offsets: Vec<(f64, i32)>,
}

impl InputSeries {
    /// The clock the series' own timestamps show (UTC when they carry no offset).
    pub fn clock(&self) -> LocalClock {
        LocalClock::observed(self.offsets.clone())
    }
}

/// What the input held, and what was noticed about it on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvInput {
    pub series: Vec<InputSeries>,
    /// Warnings for the user (timestamps read in another unit than seconds).
    pub notes: Vec<String>,
}

/// Most grid points one input series may span: a single stray timestamp must never size an
/// allocation (a millisecond among seconds would ask for tens of gigabytes).
const MAX_GRID_POINTS: f64 = 2_000_000.0;

/// Reads the input CSV; the first bad row stops it with its line number. Numeric timestamps
/// are Unix seconds; a file written wholly in milliseconds (or micro-, nanoseconds) is read
/// in that unit with a note, a file that mixes units is refused at the first odd row.
pub fn read(text: &str) -> Result<CsvInput, CsvError> {
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
    let mut numeric: Vec<(usize, f64)> = Vec::new();
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
        let (timestamp, form) = read_timestamp(trim(fields[ts_col])).ok_or_else(|| CsvError {
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
                    lines: Vec::new(),
                    rfc3339: matches!(form, TimeForm::Rfc3339 { .. }),
                    unit: EpochUnit::Seconds,
                    offsets: Vec::new(),
                });
                order.insert(id.to_string(), series.len() - 1);
                series.len() - 1
            }
        };
        last_slot = slot;
        let entry = &mut series[slot];
        entry.samples.push(Sample { timestamp, value });
        entry.lines.push(line);
        match form {
            TimeForm::UnixSeconds => numeric.push((line, timestamp)),
            TimeForm::Rfc3339 { offset_secs } => entry.offsets.push((timestamp, offset_secs)),
        }
    }
    if series.is_empty() {
        return Err(CsvError {
            line: header_line + 1,
            message: "no data rows after the header".into(),
        });
    }
    let mut notes = Vec::new();
    if let Some(unit) = numeric_unit(&numeric)? {
        if unit != EpochUnit::Seconds {
            let (line, first) = numeric[0];
            notes.push(format!(
                "the timestamps are in {} since 1970, not Unix seconds (line {line}: {first:.0} is {}); read them as {}, and the output uses the same unit",
                unit.name(),
                crate::format::time(unit.to_seconds(first)),
                unit.name()
            ));
            for input in series.iter_mut().filter(|s| !s.rfc3339) {
                input.unit = unit;
                for sample in &mut input.samples {
                    sample.timestamp = unit.to_seconds(sample.timestamp);
                }
            }
        }
    }
    for input in &series {
        check_span(input)?;
        check_duplicates(input)?;
    }
    Ok(CsvInput { series, notes })
}

/// Two rows of one series at the same time with different values: two sources sharing an
/// id (two hosts written as one), which would otherwise be averaged into a series that is
/// neither.
fn check_duplicates(input: &InputSeries) -> Result<(), CsvError> {
    let mut order: Vec<usize> = (0..input.samples.len()).collect();
    order.sort_by(|&a, &b| {
        input.samples[a]
            .timestamp
            .total_cmp(&input.samples[b].timestamp)
            .then(input.lines[a].cmp(&input.lines[b]))
    });
    for pair in order.windows(2) {
        let (a, b) = (&input.samples[pair[0]], &input.samples[pair[1]]);
        let same_value = a.value == b.value || (a.value.is_nan() && b.value.is_nan());
        if a.timestamp == b.timestamp && !same_value {
            return Err(CsvError {
                line: input.lines[pair[1]],
                message: format!(
                    "series {:?} already has a value at this time on line {} ({} there, {} here); each series_id is one series: give each source its own id, or remove one of the rows",
                    input.id, input.lines[pair[0]], a.value, b.value
                ),
            });
        }
    }
    Ok(())
}

/// The one unit of the numeric timestamps (`None`: there are none), or the first row written
/// in another unit than most.
fn numeric_unit(numeric: &[(usize, f64)]) -> Result<Option<EpochUnit>, CsvError> {
    let mut counts: std::collections::BTreeMap<EpochUnit, usize> = std::collections::BTreeMap::new();
    // Counted run by run: a file holds long runs of one unit, and a map entry per row would
    // cost more than the rest of the reading.
    let mut run: Option<(EpochUnit, usize)> = None;
    for (_, t) in numeric {
        let unit = EpochUnit::guess(*t);
        match &mut run {
            Some((same, length)) if *same == unit => *length += 1,
            _ => {
                if let Some((unit, length)) = run.replace((unit, 1)) {
                    *counts.entry(unit).or_default() += length;
                }
            }
        }
    }
    if let Some((unit, length)) = run {
        *counts.entry(unit).or_default() += length;
    }
    let Some((&most, &count)) = counts.iter().max_by_key(|(_, count)| **count) else {
        return Ok(None);
    };
    if counts.len() == 1 {
        return Ok(Some(most));
    }
    let (line, odd) = numeric
        .iter()
        .find(|(_, t)| EpochUnit::guess(*t) != most)
        .copied()
        .unwrap_or(numeric[0]);
    let unit = EpochUnit::guess(odd);
    Err(CsvError {
        line,
        message: format!(
            "timestamp {odd:.0} is far outside the rest of the file: it looks like {} since 1970 ({}) while {count} rows are in {}; write every timestamp in one unit (Unix seconds or RFC 3339)",
            unit.name(),
            crate::format::time(unit.to_seconds(odd)),
            most.name()
        ),
    })
}

/// Refuses a series whose timestamps would stretch its grid past [`MAX_GRID_POINTS`],
/// naming the row furthest from the others.
fn check_span(input: &InputSeries) -> Result<(), CsvError> {
    let mut times: Vec<f64> = input.samples.iter().map(|s| s.timestamp).collect();
    if !times.is_sorted_by(|a, b| a.total_cmp(b).is_le()) {
        times.sort_by(f64::total_cmp);
    }
    times.dedup();
    if times.len() < 3 {
        return Ok(());
    }
    let mut steps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    let middle = steps.len() / 2;
    let step = steps.select_nth_unstable_by(middle, f64::total_cmp).1.max(1e-3);
    let span = times[times.len() - 1] - times[0];
    if span / step <= MAX_GRID_POINTS {
        return Ok(());
    }
    let median = times[times.len() / 2];
    let (index, stray) = input
        .samples
        .iter()
        .enumerate()
        .max_by(|(_, a), (_, b)| (a.timestamp - median).abs().total_cmp(&(b.timestamp - median).abs()))
        .map(|(i, s)| (i, s.timestamp))
        .unwrap_or((0, median));
    Err(CsvError {
        line: input.lines[index],
        message: format!(
            "timestamp of series {:?} lies {:.0} days from the others ({}): its grid would need {:.0} points at the series' step of {step} s; is it in another unit, or from another export?",
            input.id,
            (stray - median).abs() / 86_400.0,
            crate::format::time(stray),
            span / step
        ),
    })
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
                    input.rfc3339.then(|| clock.offset_at(f64::INFINITY)),
                    input.unit
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

/// Unix time in the input's unit, or RFC 3339 at the given UTC offset (`Z` for zero).
fn format_timestamp(seconds: f64, rfc3339_offset: Option<i32>, unit: EpochUnit) -> String {
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
    let value = unit.from_seconds(seconds);
    if (value - value.round()).abs() < 1e-6 {
        format!("{}", value.round() as i64)
    } else {
        format!("{value:.3}")
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
        let series = read(text).expect("valid").series;
        assert_eq!(series.len(), 2);
        assert_eq!(series[0].id, "b");
        assert!(!series[0].rfc3339 && series[1].rfc3339);
        assert!(series[1].samples[1].value.is_nan());
    }

    /// Two rows of one series at one time with different values (two hosts given one id) are
    /// refused at the second; a repeated identical row is harmless.
    #[test]
    fn one_series_with_two_values_at_one_time_is_refused_at_its_line() {
        let clash = "series_id,timestamp,value\na,1000,1\na,1300,2\nb,1000,7\na,1000,5\n";
        let error = read(clash).expect_err("refused");
        assert_eq!(error.line, 5, "{error}");
        assert!(error.message.contains("line 2"), "{error}");
        let repeated = "series_id,timestamp,value\na,1000,1\na,1300,2\na,1000,1\n";
        assert!(read(repeated).is_ok());
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
    fn timestamps_round_trip_in_the_input_form() {
        assert_eq!(
            format_timestamp(1_700_000_000.0, None, EpochUnit::Seconds),
            "1700000000"
        );
        assert_eq!(
            format_timestamp(1_700_000_000.0, None, EpochUnit::Milliseconds),
            "1700000000000"
        );
        assert_eq!(
            format_timestamp(1_795_689_000.0, Some(0), EpochUnit::Seconds),
            "2026-11-26T10:30:00Z"
        );
        assert_eq!(
            format_timestamp(1_795_689_000.0, Some(3600), EpochUnit::Seconds),
            "2026-11-26T11:30:00+01:00"
        );
        assert_eq!(split_row("\"x,y\",1,\"q\"\"\"").expect("row"), vec!["x,y", "1", "q\""]);
        assert_eq!(quote("x,y"), "\"x,y\"");
    }

    /// 12-dst-daily-peak through the CSV: hourly from 2026-03-15, RFC 3339 in Paris time
    /// (+01:00, then +02:00 from 2026-03-29T01:00Z), peaking at 09:00 local every day. Both
    /// forecast days peak at 07:00 UTC (09:00 CEST), and the forecast is written at +02:00.
    #[test]
    fn a_daily_peak_in_local_time_keeps_its_hour_across_daylight_saving() {
        let (start, change) = (1_773_532_800_i64, 1_774_746_000_i64);
        let mut text = String::from("series_id,timestamp,value\n");
        for h in 0..21 * 24 {
            let t = start + h * 3600;
            let offset = if t >= change { 7200 } else { 3600 };
            let zone = FixedOffset::east_opt(offset).expect("offset");
            let local = DateTime::<Utc>::from_timestamp(t, 0)
                .expect("time")
                .with_timezone(&zone);
            let hour = f64::from(chrono::Timelike::hour(&local));
            let value = 100.0 + 80.0 * (-(hour - 9.0).powi(2) / 4.0).exp();
            text.push_str(&format!("paris_web,{},{value:.3}\n", local.to_rfc3339()));
        }
        let input = read(&text).expect("read");
        let settings = forecast::Settings {
            min_history_secs: 0.0,
            ..forecast::Settings::default()
        };
        let (csv, skipped) = forecast_all(&input.series, 48, &settings);
        assert!(skipped.is_empty(), "{skipped:?}");
        let rows: Vec<(DateTime<FixedOffset>, f64)> = csv
            .lines()
            .skip(1)
            .map(|row| {
                let fields: Vec<&str> = row.split(',').collect();
                let time = DateTime::parse_from_rfc3339(fields[1]).expect("RFC 3339");
                (time, fields[2].parse().expect("yhat"))
            })
            .collect();
        assert_eq!(rows.len(), 48);
        assert!(rows.iter().all(|(time, _)| time.offset().local_minus_utc() == 7200));
        for day in rows.chunks(24) {
            let (peak, _) = day.iter().max_by(|a, b| a.1.total_cmp(&b.1)).expect("a peak");
            assert_eq!(chrono::Timelike::hour(&peak.with_timezone(&Utc)), 7, "{peak}");
        }
    }

    /// Three days at 5 minutes from 2026-02-27, with each timestamp written by `write`.
    fn series_csv(write: impl Fn(usize, f64) -> String) -> String {
        let mut text = String::from("series_id,timestamp,value\n");
        for i in 0..864 {
            let t = 1_772_150_400.0 + i as f64 * 300.0;
            text.push_str(&format!("q,{},{}\n", write(i, t), 100.0 + (i % 288) as f64));
        }
        text
    }

    #[test]
    fn a_file_in_milliseconds_is_read_as_such_and_said() {
        let input = read(&series_csv(|_, t| format!("{:.0}", t * 1e3))).expect("read");
        assert_eq!(input.series[0].unit, EpochUnit::Milliseconds);
        assert_eq!(
            input.series[0].samples[1].timestamp - input.series[0].samples[0].timestamp,
            300.0
        );
        assert!(input.notes[0].contains("milliseconds"), "{:?}", input.notes);
        // Microseconds too, and the output keeps the input's unit.
        let micro = read(&series_csv(|_, t| format!("{:.0}", t * 1e6))).expect("read");
        assert!(micro.notes[0].contains("microseconds"));
        let (csv, _) = forecast_all(&micro.series, 1, &forecast::Settings::default());
        let first = csv.lines().nth(1).expect("a row");
        assert!(first.starts_with("q,1772409600000000,"), "{first}");
    }

    #[test]
    fn one_row_in_another_unit_is_refused_at_its_line() {
        // Line 402 holds the 400th sample (header on line 1), written in milliseconds.
        let mixed = series_csv(|i, t| {
            if i == 400 {
                format!("{:.0}", t * 1e3)
            } else {
                format!("{t:.0}")
            }
        });
        let error = read(&mixed).expect_err("mixed units");
        assert_eq!(error.line, 402);
        assert!(error.message.contains("milliseconds"), "{}", error.message);
        // A stray row in the right unit but decades away is refused before any grid is built.
        let stray = series_csv(|i, t| {
            if i == 10 {
                format!("{:.0}", t + 40.0 * 365.0 * 86_400.0)
            } else {
                format!("{t:.0}")
            }
        });
        let error = read(&stray).expect_err("stray");
        assert_eq!(error.line, 12);
        assert!(error.message.contains("days from the others"), "{}", error.message);
    }
}
