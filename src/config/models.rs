//! Reading capacity model files: one TOML file per resource in the models directory.
//!
//! Every file is checked in full: all problems are reported with file, line and key. The
//! values it builds are the plain types of [`crate::model`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::config::problems::{Document, Problem, Problems, Table};
use crate::duration::PromDuration;
use crate::model::{Capacity, CapacityModel, Direction, Downsample, Driver, Scaling, Threshold};
use crate::percent::Percent;

/// Most grid points a model may ask the engine to handle per series.
const MAX_POINTS: f64 = 200_000.0;

/// Parses one model file's text. `origin` names the file in problems.
pub fn parse(origin: &Path, text: &str) -> Result<CapacityModel, Vec<Problem>> {
    let document = Document::new(origin.display().to_string(), text, BTreeMap::new());
    let tree = match toml::from_str::<toml::Table>(text) {
        Ok(table) => serde_json::to_value(table).unwrap_or_default(),
        Err(error) => {
            let line = error
                .span()
                .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
            document.report_at(line, format!("not valid TOML: {}", error.message()));
            return Err(document.into_problems());
        }
    };
    let mut root = document.root(tree);
    let name: Option<String> = root.required("name", "a name of lowercase letters, digits, - and _");
    if let Some(name) = &name {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        {
            root.report(
                "name",
                format!("{name:?} is not valid; use lowercase letters, digits, - and _"),
            );
        }
    }
    let description: String = root.optional("description", "a string").unwrap_or_default();
    let usage: Option<String> = root.required("usage", "a PromQL query returning one series per entity");
    if usage.as_deref().is_some_and(|q| q.trim().is_empty()) {
        root.report("usage", "the query is empty");
    }
    let capacity = if root.contains("capacity") {
        let value: Option<serde_json::Value> = root.optional("capacity", "a PromQL query string or a number");
        match value {
            Some(serde_json::Value::String(query)) if !query.trim().is_empty() => Some(Capacity::Query(query)),
            Some(serde_json::Value::Number(n)) if n.as_f64().is_some_and(|v| v > 0.0 && v.is_finite()) => {
                n.as_f64().map(Capacity::Constant)
            }
            Some(_) => {
                root.report(
                    "capacity",
                    "expected a non-empty PromQL query string or a positive number",
                );
                None
            }
            None => None,
        }
    } else {
        None
    };
    let threshold = if root.contains("threshold") {
        let value: Option<serde_json::Value> = root.optional("threshold", "\"90%\" or a number");
        match value {
            Some(serde_json::Value::String(text)) => match text.parse::<Threshold>() {
                Ok(t) => Some(t),
                Err(message) => {
                    root.report("threshold", message);
                    None
                }
            },
            Some(serde_json::Value::Number(n)) => n.as_f64().map(Threshold::Absolute),
            Some(_) => {
                root.report(
                    "threshold",
                    "expected a percentage of capacity such as \"90%\", or a number",
                );
                None
            }
            None => None,
        }
    } else {
        root.report(
            "threshold",
            "missing; expected a percentage of capacity such as \"90%\", or a number",
        );
        None
    };
    if matches!(threshold, Some(Threshold::Fraction(_))) && capacity.is_none() && usage.is_some() {
        root.report(
            "threshold",
            "a percentage threshold needs a capacity (a query or a number)",
        );
    }
    let direction = root
        .optional("direction", "\"above\" or \"below\"")
        .unwrap_or(Direction::Above);
    let unit: String = root.optional("unit", "a unit name such as bytes").unwrap_or_default();
    let history = root
        .parsed("history", "a duration such as 28d")
        .unwrap_or(PromDuration::from_secs(28 * 86_400));
    let step = root
        .parsed("step", "a duration such as 5m")
        .unwrap_or(PromDuration::from_secs(300));
    let horizon = root
        .parsed("horizon", "a duration such as 30d")
        .unwrap_or(PromDuration::from_secs(30 * 86_400));
    if history <= step {
        root.report("history", format!("must be longer than step ({step})"));
    }
    for (key, span) in [("history", history), ("horizon", horizon)] {
        let points = span.as_secs_f64() / step.as_secs_f64();
        if points > MAX_POINTS {
            root.report(
                key,
                format!(
                    "{span} at step {step} is {points:.0} points; at most {MAX_POINTS:.0}: raise step or shorten it"
                ),
            );
        }
    }
    let downsample = downsample_section(root.table("downsample"), step);
    let stale_after: Option<PromDuration> = root.parsed("stale_after", "a duration such as 1h");
    if stale_after.is_some_and(|s| s < step) {
        root.report("stale_after", format!("must be at least one step ({step})"));
    }
    let interval: Option<PromDuration> = root.parsed("interval", "a duration such as 1h");
    if interval.is_some_and(|i| i.as_secs_f64() < 1.0) {
        root.report("interval", "must be at least 1s");
    }
    let team: Option<String> = root.optional("team", "a team or owner name");
    let timezone = root
        .optional::<String>("timezone", "an IANA time zone name such as \"Europe/Paris\"")
        .and_then(|name| match name.parse::<chrono_tz::Tz>() {
            Ok(zone) => Some(zone),
            Err(_) => {
                root.report(
                    "timezone",
                    format!("{name:?} is not an IANA time zone name; use one such as \"Europe/Paris\" or \"UTC\""),
                );
                None
            }
        });
    let scaling = scaling_section(root.table("scaling"));
    let driver = driver_section(root.table("driver"));
    root.finish();
    if document.has_problems() {
        return Err(document.into_problems());
    }
    match (name, usage, threshold) {
        (Some(name), Some(usage), Some(threshold)) => Ok(CapacityModel {
            name,
            description,
            file: origin.to_path_buf(),
            usage,
            capacity,
            threshold,
            direction,
            unit,
            history,
            step,
            horizon,
            interval,
            stale_after,
            downsample,
            team,
            scaling,
            driver,
            timezone,
        }),
        _ => Err(document.into_problems()),
    }
}

