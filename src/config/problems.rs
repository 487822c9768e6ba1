//! Collecting every problem in a configuration, not just the first.
//!
//! serde stops at the first error; an operator fixing a config wants the whole list at once.
//! A [`Table`] hands out its keys one by one, records a [`Problem`] (file, line, key, what is
//! wrong, what would be valid) for each bad or unknown one, and carries on.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// One thing wrong with a configuration or model file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// File path, or `environment variable NAME` for an override.
    pub origin: String,
    pub line: Option<usize>,
    /// Dotted key path, e.g. `source.timeout`.
    pub key: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: ", self.origin, line)?,
            None => write!(f, "{}: ", self.origin)?,
        }
        if self.key.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

/// A non-empty list of problems; the error type of every loader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// A parsed document: where it came from, its text (for line numbers) and which keys were set
/// by environment variables instead.
pub struct Document {
    origin: String,
    text: String,
    env_overrides: BTreeMap<String, String>,
    problems: RefCell<Vec<Problem>>,
}

impl Document {
    /// `env_overrides` maps dotted key paths to the environment variable that set them.
    pub fn new(origin: impl Into<String>, text: impl Into<String>, env_overrides: BTreeMap<String, String>) -> Self {
        Document {
            origin: origin.into(),
            text: text.into(),
            env_overrides,
            problems: RefCell::new(Vec::new()),
        }
    }

    /// The root table of `value`; an error is recorded if it is not a table.
    pub fn root(&self, value: Value) -> Table<'_> {
        let map = match value {
            Value::Object(map) => map,
            _ => {
                self.report(&[], "the document must be a table of keys".to_string());
                Map::new()
            }
        };
        Table {
            document: self,
            path: Vec::new(),
            map,
            known: Vec::new(),
        }
    }

    /// Records a problem at `path` (which may be empty for the whole document).
    pub fn report(&self, path: &[String], message: String) {
        let key = path.join(".");
        let located = locate(&self.text, path);
        // A key the file does not have, set by a variable (`HEADROOM_SORCE__URL` gives an
        // unknown `sorce`): blame the variable, not the file.
        let from_env = self.env_overrides.get(&key).or_else(|| {
            let below = format!("{key}.");
            let written = located.is_some_and(|(depth, _)| depth == path.len());
            (!written)
                .then(|| {
                    self.env_overrides
                        .iter()
                        .find(|(k, _)| k.starts_with(&below))
                        .map(|(_, v)| v)
                })
                .flatten()
        });
        let line = located.map(|(_, line)| line);
        let (origin, line) = match from_env {
            Some(var) => (format!("environment variable {var}"), None),
            None => (self.origin.clone(), line),
        };
        self.problems.borrow_mut().push(Problem {
            origin,
            line,
            key,
            message,
        });
    }

    /// Records a problem not tied to a key (a syntax error with its own position, say).
    pub fn report_at(&self, line: Option<usize>, message: String) {
        self.problems.borrow_mut().push(Problem {
            origin: self.origin.clone(),
            line,
            key: String::new(),
            message,
        });
    }

    /// Records a problem built elsewhere.
    pub fn push(&self, problem: Problem) {
        self.problems.borrow_mut().push(problem);
    }

    /// Everything recorded so far, in order.
    pub fn into_problems(self) -> Vec<Problem> {
        self.problems.into_inner()
    }

    /// Whether anything has been recorded.
    pub fn has_problems(&self) -> bool {
        !self.problems.borrow().is_empty()
    }

    /// The document's origin (its file path).
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

/// A table whose keys are taken one at a time; [`Table::finish`] reports the rest as unknown.
pub struct Table<'d> {
    document: &'d Document,
    path: Vec<String>,
    map: Map<String, Value>,
    known: Vec<&'static str>,
}

impl<'d> Table<'d> {
    fn path_of(&self, key: &str) -> Vec<String> {
        let mut path = self.path.clone();
        path.push(key.to_string());
        path
    }

