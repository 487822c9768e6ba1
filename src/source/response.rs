//! The Prometheus API's JSON answer, parsed as it arrives.
//!
//! A replica of a sharded fleet reads every series of the fleet and keeps its share. Parsing a
//! whole body at once would hold the body (about 30 bytes a sample) and a parse of every
//! series (value strings included) before dropping three quarters of it. Here the answer is
//! read from a byte stream, and each series is decided on as soon as its labels are known:
//! the samples of a series this replica does not own are skipped without being stored.
//!
//! The parser accepts the keys in any order (JSON objects are unordered; Prometheus and
//! VictoriaMetrics both send `metric` before `values`, and only then is a series skipped
//! without buffering), unknown keys (`warnings`, `stats`, `histograms`), `NaN`, `±Inf` and
//! fractional timestamps.

use std::collections::HashMap;
use std::fmt;
use std::io;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::SourceError;
use crate::series::{Labels, Sample, Series};

/// Decides which series to keep, from their labels.
pub type Keep<'k> = &'k (dyn Fn(&Labels) -> bool + Sync);

/// A response as sent, before it is judged against the HTTP status.
#[derive(Debug, Default)]
pub struct Answer {
    status: Option<String>,
    error_type: Option<String>,
    error: Option<String>,
    data: Option<Data>,
    /// `warnings`: what a query layer says of an answer it could not complete (Thanos names
    /// the store it lost), and PromQL's warning annotations.
    warnings: Vec<String>,
    /// `infos` (Prometheus 3): informational annotations, never a sign of missing data.
    infos: Vec<String>,
    /// `isPartial` (VictoriaMetrics cluster): some storage node did not answer.
    is_partial: bool,
}

#[derive(Debug, Default)]
struct Data {
    result_type: Option<String>,
    /// Kept series, in the order sent.
    series: Vec<Series>,
}

/// Reads an answer from a stream of bytes, keeping the series `keep` accepts.
pub fn read(reader: impl io::Read, keep: Keep<'_>) -> Result<Answer, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_reader(reader);
    let answer = AnswerSeed { keep }.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(answer)
}

/// [`read`] for a body already in memory.
pub fn from_slice(body: &[u8], keep: Keep<'_>) -> Result<Answer, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let answer = AnswerSeed { keep }.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(answer)
}

impl Answer {
    /// The warnings of the answer, and its informational annotations.
    pub fn annotations(&self) -> (&[String], &[String]) {
        (&self.warnings, &self.infos)
    }

    /// Why the answer is incomplete, when it says so: a query layer's warning (anything but a
    /// PromQL annotation about the query itself) or VictoriaMetrics' `isPartial`.
    pub fn partial(&self) -> Option<String> {
        let lost: Vec<&str> = self
            .warnings
            .iter()
            .map(String::as_str)
            .filter(|w| !is_query_annotation(w))
            .collect();
        match (self.is_partial, lost.is_empty()) {
            (false, true) => None,
            (true, true) => Some("isPartial: true (a storage node did not answer)".into()),
            (_, false) => Some(lost.join("; ")),
        }
    }

    /// The kept series of a successful range query, or what the server said went wrong.
    pub fn into_series(self, url: &str, query: &str, http_status: u16) -> Result<Vec<Series>, SourceError> {
        if self.status.as_deref() != Some("success") {
            return Err(SourceError::Query {
                url: url.into(),
                query: query.into(),
                error_type: self.error_type.unwrap_or_else(|| format!("HTTP {http_status}")),
                message: self.error.unwrap_or_else(|| match self.status {
                    Some(status) => format!("status {status:?} with no error message"),
                    None => "no status and no error message".into(),
                }),
            });
        }
        if let Some(reason) = self.partial() {
            return Err(SourceError::Partial {
                url: url.into(),
                query: query.into(),
                reason,
            });
        }
        let data = self.data.ok_or_else(|| SourceError::Malformed {
            url: url.into(),
            query: query.into(),
            reason: "no data in a success response".into(),
        })?;
        match data.result_type.as_deref() {
            Some("matrix") => Ok(data.series),
            other => Err(SourceError::Query {
                url: url.into(),
                query: query.into(),
                error_type: "bad_result".into(),
                message: format!(
                    "expected a range vector (matrix), got {}",
                    other.unwrap_or("no resultType")
                ),
            }),
        }
    }
}

