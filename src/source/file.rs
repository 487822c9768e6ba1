//! History from a text file: the Prometheus exposition format with timestamps, as
//! `promtool tsdb dump` prints it (`{__name__="x", a="b"} 1.5 1700000000000`) or as written
//! by hand (`x{a="b"} 1.5 1700000000000`). Lets a user plan offline from a dump, and backs the
//! embedded demo.
//!
//! The parser is strict on purpose: a sample without a timestamp, or with one that is not whole
//! milliseconds, is an error naming the line, never a silent "now".

use std::collections::BTreeMap;
use std::path::Path;

use super::selector::Selector;
use super::{RangeQuery, SourceError};
use crate::clock::EpochUnit;
use crate::series::{Labels, Sample, Series};

/// At most this many bad lines are listed in one error.
const MAX_LISTED_ERRORS: usize = 20;

/// All series of a dump file, held in memory.
#[derive(Debug)]
pub struct FileSource {
    origin: String,
    /// By metric name, then label set.
    series: BTreeMap<String, BTreeMap<Labels, Vec<Sample>>>,
    /// What was noticed while reading it.
    notes: Vec<String>,
}

/// The unit the file's timestamps are written in: milliseconds as `promtool tsdb dump` prints
/// them, or, when every one of them says so, seconds (OpenMetrics, backfill input and most
/// hand-written dumps) or micro- and nanoseconds, with a note. A file that mixes units is
/// refused at the first line in the minority unit.
fn file_unit(
    origin: &str,
    units: &BTreeMap<EpochUnit, (usize, usize, f64)>,
) -> Result<(EpochUnit, Vec<String>), SourceError> {
    let Some((&most, &(count, _, _))) = units.iter().max_by_key(|(_, (count, _, _))| *count) else {
        return Ok((EpochUnit::Milliseconds, Vec::new()));
    };
    if let Some((&odd, &(_, line, value))) = units.iter().find(|(unit, _)| **unit != most) {
        return Err(SourceError::File {
            origin: origin.to_string(),
            message: format!(
                "line {line}: timestamp {value:.0} looks like {} since 1970 ({}) while {count} other samples are in {}; write every timestamp in one unit (milliseconds, as `promtool tsdb dump` prints them)",
                odd.name(),
                crate::format::time(odd.to_seconds(value)),
                most.name()
            ),
        });
    }
    let mut notes = Vec::new();
    if most != EpochUnit::Milliseconds {
        let (_, line, value) = units[&most];
        notes.push(format!(
            "{origin}: the timestamps are in {} since 1970, not milliseconds (line {line}: {value:.0} is {} in {}, {} in milliseconds); read them as {}",
            most.name(),
            crate::format::time(most.to_seconds(value)),
            most.name(),
            crate::format::time(EpochUnit::Milliseconds.to_seconds(value)),
            most.name()
        ));
    }
    Ok((most, notes))
}