    /// Records a problem about `key` of this table.
    pub fn report(&self, key: &str, message: impl Into<String>) {
        self.document.report(&self.path_of(key), message.into());
    }

    /// Whether the table has no keys left to take.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Whether the key is present (and marks it as known).
    pub fn contains(&mut self, key: &'static str) -> bool {
        self.known.push(key);
        self.map.contains_key(key)
    }

    /// Takes an optional key, deserialised as `T`; a wrong type is recorded.
    pub fn optional<T: DeserializeOwned>(&mut self, key: &'static str, expected: &str) -> Option<T> {
        self.known.push(key);
        let value = self.map.remove(key)?;
        // As written first (a string field keeps "1795675800"), then with an environment
        // override's string read as the number or boolean it spells.
        if let Ok(parsed) = serde_json::from_value::<T>(value.clone()) {
            return Some(parsed);
        }
        match serde_json::from_value::<T>(coerce_string_scalar(value.clone())) {
            Ok(parsed) => Some(parsed),
            Err(_) => {
                self.report(key, format!("expected {expected}, found {}", describe(&value)));
                None
            }
        }
    }

    /// Takes a required key; a missing one is recorded.
    pub fn required<T: DeserializeOwned>(&mut self, key: &'static str, expected: &str) -> Option<T> {
        if !self.map.contains_key(key) {
            self.known.push(key);
            self.report(key, format!("missing; expected {expected}"));
            return None;
        }
        self.optional(key, expected)
    }

    /// Takes an optional string key and parses it with `FromStr`; the parse error is recorded.
    pub fn parsed<T>(&mut self, key: &'static str, expected: &str) -> Option<T>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        let text: String = self.optional(key, expected)?;
        match text.parse() {
            Ok(parsed) => Some(parsed),
            Err(error) => {
                self.report(key, error.to_string());
                None
            }
        }
    }

    /// [`Table::parsed`] for a duration that may be zero (`0s`, `0d`: a default, such as no
    /// lead time), which durations elsewhere may not be.
    pub fn duration_or_zero(&mut self, key: &'static str, expected: &str) -> Option<crate::duration::PromDuration> {
        let text: String = self.optional(key, expected)?;
        let digits = || text.chars().filter(char::is_ascii_digit);
        if digits().count() > 0
            && digits().all(|c| c == '0')
            && text.replace('0', "1").parse::<crate::duration::PromDuration>().is_ok()
        {
            return Some(crate::duration::PromDuration::from_secs(0));
        }
        match text.parse() {
            Ok(parsed) => Some(parsed),
            Err(error) => {
                self.report(key, error.to_string());
                None
            }
        }
    }