/// Whether a warning is one of PromQL's annotations about the query (`PromQL warning: ...`,
/// `PromQL info: ...`), which say nothing about missing data.
fn is_query_annotation(warning: &str) -> bool {
    warning.trim_start().starts_with("PromQL ")
}

/// Object keys, read without allocating.
#[derive(Clone, Copy, PartialEq)]
enum Key {
    Status,
    ErrorType,
    Error,
    Data,
    ResultType,
    Result,
    Metric,
    Values,
    Warnings,
    Infos,
    IsPartial,
    Other,
}

impl<'de> serde::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Key, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
                Ok(match key {
                    "status" => Key::Status,
                    "errorType" => Key::ErrorType,
                    "error" => Key::Error,
                    "data" => Key::Data,
                    "resultType" => Key::ResultType,
                    "result" => Key::Result,
                    "metric" => Key::Metric,
                    "values" => Key::Values,
                    "warnings" => Key::Warnings,
                    "infos" => Key::Infos,
                    "isPartial" => Key::IsPartial,
                    _ => Key::Other,
                })
            }
        }
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

struct AnswerSeed<'k> {
    keep: Keep<'k>,
}

impl<'de> DeserializeSeed<'de> for AnswerSeed<'_> {
    type Value = Answer;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Answer, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for AnswerSeed<'_> {
    type Value = Answer;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Prometheus API response object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Answer, A::Error> {
        let mut answer = Answer::default();
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Status => answer.status = Some(map.next_value()?),
                Key::ErrorType => answer.error_type = map.next_value()?,
                Key::Error => answer.error = map.next_value()?,
                Key::Data => answer.data = map.next_value_seed(DataSeed { keep: self.keep })?,
                Key::Warnings => answer.warnings = map.next_value::<Option<Vec<String>>>()?.unwrap_or_default(),
                Key::Infos => answer.infos = map.next_value::<Option<Vec<String>>>()?.unwrap_or_default(),
                Key::IsPartial => answer.is_partial = map.next_value::<Option<bool>>()?.unwrap_or(false),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(answer)
    }
}

struct DataSeed<'k> {
    keep: Keep<'k>,
}

impl<'de> DeserializeSeed<'de> for DataSeed<'_> {
    type Value = Option<Data>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<Data>, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for DataSeed<'_> {
    type Value = Option<Data>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a data object with resultType and result")
    }
    fn visit_none<E: de::Error>(self) -> Result<Option<Data>, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Option<Data>, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<Data>, D::Error> {
        deserializer.deserialize_map(self)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Data>, A::Error> {
        let mut data = Data::default();
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::ResultType => data.result_type = Some(map.next_value()?),
                Key::Result => data.series = map.next_value_seed(ResultSeed { keep: self.keep })?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Some(data))
    }
}

/// The `result` array. For a matrix its elements are series; for other result types they are
/// not, and are skipped (the result type is judged once the whole answer is read).
struct ResultSeed<'k> {
    keep: Keep<'k>,
}

impl<'de> DeserializeSeed<'de> for ResultSeed<'_> {
    type Value = Vec<Series>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<Series>, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ResultSeed<'_> {
    type Value = Vec<Series>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a result array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Series>, A::Error> {
        let mut kept = Vec::new();
        while let Some(element) = seq.next_element_seed(ElementSeed { keep: self.keep })? {
            if let Some(series) = element {
                kept.push(series);
            }
        }
        Ok(kept)
    }
}

/// One element of `result`: a kept series, or nothing (dropped, or not a series at all).
struct ElementSeed<'k> {
    keep: Keep<'k>,
}