impl FileSource {
    /// Reads and parses the file at `path`.
    pub fn from_path(path: &Path) -> Result<FileSource, SourceError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| SourceError::File {
            origin: origin.clone(),
            message: format!("cannot read: {e}"),
        })?;
        let source = FileSource::from_text(&origin, &text)?;
        for note in source.notes() {
            tracing::warn!("{note}");
        }
        Ok(source)
    }

    /// Parses dump text; every bad line (up to 20) is listed in the error.
    pub fn from_text(origin: &str, text: &str) -> Result<FileSource, SourceError> {
        let mut series: BTreeMap<String, BTreeMap<Labels, Vec<Sample>>> = BTreeMap::new();
        let mut errors = Vec::new();
        let mut bad_lines = 0usize;
        // How many timestamps look written in each unit, and the first line of each.
        let mut units: BTreeMap<EpochUnit, (usize, usize, f64)> = BTreeMap::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match parse_line(line) {
                Ok((name, labels, sample)) => {
                    let unit =
                        units
                            .entry(EpochUnit::guess(sample.timestamp))
                            .or_insert((0, index + 1, sample.timestamp));
                    unit.0 += 1;
                    series.entry(name).or_default().entry(labels).or_default().push(sample);
                }
                Err(message) => {
                    bad_lines += 1;
                    if errors.len() < MAX_LISTED_ERRORS {
                        errors.push(format!("line {}: {message}", index + 1));
                    }
                }
            }
        }
        if bad_lines > 0 {
            let more = bad_lines.saturating_sub(errors.len());
            let mut message = format!(
                "{bad_lines} unreadable line(s); expected `metric{{label=\"value\"}} VALUE TIMESTAMP_MS` as `promtool tsdb dump` prints:\n  {}",
                errors.join("\n  ")
            );
            if more > 0 {
                message.push_str(&format!("\n  ... and {more} more"));
            }
            return Err(SourceError::File {
                origin: origin.to_string(),
                message,
            });
        }
        let (unit, notes) = file_unit(origin, &units)?;
        for by_labels in series.values_mut() {
            for samples in by_labels.values_mut() {
                for sample in samples.iter_mut() {
                    sample.timestamp = unit.to_seconds(sample.timestamp);
                }
                samples.sort_by(|a, b| a.timestamp.total_cmp(&b.timestamp));
            }
        }
        let source = FileSource {
            origin: origin.to_string(),
            series,
            notes,
        };
        Ok(source.with_age_hint())
    }

    /// What was noticed while reading the file (another unit than milliseconds, samples
    /// that all lie far in the past), to be said to the user.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Adds a hint when the newest sample is years old: most often a unit mistake.
    fn with_age_hint(mut self) -> FileSource {
        let newest = self.last_timestamp();
        let now = crate::clock::unix_now();
        if let Some(newest) = newest.filter(|t| now - t > 365.0 * 86_400.0) {
            self.notes.push(format!(
                "{}: the newest sample is from {} ({:.0} days ago); if that is not right, check the timestamps' unit (a dump holds milliseconds since 1970, as `promtool tsdb dump` prints them)",
                self.origin,
                crate::format::time(newest),
                (now - newest) / 86_400.0
            ));
        }
        self
    }

    /// The file path, for messages.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The latest timestamp in the file (the demo's "now").
    pub fn last_timestamp(&self) -> Option<f64> {
        self.series
            .values()
            .flat_map(|m| m.values())
            .filter_map(|s| s.last())
            .map(|s| s.timestamp)
            .reduce(f64::max)
    }

    /// Answers a range query whose PromQL is a plain selector.
    pub fn query_range(&self, query: &RangeQuery) -> Result<Vec<Series>, SourceError> {
        let selector = Selector::parse(&query.query).map_err(|error| SourceError::File {
            origin: self.origin.clone(),
            message: error.to_string(),
        })?;
        let mut out = Vec::new();
        for (name, by_labels) in &self.series {
            for (labels, samples) in by_labels {
                if !selector.matches(name, labels) {
                    continue;
                }
                let from = samples.partition_point(|s| s.timestamp < query.start);
                let to = samples.partition_point(|s| s.timestamp <= query.end);
                if from < to {
                    out.push(Series {
                        labels: labels.clone(),
                        samples: samples[from..to].to_vec(),
                    });
                }
            }
        }
        Ok(out)
    }
}

/// Parses one sample line into (metric name, labels, sample).
fn parse_line(line: &str) -> Result<(String, Labels, Sample), String> {
    let (name, label_text, rest) = match line.find('{') {
        Some(open) => {
            let close = find_closing_brace(line, open).ok_or("unterminated label set")?;
            (line[..open].trim(), &line[open + 1..close], &line[close + 1..])
        }
        None => {
            let end = line.find(char::is_whitespace).ok_or("missing value and timestamp")?;
            (&line[..end], "", &line[end..])
        }
    };
    let mut pairs = parse_labels(label_text)?;
    let name = if name.is_empty() {
        let index = pairs
            .iter()
            .position(|(k, _)| k == "__name__")
            .ok_or("no metric name")?;
        pairs.remove(index).1
    } else if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        name.to_string()
    } else {
        return Err(format!(
            "invalid metric name {name:?}; a name that is not classic is written quoted inside the braces ({{\"{name}\", ...}})"
        ));
    };
    if name.is_empty() {
        return Err("empty metric name".into());
    }
    let mut fields = rest.split_whitespace();
    let value_text = fields.next().ok_or("missing value")?;
    let value: f64 = value_text
        .parse()
        .map_err(|_| format!("invalid value {value_text:?}"))?;
    let timestamp_text = fields
        .next()
        .ok_or("missing timestamp (milliseconds since 1970); history needs one on every sample")?;
    let millis: i64 = timestamp_text
        .parse()
        .map_err(|_| format!("invalid timestamp {timestamp_text:?}; expected whole milliseconds since 1970"))?;
    if fields.next().is_some() {
        return Err("unexpected text after the timestamp".into());
    }
    Ok((
        name,
        Labels::new(pairs),
        Sample {
            // Read as written; the file's unit is decided once every line is read.
            timestamp: millis as f64,
            value,
        },
    ))
}