    /// Takes an optional sub-table; a non-table value is recorded. A missing key gives an
    /// empty table, so defaults apply and unknown-key checks still run.
    pub fn table(&mut self, key: &'static str) -> Table<'d> {
        self.known.push(key);
        let map = match self.map.remove(key) {
            None => Map::new(),
            Some(Value::Object(map)) => map,
            Some(other) => {
                self.report(key, format!("expected a table, found {}", describe(&other)));
                Map::new()
            }
        };
        Table {
            document: self.document,
            path: self.path_of(key),
            map,
            known: Vec::new(),
        }
    }

    /// Takes an optional array of tables (`[[key]]` in TOML); each comes back as a table whose
    /// problems are reported as `key.N.field`.
    pub fn array_of_tables(&mut self, key: &'static str) -> Vec<Table<'d>> {
        self.known.push(key);
        match self.map.remove(key) {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .into_iter()
                .enumerate()
                .filter_map(|(index, item)| {
                    let mut path = self.path_of(key);
                    path.push(index.to_string());
                    match item {
                        Value::Object(map) => Some(Table {
                            document: self.document,
                            path,
                            map,
                            known: Vec::new(),
                        }),
                        other => {
                            self.document
                                .report(&path, format!("expected a table, found {}", describe(&other)));
                            None
                        }
                    }
                })
                .collect(),
            Some(other) => {
                self.report(
                    key,
                    format!("expected a list of tables ([[{key}]]), found {}", describe(&other)),
                );
                Vec::new()
            }
        }
    }

    /// Takes an optional table of string values (like HTTP headers), in key order.
    pub fn string_map(&mut self, key: &'static str, expected: &str) -> Vec<(String, String)> {
        let map: Option<BTreeMap<String, String>> = self.optional(key, expected);
        map.map(|m| m.into_iter().collect()).unwrap_or_default()
    }

    /// Reports every key not taken as unknown, naming the valid ones.
    pub fn finish(self) {
        let mut valid: Vec<&str> = self.known.clone();
        valid.sort_unstable();
        valid.dedup();
        for key in self.map.keys() {
            self.document.report(
                &self.path_of(key),
                format!("unknown key; valid keys here: {}", valid.join(", ")),
            );
        }
    }
}

/// Environment overrides arrive as strings; numbers and booleans written there are accepted.
fn coerce_string_scalar(value: Value) -> Value {
    if let Value::String(text) = &value {
        if let Ok(number) = text.parse::<i64>() {
            return Value::from(number);
        }
        if let Ok(number) = text.parse::<f64>() {
            if let Some(n) = serde_json::Number::from_f64(number) {
                return Value::Number(n);
            }
        }
        if let Ok(flag) = text.parse::<bool>() {
            return Value::Bool(flag);
        }
    }
    value
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "nothing".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a table".into(),
    }
}

/// The 1-based line where the key at `path` is written in TOML `text`, or where the nearest
/// enclosing key or table is, when the key itself is inside an inline table or missing. A
/// path reaches into arrays of tables by index (`scenarios.1.changes.0.models`): the second
/// `[[scenarios]]`, its first `[[scenarios.changes]]`.
pub fn line_of(text: &str, path: &[String]) -> Option<usize> {
    locate(text, path).map(|(_, line)| line)
}

/// [`line_of`], with how many parts of `path` the line found matches (all of them when the
/// key itself is written there).
fn locate(text: &str, path: &[String]) -> Option<(usize, usize)> {
    let mut header: Vec<String> = Vec::new();
    // Arrays of tables seen so far, by their indexed path, with how many elements each has.
    let mut arrays: BTreeMap<Vec<String>, usize> = BTreeMap::new();
    let mut best: Option<(usize, usize)> = None; // (matched depth, line)
    let consider = |full: &[String], line: usize, best: &mut Option<(usize, usize)>| {
        let depth = common_prefix(full, path);
        if depth == full.len() && depth > best.map_or(0, |b| b.0) {
            *best = Some((depth, line));
        }
    };
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            let is_array = line.starts_with("[[");
            let inner = line.trim_start_matches('[').split(']').next().unwrap_or("");
            header = indexed(&split_key(inner), &arrays);
            if is_array {
                // Arrays inside an element are keyed by the element's index, so they count
                // from 0 again in the next one.
                let count = arrays.entry(header.clone()).or_insert(0);
                header.push(count.to_string());
                *count += 1;
            }
            consider(&header, index + 1, &mut best);
            continue;
        }
        let Some((key, _)) = line.split_once('=') else { continue };
        let mut full = header.clone();
        full.extend(split_key(key));
        consider(&full, index + 1, &mut best);
    }
    best
}

/// A dotted table name with the current element index inserted after each array of tables it
/// passes through (`scenarios.changes` → `scenarios.2.changes` inside the third scenario).
fn indexed(key: &[String], arrays: &BTreeMap<Vec<String>, usize>) -> Vec<String> {
    let mut path: Vec<String> = Vec::new();
    for (i, part) in key.iter().enumerate() {
        path.push(part.clone());
        if i + 1 < key.len() {
            if let Some(count) = arrays.get(&path) {
                path.push(count.saturating_sub(1).to_string());
            }
        }
    }
    path
}

fn split_key(key: &str) -> Vec<String> {
    key.split('.')
        .map(|part| part.trim().trim_matches('"').trim_matches('\'').to_string())
        .collect()
}