/// Reads the optional `[downsample]` table.
fn downsample_section(mut table: Table<'_>, step: PromDuration) -> Option<Downsample> {
    if table.is_empty() {
        table.finish();
        return None;
    }
    let function: String = table
        .optional("function", "\"max\", \"avg\" or \"min\"")
        .unwrap_or_else(|| "max".into());
    if !["max", "avg", "min"].contains(&function.as_str()) {
        table.report(
            "function",
            format!("{function:?} is not supported; valid: \"max\", \"avg\", \"min\""),
        );
    }
    let resolution: PromDuration = table
        .parsed("resolution", "a duration such as 5m (the scrape interval)")
        .unwrap_or(PromDuration::from_secs(300));
    if resolution.as_secs_f64() >= step.as_secs_f64() {
        table.report(
            "resolution",
            format!("must be shorter than step ({step}) to downsample"),
        );
    }
    table.finish();
    Some(Downsample { function, resolution })
}

/// Reads the optional `[driver]` table: `None` when absent or empty.
fn driver_section(mut table: Table<'_>) -> Option<Driver> {
    if table.is_empty() {
        return None;
    }
    let name: Option<String> = table.required("name", "the driver's name, such as \"requests\"");
    let query: Option<String> = table.required("query", "PromQL for the business metric");
    if query.as_deref().is_some_and(|q| q.trim().is_empty()) {
        table.report("query", "the query is empty");
    }
    table.finish();
    Some(Driver {
        name: name?,
        query: query?,
    })
}

/// Reads the optional `[scaling]` table: `None` when it is absent or empty; otherwise
/// `unit_size` is required and every problem is recorded.
fn scaling_section(mut table: Table<'_>) -> Option<Scaling> {
    if table.is_empty() {
        return None;
    }
    let unit_size: Option<f64> = table.required("unit_size", "the capacity of one unit, a positive number");
    if unit_size.is_some_and(|v| !(v > 0.0 && v.is_finite())) {
        table.report("unit_size", "must be a positive number");
    }
    let unit_name: String = table
        .optional("unit_name", "a name such as \"node\"")
        .unwrap_or_else(|| "unit".into());
    let unit_cost: f64 = table
        .optional("unit_cost", "the monthly cost of one unit")
        .unwrap_or(0.0);
    if !(unit_cost >= 0.0 && unit_cost.is_finite()) {
        table.report("unit_cost", "must be zero or more");
    }
    let currency: String = table
        .optional("currency", "a currency code such as \"EUR\"")
        .unwrap_or_else(|| "USD".into());
    let lead_time = table
        .duration_or_zero("lead_time", "a duration such as 21d, or 0s")
        .unwrap_or(PromDuration::from_secs(0));
    let target_utilization = match table.optional::<String>("target_utilization", "a percentage such as \"75%\"") {
        None => 1.0,
        Some(text) => match text.parse::<Percent>().map(Percent::fraction) {
            Ok(f) if f > 0.0 && f <= 1.0 => f,
            _ => {
                table.report(
                    "target_utilization",
                    format!("{text:?} is not a percentage from 1% to 100%"),
                );
                1.0
            }
        },
    };
    let min_units: u32 = table.optional("min_units", "a whole number").unwrap_or(0);
    let max_units: Option<u32> = table.optional("max_units", "a whole number");
    if max_units.is_some_and(|max| max < min_units) {
        table.report("max_units", format!("must be at least min_units ({min_units})"));
    }
    let overhead: f64 = table
        .optional(
            "overhead",
            "the capacity each unit spends on itself, in the model's unit",
        )
        .unwrap_or(0.0);
    if !(overhead >= 0.0 && overhead.is_finite()) || unit_size.is_some_and(|size| size > 0.0 && overhead >= size) {
        table.report(
            "overhead",
            "must be zero or more and less than unit_size (each unit must carry some usage)",
        );
    }
    let sizing_horizon: Option<PromDuration> = table.parsed("sizing_horizon", "a duration such as 30d");
    table.finish();
    Some(Scaling {
        unit_size: unit_size.filter(|v| *v > 0.0 && v.is_finite())?,
        overhead: if overhead.is_finite() && overhead >= 0.0 {
            overhead
        } else {
            0.0
        },
        sizing_horizon,
        unit_name,
        unit_cost,
        currency,
        lead_time,
        target_utilization,
        min_units,
        max_units,
    })
}