fn find_closing_brace(line: &str, open: usize) -> Option<usize> {
    let mut in_quote = false;
    let mut escaped = false;
    for (i, c) in line[open..].char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quote => escaped = true,
            '"' => in_quote = !in_quote,
            '}' if !in_quote => return Some(open + i),
            _ => {}
        }
    }
    None
}

/// Parses `a="x", b="y\"z"` into pairs. Names may be quoted, as Prometheus 3 writes names
/// that are not classic (`"service.name"="checkout"`), and a quoted name alone is the metric
/// name (`{"my.metric", a="b"}`), returned as `__name__`.
fn parse_labels(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    let skip_blanks = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
    };
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let key = if chars.peek() == Some(&'"') {
            chars.next();
            read_quoted(&mut chars).ok_or("a quoted label name is unterminated")?
        } else {
            let mut key = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_ascii_alphanumeric() || c == '_' {
                    key.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            key
        };
        skip_blanks(&mut chars);
        if matches!(chars.peek(), None | Some(',')) && !key.is_empty() && pairs.iter().all(|(k, _)| k != "__name__") {
            // `{"my.metric", ...}`: the metric name, quoted.
            pairs.push(("__name__".to_string(), key));
            continue;
        }
        if key.is_empty() || chars.next() != Some('=') {
            return Err("invalid label set; expected name=\"value\" pairs".into());
        }
        skip_blanks(&mut chars);
        if chars.next() != Some('"') {
            return Err(format!("label {key} has no quoted value"));
        }
        let value = read_quoted(&mut chars).ok_or_else(|| format!("label {key} has an unterminated value"))?;
        pairs.push((key, value));
    }
}

