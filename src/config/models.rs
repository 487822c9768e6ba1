//! Reading capacity model files: one TOML file per model in the models directory, with one
//! resource or several (`[[resources]]`, read by `resources.rs`).
//!
//! Every file is checked in full: all problems are reported with file, line and key. The
//! values it builds are the plain types of [`crate::model`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::config::problems::{Document, Problem, Problems, Table};
use crate::duration::PromDuration;
use crate::model::{Capacity, CapacityModel, Direction, Downsample, Driver, Member, Scaling, Threshold};
use crate::percent::Percent;

mod resources;

/// Most grid points a model may ask the engine to handle per series.
const MAX_POINTS: f64 = 200_000.0;

/// Parses the text of a model file with one resource. `origin` names the file in problems.
pub fn parse(origin: &Path, text: &str) -> Result<CapacityModel, Vec<Problem>> {
    let mut models = parse_file(origin, text)?;
    if models.len() == 1 {
        return Ok(models.remove(0));
    }
    Err(vec![Problem {
        origin: origin.display().to_string(),
        line: None,
        key: "resources".into(),
        message: format!("{} resources where one model was expected", models.len()),
    }])
}

/// Parses one model file's text: one model, or one per resource of a model with several
/// (`[[resources]]`, see [`crate::model::Member`]). `origin` names the file in problems.
pub fn parse_file(origin: &Path, text: &str) -> Result<Vec<CapacityModel>, Vec<Problem>> {
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
        if !valid_name(name) {
            root.report(
                "name",
                format!("{name:?} is not valid; use lowercase letters, digits, - and _"),
            );
        }
    }
    let description: String = root.optional("description", "a string").unwrap_or_default();
    let several = root.contains("resources");
    let single = (!several).then(|| resource_keys(&mut root));
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
    let scaling = scaling_section(root.table("scaling"), !several);
    let driver = driver_section(root.table("driver"));
    let resources = if several {
        resources::section(&mut root, scaling.is_some())
    } else {
        Vec::new()
    };
    root.finish();
    if document.has_problems() {
        return Err(document.into_problems());
    }
    let Some(name) = name else {
        return Err(document.into_problems());
    };
    let model = |keys: ResourceKeys, member: Option<Member>| -> Option<CapacityModel> {
        Some(CapacityModel {
            name: member
                .as_ref()
                .map_or_else(|| name.clone(), |m| format!("{name}.{}", m.resource)),
            description: description.clone(),
            file: origin.to_path_buf(),
            usage: keys.usage?,
            capacity: keys.capacity,
            threshold: keys.threshold?,
            direction: keys.direction,
            unit: keys.unit,
            history,
            step,
            horizon,
            interval,
            stale_after,
            downsample: downsample.clone(),
            team: team.clone(),
            scaling: scaling.clone(),
            driver: driver.clone(),
            timezone,
            member,
        })
    };
    let models: Option<Vec<CapacityModel>> = match single {
        Some(keys) => model(keys, None).map(|m| vec![m]),
        None => {
            let count = resources.len();
            resources
                .into_iter()
                .enumerate()
                .map(|(index, resource)| {
                    let mut built = model(
                        resource.keys,
                        Some(Member {
                            model: name.clone(),
                            resource: resource.name,
                            index,
                            count,
                            unit_size_query: resource.unit_size_query,
                        }),
                    )?;
                    if let Some(scaling) = built.scaling.as_mut() {
                        scaling.unit_size = resource.unit_size.unwrap_or(f64::NAN);
                        scaling.overhead = resource.overhead;
                    }
                    Some(built)
                })
                .collect()
        }
    };
    models.ok_or_else(|| document.into_problems())
}

/// Whether `name` is a valid model or resource name: lowercase letters, digits, `-` and `_`.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// The settings of one resource: at the top of a one-resource model file, or in each
/// `[[resources]]` table.
pub(crate) struct ResourceKeys {
    usage: Option<String>,
    capacity: Option<Capacity>,
    threshold: Option<Threshold>,
    direction: Direction,
    unit: String,
}