/// Loads every `*.toml` file in `dir`, sorted by file name; collects every problem in every
/// file, plus duplicate names.
pub fn load_dir(dir: &Path) -> Result<Vec<CapacityModel>, Problems> {
    let origin = dir.display().to_string();
    let problem = |message: String| {
        Problems(vec![Problem {
            origin: origin.clone(),
            line: None,
            key: String::new(),
            message,
        }])
    };
    let entries =
        std::fs::read_dir(dir).map_err(|error| problem(format!("cannot read the models directory: {error}")))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(problem(
            "no capacity models (*.toml files) here; see models/ in the Headroom repository for examples".into(),
        ));
    }
    let mut models = Vec::new();
    let mut problems = Vec::new();
    for file in files {
        match std::fs::read_to_string(&file) {
            Ok(text) => match parse(&file, &text) {
                Ok(model) => models.push(model),
                Err(mut found) => problems.append(&mut found),
            },
            Err(error) => problems.push(Problem {
                origin: file.display().to_string(),
                line: None,
                key: String::new(),
                message: format!("cannot read: {error}"),
            }),
        }
    }
    problems.extend(duplicate_names(&models));
    if problems.is_empty() {
        Ok(models)
    } else {
        Err(Problems(problems))
    }
}

/// Parses models given as `(origin, text)` pairs (the embedded demo uses this).
pub fn load_texts(texts: &[(&str, &str)]) -> Result<Vec<CapacityModel>, Problems> {
    let mut models = Vec::new();
    let mut problems = Vec::new();
    for (origin, text) in texts {
        match parse(Path::new(origin), text) {
            Ok(model) => models.push(model),
            Err(mut found) => problems.append(&mut found),
        }
    }
    problems.extend(duplicate_names(&models));
    if problems.is_empty() {
        Ok(models)
    } else {
        Err(Problems(problems))
    }
}