/// Reads a quoted string after its opening quote, unescaping `\n`, `\\` and `\"`.
fn read_quoted(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<String> {
    let mut text = String::new();
    loop {
        match chars.next()? {
            '"' => return Some(text),
            '\\' => match chars.next()? {
                'n' => text.push('\n'),
                other => text.push(other),
            },
            c => text.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = r#"
{__name__="node_filesystem_avail_bytes", instance="a:9100", mountpoint="/"} 100 1700000000000
{__name__="node_filesystem_avail_bytes", instance="a:9100", mountpoint="/"} 99.5 1700000300000
instance:node_cpu_utilisation:rate5m{instance="a:9100",note="x,y=z \"q\""} 0.25 1700000000000
node_filesystem_avail_bytes{instance="b:9100",mountpoint="/"} NaN 1700000000000
"#;

    #[test]
    fn reads_promtool_dump_lines_and_hand_written_ones() {
        let source = FileSource::from_text("dump.txt", DUMP).expect("valid");
        let q = |query: &str| RangeQuery {
            query: query.into(),
            start: 0.0,
            end: 2e9,
            step: 300.0,
        };
        let disks = source
            .query_range(&q(r#"node_filesystem_avail_bytes{mountpoint="/"}"#))
            .expect("query");
        assert_eq!(disks.len(), 2);
        assert_eq!(disks[0].samples.len(), 2);
        assert_eq!(
            disks[0].samples[1],
            Sample {
                timestamp: 1_700_000_300.0,
                value: 99.5
            }
        );
        assert!(disks[1].samples[0].value.is_nan());
        let cpu = source
            .query_range(&q("instance:node_cpu_utilisation:rate5m"))
            .expect("query");
        assert_eq!(cpu[0].labels.get("note"), Some("x,y=z \"q\""));
        assert_eq!(source.last_timestamp(), Some(1_700_000_300.0));
    }

    #[test]
    fn bad_lines_are_named() {
        let err = FileSource::from_text(
            "dump.txt",
            "up 1\nup{job=\"x\"} 1 1700000000000\nup{job=x} 1 2\nup one 3\n",
        )
        .expect_err("bad");
        let text = err.to_string();
        assert!(text.contains("3 unreadable line(s)"), "{text}");
        assert!(text.contains("line 1: missing timestamp"), "{text}");
        assert!(text.contains("line 3: label job has no quoted value"), "{text}");
        assert!(text.contains("line 4: invalid value \"one\""), "{text}");
    }

    #[test]
    fn queries_outside_the_range_or_not_selectors() {
        let source = FileSource::from_text("dump.txt", DUMP).expect("valid");
        let none = source
            .query_range(&RangeQuery {
                query: "node_filesystem_avail_bytes".into(),
                start: 1.8e9,
                end: 2e9,
                step: 60.0,
            })
            .expect("ok");
        assert!(none.is_empty());
        let err = source
            .query_range(&RangeQuery {
                query: "sum(up)".into(),
                start: 0.0,
                end: 1.0,
                step: 1.0,
            })
            .expect_err("expr");
        assert!(err.to_string().contains("not a plain series selector"));
    }

    /// Prometheus 3 writes names that are not classic quoted, in dumps and in its text
    /// format: the metric name alone in the braces, label names before their `=`.
    #[test]
    fn reads_prometheus_3_dumps_with_quoted_names() {
        let dump = concat!(
            "{\"k8s.pvc.used\", \"k8s.namespace.name\"=\"shop\", \"service.name\"=\"checkout\"} 0.5 1772409600000\n",
            "{__name__=\"k8s.pvc.used\", \"k8s.namespace.name\"=\"shop\", \"service.name\"=\"checkout\"} 0.6 1772409900000\n",
        );
        let source = FileSource::from_text("p3.dump", dump).expect("valid");
        let found = source
            .query_range(&RangeQuery {
                query: r#"{"k8s.pvc.used", "service.name"="checkout"}"#.into(),
                start: 0.0,
                end: 2e9,
                step: 300.0,
            })
            .expect("query");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].samples.len(), 2);
        assert_eq!(found[0].labels.get("k8s.namespace.name"), Some("shop"));
        let unquoted = FileSource::from_text("bad.dump", "my.metric{a=\"b\"} 1 1772409600000\n").expect_err("refused");
        assert!(unquoted.to_string().contains("quoted"), "{unquoted}");
    }

    /// A dump written in seconds is read in seconds and said to be; one in microseconds too;
    /// a dump that mixes units is refused at the odd line.
    #[test]
    fn timestamp_units_are_noticed() {
        let line = |t: u64| format!("{{__name__=\"q\", a=\"b\"}} 1 {t}\n");
        let seconds: String = (0..10).map(|i| line(1_772_409_600 + i * 300)).collect();
        let source = FileSource::from_text("s.dump", &seconds).expect("read");
        assert_eq!(source.last_timestamp(), Some(1_772_409_600.0 + 9.0 * 300.0));
        assert!(
            source.notes()[0].contains("seconds since 1970, not milliseconds"),
            "{:?}",
            source.notes()
        );
        let micros: String = (0..10).map(|i| line((1_772_409_600 + i * 300) * 1_000_000)).collect();
        let source = FileSource::from_text("u.dump", &micros).expect("read");
        assert_eq!(source.last_timestamp(), Some(1_772_409_600.0 + 9.0 * 300.0));
        let mut mixed: String = (0..10).map(|i| line((1_772_409_600 + i * 300) * 1000)).collect();
        mixed.push_str(&line(1_772_412_900));
        let error = FileSource::from_text("m.dump", &mixed).expect_err("mixed");
        assert!(
            error
                .to_string()
                .contains("line 11: timestamp 1772412900 looks like seconds"),
            "{error}"
        );
    }
}