/// Reads the settings of one resource from `table` (every problem recorded).
pub(crate) fn resource_keys(table: &mut Table<'_>) -> ResourceKeys {
    let usage: Option<String> = table.required("usage", "a PromQL query returning one series per entity");
    if usage.as_deref().is_some_and(|q| q.trim().is_empty()) {
        table.report("usage", "the query is empty");
    }
    let capacity = if table.contains("capacity") {
        let value: Option<serde_json::Value> = table.optional("capacity", "a PromQL query string or a number");
        match value {
            Some(serde_json::Value::String(query)) if !query.trim().is_empty() => Some(Capacity::Query(query)),
            Some(serde_json::Value::Number(n)) if n.as_f64().is_some_and(|v| v > 0.0 && v.is_finite()) => {
                n.as_f64().map(Capacity::Constant)
            }
            Some(_) => {
                table.report(
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
    let threshold = if table.contains("threshold") {
        let value: Option<serde_json::Value> = table.optional("threshold", "\"90%\" or a number");
        match value {
            Some(serde_json::Value::String(text)) => match text.parse::<Threshold>() {
                Ok(t) => Some(t),
                Err(message) => {
                    table.report("threshold", message);
                    None
                }
            },
            Some(serde_json::Value::Number(n)) => n.as_f64().map(Threshold::Absolute),
            Some(_) => {
                table.report(
                    "threshold",
                    "expected a percentage of capacity such as \"90%\", or a number",
                );
                None
            }
            None => None,
        }
    } else {
        table.report(
            "threshold",
            "missing; expected a percentage of capacity such as \"90%\", or a number",
        );
        None
    };
    if matches!(threshold, Some(Threshold::Fraction(_))) && capacity.is_none() && usage.is_some() {
        table.report(
            "threshold",
            "a percentage threshold needs a capacity (a query or a number)",
        );
    }
    let direction = table
        .optional("direction", "\"above\" or \"below\"")
        .unwrap_or(Direction::Above);
    let unit: String = table.optional("unit", "a unit name such as bytes").unwrap_or_default();
    ResourceKeys {
        usage,
        capacity,
        threshold,
        direction,
        unit,
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

/// Reads the optional `[scaling]` table: `None` when it is absent or empty; otherwise every
/// problem is recorded. `one_resource`: `unit_size` (required) and `overhead` are here; a model
/// with several resources sets them per resource (its scaling's are then placeholders).
fn scaling_section(mut table: Table<'_>, one_resource: bool) -> Option<Scaling> {
    if table.is_empty() {
        return None;
    }
    let unit_size: Option<f64> = if one_resource {
        table.required("unit_size", "the capacity of one unit, a positive number")
    } else {
        Some(f64::NAN)
    };
    if one_resource && unit_size.is_some_and(|v| !(v > 0.0 && v.is_finite())) {
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
                    format!("{text:?} is not a percentage above 0% and at most 100%"),
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
    let overhead: f64 = if one_resource {
        table
            .optional(
                "overhead",
                "the capacity each unit spends on itself, in the model's unit",
            )
            .unwrap_or(0.0)
    } else {
        0.0
    };
    if !(overhead >= 0.0 && overhead.is_finite()) || unit_size.is_some_and(|size| size > 0.0 && overhead >= size) {
        table.report(
            "overhead",
            "must be zero or more and less than unit_size (each unit must carry some usage)",
        );
    }
    let sizing_horizon: Option<PromDuration> = table.parsed("sizing_horizon", "a duration such as 30d");
    table.finish();
    Some(Scaling {
        unit_size: unit_size.filter(|v| (*v > 0.0 && v.is_finite()) || (!one_resource && v.is_nan()))?,
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
            Ok(text) => match parse_file(&file, &text) {
                Ok(mut found) => models.append(&mut found),
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
        match parse_file(Path::new(origin), text) {
            Ok(mut found) => models.append(&mut found),
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
    let mut files = BTreeSet::new();
    models
        .iter()
        // A model with several resources is one model, from one file.
        .filter(|m| files.insert((m.file.clone(), m.model_name().to_string())))
        .filter(|m| !seen.insert(m.model_name().to_string()))
        .map(|m| Problem {
            origin: m.file.display().to_string(),
            line: crate::config::problems::line_of(
                &std::fs::read_to_string(&m.file).unwrap_or_default(),
                &["name".into()],
            ),
            key: "name".into(),
            message: format!(
                "model name {:?} is used by another file; names must be unique",
                m.model_name()
            ),
        })
        .collect()
}

#[cfg(test)]
mod tests;