fn duplicate_names(models: &[CapacityModel]) -> Vec<Problem> {
    let mut seen = BTreeSet::new();
    models
        .iter()
        .filter(|m| !seen.insert(m.name.clone()))
        .map(|m| Problem {
            origin: m.file.display().to_string(),
            line: crate::config::problems::line_of(
                &std::fs::read_to_string(&m.file).unwrap_or_default(),
                &["name".into()],
            ),
            key: "name".into(),
            message: format!("model name {:?} is used by another file; names must be unique", m.name),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "node-filesystem"
usage = 'node_filesystem_size_bytes - node_filesystem_avail_bytes'
capacity = 'node_filesystem_size_bytes'
threshold = "90%"
unit = "bytes"
history = "28d"
step = "5m"
horizon = "30d"
"#;

    #[test]
    fn a_good_model_parses() {
        let model = parse(Path::new("fs.toml"), GOOD).expect("valid");
        assert_eq!(model.threshold, Threshold::Fraction(0.9));
        assert_eq!(model.threshold.resolve(Some(200.0)), Some(180.0));
        assert_eq!(model.direction, Direction::Above);
        assert!(matches!(model.capacity, Some(Capacity::Query(_))));
    }

    #[test]
    fn every_mistake_is_reported() {
        let text = "name = \"Bad Name\"\nusage = \"x\"\nthreshold = \"90%\"\nstep = \"5 minutes\"\nhorizon = \"30d\"\nwindow = \"7d\"\n";
        let problems = parse(Path::new("bad.toml"), text).expect_err("invalid");
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(lines.len(), 4, "{lines:#?}");
        assert!(lines[0].starts_with("bad.toml:1: name:"));
        assert!(lines[1].starts_with("bad.toml:3: threshold: a percentage threshold needs a capacity"));
        assert!(lines[2].starts_with("bad.toml:4: step: invalid duration"));
        assert!(lines[3].starts_with("bad.toml:6: window: unknown key"));
    }

    #[test]
    fn a_timezone_is_an_iana_name_and_a_wrong_one_is_named_at_its_line() {
        assert_eq!(parse(Path::new("fs.toml"), GOOD).expect("valid").timezone, None);
        let text = format!("{GOOD}timezone = \"America/New_York\"\n");
        let model = parse(Path::new("fs.toml"), &text).expect("valid");
        assert_eq!(model.timezone, Some(chrono_tz::America::New_York));
        let text = "name = \"web\"\nusage = \"x\"\nthreshold = 1\ntimezone = \"Paris\"\n";
        let problems = parse(Path::new("web.toml"), text).expect_err("invalid");
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(lines.len(), 1, "{lines:#?}");
        assert!(
            lines[0].starts_with("web.toml:4: timezone: \"Paris\" is not an IANA time zone name"),
            "{lines:#?}"
        );
    }

    #[test]
    fn thresholds_parse() {
        assert_eq!("85 %".parse::<Threshold>(), Ok(Threshold::Fraction(0.85)));
        assert_eq!("1e12".parse::<Threshold>(), Ok(Threshold::Absolute(1e12)));
        assert!("lots".parse::<Threshold>().is_err());
        assert!("0%".parse::<Threshold>().is_err());
    }

    const POOL: &str = r#"
name = "pool-cpu"
usage = 'sum by (pool) (rate(node_cpu_seconds_total{mode!="idle"}[5m]))'
capacity = 'count by (pool) (node_cpu_seconds_total{mode="idle"})'
threshold = "85%"
unit = "cores"
team = "platform"

[scaling]
unit_size = 16
unit_name = "node"
unit_cost = 412.5
currency = "EUR"
lead_time = "21d"
target_utilization = "70%"
min_units = 3
max_units = 40
"#;

    #[test]
    fn downsampling_wraps_the_usage_in_a_subquery() {
        let text = "name = \"d\"\nusage = \"a - b\"\nthreshold = 1\nstep = \"1h\"\n[downsample]\nfunction = \"max\"\nresolution = \"5m\"\n";
        let model = load_texts(&[("d.toml", text)]).expect("model").remove(0);
        assert_eq!(model.usage_query(), "max_over_time((a - b)[1h:5m])");
        let bad = "name = \"d\"\nusage = \"a\"\nthreshold = 1\nstep = \"5m\"\n[downsample]\nfunction = \"p99\"\nresolution = \"5m\"\n";
        let problems = load_texts(&[("d.toml", bad)]).expect_err("refused").to_string();
        assert!(
            problems.contains("downsample.function") && problems.contains("downsample.resolution"),
            "{problems}"
        );
    }

    #[test]
    fn scaling_parses() {
        let model = parse(Path::new("pool.toml"), POOL).expect("valid");
        assert_eq!(model.team.as_deref(), Some("platform"));
        let scaling = model.scaling.expect("scaling");
        assert_eq!(scaling.unit_size, 16.0);
        assert_eq!(scaling.lead_time.as_secs_f64(), 21.0 * 86_400.0);
        assert!((scaling.target_utilization - 0.7).abs() < 1e-12);
        assert_eq!((scaling.min_units, scaling.max_units), (3, Some(40)));
    }

    #[test]
    fn scaling_problems_are_all_reported() {
        let text = POOL
            .replace("unit_size = 16", "unit_size = -1")
            .replace("\"70%\"", "\"170%\"")
            .replace("max_units = 40", "max_units = 2\ncolour = 1");
        let problems: Vec<String> = parse(Path::new("pool.toml"), &text)
            .expect_err("invalid")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(problems.len(), 4, "{problems:#?}");
        assert!(problems[0].contains("scaling.unit_size: must be a positive number"));
        assert!(problems[1].contains("scaling.target_utilization"));
        assert!(problems[2].contains("scaling.max_units: must be at least min_units (3)"));
        assert!(problems[3].contains("scaling.colour: unknown key"));
    }
}