impl<'de> DeserializeSeed<'de> for ElementSeed<'_> {
    type Value = Option<Series>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<Series>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ElementSeed<'_> {
    type Value = Option<Series>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a series object with metric and values")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Series>, A::Error> {
        let mut labels: Option<Labels> = None;
        let mut wanted: Option<bool> = None;
        let mut samples: Option<Vec<Sample>> = None;
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Metric => {
                    let metric: HashMap<String, String> = map.next_value()?;
                    let parsed = Labels::new(metric);
                    wanted = Some((self.keep)(&parsed));
                    labels = Some(parsed);
                }
                Key::Values if wanted == Some(false) => {
                    map.next_value::<IgnoredAny>()?;
                }
                // Kept, or labels not seen yet: collected, decided at the end.
                Key::Values => samples = Some(map.next_value_seed(SamplesSeed)?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let labels = labels.unwrap_or_default();
        let wanted = wanted.unwrap_or_else(|| (self.keep)(&labels));
        Ok(wanted.then(|| Series {
            labels,
            samples: samples.unwrap_or_default(),
        }))
    }
    // Elements of other result types (a scalar's `[t, "v"]`): not series.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<Series>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Option<Series>, E> {
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Option<Series>, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Option<Series>, E> {
        Ok(None)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Option<Series>, E> {
        Ok(None)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Option<Series>, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Option<Series>, E> {
        Ok(None)
    }
}

/// `values`: an array of `[timestamp, "value"]` pairs.
struct SamplesSeed;

impl<'de> DeserializeSeed<'de> for SamplesSeed {
    type Value = Vec<Sample>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<Sample>, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for SamplesSeed {
    type Value = Vec<Sample>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of [timestamp, \"value\"] pairs")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Sample>, A::Error> {
        let mut samples = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(sample) = seq.next_element_seed(SampleSeed)? {
            samples.push(sample);
        }
        Ok(samples)
    }
}

struct SampleSeed;

impl<'de> DeserializeSeed<'de> for SampleSeed {
    type Value = Sample;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Sample, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for SampleSeed {
    type Value = Sample;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a [timestamp, \"value\"] pair")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Sample, A::Error> {
        let timestamp: f64 = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(0, &self))?;
        let value = seq
            .next_element_seed(ValueSeed)?
            .ok_or_else(|| de::Error::invalid_length(1, &self))?;
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(de::Error::invalid_length(3, &self));
        }
        Ok(Sample { timestamp, value })
    }
}

/// A sample value: a string holding a float, `NaN` or `±Inf`, parsed without a copy.
struct ValueSeed;

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = f64;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<f64, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for ValueSeed {
    type Value = f64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a sample value as a string (\"1.5\", \"NaN\", \"+Inf\")")
    }
    fn visit_str<E: de::Error>(self, value: &str) -> Result<f64, E> {
        value
            .parse()
            .map_err(|_| E::custom(format!("sample value {value:?} is not a number")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query() -> &'static str {
        "up"
    }

    const BODY: &str = r#"{"status":"success","data":{"resultType":"matrix","result":[
        {"metric":{"__name__":"x","instance":"a"},"values":[[1700000000.123,"1.5"],[1700000300,"NaN"],[1700000600,"+Inf"]]},
        {"values":[[1700000000,"2"]],"metric":{"instance":"b"}},
        {"metric":{"instance":"c"},"values":[[1700000000,"3"]],"histograms":[]}
    ]},"warnings":["PromQL warning: w"],"infos":["PromQL info: i"]}"#;

    #[test]
    fn keeps_only_the_wanted_series_whatever_the_key_order() {
        let keep = |labels: &Labels| labels.get("instance") != Some("a");
        let streamed = read(BODY.as_bytes(), &keep)
            .expect("valid")
            .into_series("u", query(), 200);
        let series = streamed.expect("a matrix");
        let names: Vec<_> = series.iter().map(|s| s.labels.get("instance").unwrap_or("")).collect();
        assert_eq!(names, ["b", "c"]);
        assert_eq!(series[0].samples[0].value, 2.0);
        let everything = from_slice(BODY.as_bytes(), &|_| true).expect("valid");
        let series = everything.into_series("u", query(), 200).expect("a matrix");
        assert_eq!(series.len(), 3);
        assert_eq!(series[0].samples[0].timestamp, 1_700_000_000.123);
        assert!(series[0].samples[1].value.is_nan());
        assert_eq!(series[0].samples[2].value, f64::INFINITY);
    }

    /// Hands out a body a few bytes at a time, as a network does: tokens split anywhere.
    struct Trickle<'a> {
        body: &'a [u8],
        next: usize,
    }

    impl io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.next = self.next % 7 + 1;
            let n = self.next.min(buf.len()).min(self.body.len());
            buf[..n].copy_from_slice(&self.body[..n]);
            self.body = &self.body[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_body_read_in_pieces_parses_as_a_whole_one() {
        let keep = |labels: &Labels| labels.get("instance") != Some("b");
        let whole = from_slice(BODY.as_bytes(), &keep).expect("valid");
        let pieces = read(
            Trickle {
                body: BODY.as_bytes(),
                next: 0,
            },
            &keep,
        )
        .expect("valid");
        let whole = whole.into_series("u", query(), 200).expect("a matrix");
        let pieces = pieces.into_series("u", query(), 200).expect("a matrix");
        assert_eq!(whole.len(), 2);
        for (a, b) in whole.iter().zip(&pieces) {
            assert_eq!(a.labels, b.labels);
            assert_eq!(format!("{:?}", a.samples), format!("{:?}", b.samples));
        }
        // Cut short, it is an error, never a shorter answer.
        let cut = &BODY.as_bytes()[..BODY.len() / 2];
        assert!(read(Trickle { body: cut, next: 0 }, &keep).is_err());
    }

    #[test]
    fn a_bad_value_is_an_error_only_in_a_kept_series() {
        let body = r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"instance":"a"},"values":[[1,"x"]]}]}}"#;
        let err = from_slice(body.as_bytes(), &|_| true).expect_err("not a number");
        assert!(err.to_string().contains("sample value \"x\" is not a number"), "{err}");
        // A dropped series is skipped as JSON: its values are not parsed.
        assert!(from_slice(body.as_bytes(), &|_| false).is_ok());
    }

    #[test]
    fn other_result_types_and_errors_are_reported() {
        let scalar = r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000,"1"]}}"#;
        let err = from_slice(scalar.as_bytes(), &|_| true)
            .expect("valid JSON")
            .into_series("u", query(), 200)
            .expect_err("not a matrix");
        assert!(err.to_string().contains("got scalar"), "{err}");
        let vector = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1"]}]}}"#;
        let err = from_slice(vector.as_bytes(), &|_| true)
            .expect("valid JSON")
            .into_series("u", query(), 200)
            .expect_err("not a matrix");
        assert!(err.to_string().contains("got vector"), "{err}");
        let error = r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#;
        let err = from_slice(error.as_bytes(), &|_| true)
            .expect("valid JSON")
            .into_series("u", query(), 400)
            .expect_err("an error");
        assert!(err.to_string().contains("bad_data: parse error"), "{err}");
        for broken in [
            r#"{"status":"success","data":{"result":[{"values":[[1]]}]}}"#,
            "{\"status\":",
            "[]",
        ] {
            assert!(from_slice(broken.as_bytes(), &|_| true).is_err(), "{broken}");
        }
    }

    #[test]
    fn a_partial_answer_is_refused_and_annotations_are_not() {
        let keep = |_: &Labels| true;
        let body = |tail: &str| format!(r#"{{"status":"success","data":{{"resultType":"matrix","result":[]}}{tail}}}"#);
        let thanos =
            body(r#","warnings":["No StoreAPIs matched for this query: store 10.20.0.7:10901 (dc2) unavailable"]"#);
        let error = from_slice(thanos.as_bytes(), &keep)
            .expect("json")
            .into_series("u", "q", 200)
            .expect_err("partial");
        assert!(
            matches!(&error, SourceError::Partial { reason, .. } if reason.contains("10.20.0.7:10901")),
            "{error}"
        );
        let victoria = body(r#","isPartial":true"#);
        assert!(matches!(
            from_slice(victoria.as_bytes(), &keep)
                .expect("json")
                .into_series("u", "q", 200),
            Err(SourceError::Partial { .. })
        ));
        let annotated = body(
            r#","warnings":["PromQL warning: encountered a mix of histograms and floats"],"infos":["PromQL info: metric might not be a counter"],"isPartial":false"#,
        );
        let answer = from_slice(annotated.as_bytes(), &keep).expect("json");
        assert_eq!(answer.annotations().0.len() + answer.annotations().1.len(), 2);
        assert!(answer.into_series("u", "q", 200).is_ok());
    }
}