fn common_prefix(a: &[String], b: &[String]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let text = "[source]\nurl = 5\ntimeout = \"soon\"\ncolour = \"red\"\n";
        let value: Value = serde_json::to_value(toml::from_str::<toml::Table>(text).expect("toml")).expect("json");
        let document = Document::new("headroom.toml", text, BTreeMap::new());
        let mut root = document.root(value);
        let mut source = root.table("source");
        let _: Option<String> = source.required("url", "a URL string");
        let _: Option<crate::duration::PromDuration> = source.parsed("timeout", "a duration");
        source.finish();
        root.finish();
        let problems: Vec<String> = document.into_problems().iter().map(ToString::to_string).collect();
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert!(problems[0].starts_with("headroom.toml:2: source.url: expected a URL string"));
        assert!(problems[1].starts_with("headroom.toml:3: source.timeout: invalid duration"));
        assert!(problems[2].starts_with("headroom.toml:4: source.colour: unknown key"));
    }

    #[test]
    fn strings_stay_strings_and_env_numbers_become_numbers() {
        let value = serde_json::json!({"from": "1795675800", "port": "9090"});
        let document = Document::new("t.toml", "", BTreeMap::new());
        let mut root = document.root(value);
        assert_eq!(
            root.optional::<String>("from", "a string").as_deref(),
            Some("1795675800")
        );
        assert_eq!(root.optional::<u16>("port", "a port"), Some(9090));
        root.finish();
        assert!(!document.has_problems());
    }

    #[test]
    fn lines_reach_into_arrays_of_tables() {
        let text = "[[scenarios]]\nname = \"a\"\n[[scenarios.changes]]\nmodels = [\"x\"]\n\n[[scenarios]]\nname = \"b\"\n[[scenarios.changes]]\nkind = \"step\"\n[[scenarios.changes]]\nmodels = [\"y\"]\n[[webhooks]]\nname = \"ops\"\n";
        let at = |path: &str| line_of(text, &path.split('.').map(String::from).collect::<Vec<_>>());
        assert_eq!(at("scenarios.0.changes.0.models"), Some(4));
        assert_eq!(at("scenarios.1.name"), Some(7));
        assert_eq!(at("scenarios.1.changes.1.models"), Some(11));
        assert_eq!(
            at("scenarios.1.changes.0.models"),
            Some(8),
            "the element, when the key is missing"
        );
        assert_eq!(at("webhooks.0.secret"), Some(12));
    }

    #[test]
    fn a_misspelt_variable_is_blamed_not_the_file() {
        let mut env = BTreeMap::new();
        env.insert("sorce.url".to_string(), "HEADROOM_SORCE__URL".to_string());
        env.insert("source.bogus.x".to_string(), "HEADROOM_SOURCE__BOGUS__X".to_string());
        let document = Document::new("headroom.toml", "[source]\nurl = \"x\"\n", env);
        document.report(&["sorce".into()], "unknown key".into());
        document.report(&["source".into(), "bogus".into()], "unknown key".into());
        document.report(&["source".into(), "url".into()], "bad".into());
        let problems: Vec<String> = document.into_problems().iter().map(ToString::to_string).collect();
        assert_eq!(
            problems,
            [
                "environment variable HEADROOM_SORCE__URL: sorce: unknown key",
                "environment variable HEADROOM_SOURCE__BOGUS__X: source.bogus: unknown key",
                "headroom.toml:2: source.url: bad",
            ]
        );
    }

    #[test]
    fn environment_overrides_are_named() {
        let mut env = BTreeMap::new();
        env.insert("server.listen".to_string(), "HEADROOM_SERVER__LISTEN".to_string());
        let document = Document::new("headroom.toml", "", env);
        document.report(&["server".into(), "listen".into()], "bad".into());
        assert_eq!(
            document.into_problems()[0].to_string(),
            "environment variable HEADROOM_SERVER__LISTEN: server.listen: bad"
        );
    }
}
