//! `[[scenarios]]` in the config: named what-ifs applied on top of the baseline forecast.
//!
//! ```toml
//! [[scenarios]]
//! name = "launch"
//! description = "Launch on 1 March brings 30 % more traffic"
//! [[scenarios.changes]]
//! kind = "step"              # growth | step | peak (a peak takes duration, and every to repeat)
//! from = "2027-03-01"        # a date (UTC midnight), an RFC 3339 time, "now", or "+14d"
//!                            # (after the evaluation time: moves with `once --at` and replay)
//! multiply = 1.3             # or add = 20000, in the model's unit
//! models = ["api-requests"]  # optional: every model when absent
//! labels = { job = "api" }   # optional: every entity when absent
//! # drivers = ["requests"]   # instead of models: move a business metric, and every
//! #                          # resource whose [driver] it is
//! ```

use std::collections::BTreeSet;

use chrono::{NaiveDate, NaiveTime};

use super::problems::Table;
use crate::duration::PromDuration;
use crate::percent::Percent;
use crate::scenario::{Change, ChangeKind, Effect, Scenario, Start};

/// Reads every `[[scenarios]]` table; problems are recorded in the document.
pub fn parse(root: &mut Table<'_>) -> Vec<Scenario> {
    let mut names = BTreeSet::new();
    let mut scenarios = Vec::new();
    for mut table in root.array_of_tables("scenarios") {
        let name: Option<String> = table.required("name", "a scenario name");
        let description: String = table.optional("description", "a sentence").unwrap_or_default();
        if let Some(name) = &name {
            if name == "baseline" || name.is_empty() || !names.insert(name.clone()) {
                table.report(
                    "name",
                    format!("{name:?} is taken (\"baseline\" is reserved; names must be unique)"),
                );
            }
        }
        let tables = table.array_of_tables("changes");
        let written = tables.len();
        let changes: Vec<Change> = tables.into_iter().filter_map(change).collect();
        if written == 0 {
            table.report("changes", "a scenario needs at least one [[scenarios.changes]] table");
        }
        table.finish();
        if let Some(name) = name {
            scenarios.push(Scenario {
                name,
                description,
                changes,
            });
        }
    }
    scenarios
}

fn change(mut table: Table<'_>) -> Option<Change> {
    let kind: Option<String> = table.required("kind", "\"growth\", \"step\" or \"peak\"");
    let models: Vec<String> = table.optional("models", "a list of model names").unwrap_or_default();
    let labels: Vec<(String, String)> = table.string_map("labels", "a table of label names to values");
    let drivers: Vec<String> = table.optional("drivers", "a list of driver names").unwrap_or_default();
    if !drivers.is_empty() && !models.is_empty() {
        table.report("drivers", "a change moves either drivers or models, not both");
    }
    let from = time(&mut table, "from");
    let kind = match kind.as_deref() {
        Some("growth") => {
            let rate = table
                .optional::<String>("rate", "a percentage such as \"3%\"")
                .and_then(|text| match text.parse::<Percent>() {
                    Ok(rate) => Some(rate.fraction()),
                    Err(_) => {
                        table.report(
                            "rate",
                            format!("{text:?} is not a percentage such as \"3%\" or \"-2%\""),
                        );
                        None
                    }
                });
            if rate.is_none() && !table.is_empty() {
                table.report("rate", "growth needs a rate such as \"3%\"");
            }
            let per: Option<PromDuration> = table.parsed("per", "a duration such as 1w");
            if per.is_none() {
                table.report("per", "growth needs a period such as \"1w\" or \"30d\"");
            }
            Some(ChangeKind::Growth {
                rate: rate?,
                per_secs: per?.as_secs_f64(),
                from,
            })
        }
        Some("step") => {
            let effect = effect(&mut table);
            if from.is_none() {
                table.report("from", "a step needs the date it happens");
            }
            Some(ChangeKind::Step {
                from: from?,
                effect: effect?,
            })
        }
        Some("peak") => {
            let effect = effect(&mut table);
            let duration: Option<PromDuration> = table.parsed("duration", "a duration such as 1d");
            if from.is_none() || duration.is_none() {
                table.report("duration", "a peak needs a start (from) and a duration");
            }
            let every: Option<PromDuration> = table.parsed("every", "a duration such as 1w (the peak repeats)");
            if let (Some(every), Some(duration)) = (every, duration) {
                if every <= duration {
                    table.report("every", format!("must be longer than duration ({duration})"));
                }
            }
            Some(ChangeKind::Peak {
                from: from?,
                duration_secs: duration?.as_secs_f64(),
                effect: effect?,
                every: every.map(|e| e.as_secs_f64()),
            })
        }
        Some(other) => {
            table.report(
                "kind",
                format!("unknown kind {other:?}; valid: \"growth\", \"step\", \"peak\""),
            );
            None
        }
        None => None,
    };
    table.finish();
    Some(Change {
        kind: kind?,
        models,
        labels,
        drivers,
    })
}

/// `multiply = K` or `add = X`, exactly one.
fn effect(table: &mut Table<'_>) -> Option<Effect> {
    let multiply: Option<f64> = table.optional("multiply", "a positive factor such as 1.3");
    let add: Option<f64> = table.optional("add", "an amount in the model's unit");
    match (multiply, add) {
        (Some(k), None) if k > 0.0 && k.is_finite() => Some(Effect::Multiply(k)),
        (Some(_), None) => {
            table.report("multiply", "must be a positive number");
            None
        }
        (None, Some(a)) if a.is_finite() => Some(Effect::Add(a)),
        (Some(_), Some(_)) => {
            table.report("add", "set multiply or add, not both");
            None
        }
        _ => {
            table.report("multiply", "set multiply (a factor) or add (an amount)");
            None
        }
    }
}

/// When a change starts: a date (`2027-03-01`, midnight UTC), an RFC 3339 time, `now`, or a
/// duration after now (`+14d`), counted from each cycle's evaluation time.
fn time(table: &mut Table<'_>, key: &'static str) -> Option<Start> {
    let valid = "a date such as 2027-03-01, an RFC 3339 time, \"now\", or a duration after now such as \"+14d\"";
    let text: String = table.optional(key, valid)?;
    let trimmed = text.trim();
    if trimmed == "now" {
        return Some(Start::AfterNow(0.0));
    }
    if let Some(offset) = trimmed.strip_prefix("now+").or_else(|| trimmed.strip_prefix('+')) {
        return match offset.trim().parse::<PromDuration>() {
            Ok(offset) => Some(Start::AfterNow(offset.as_secs_f64())),
            Err(_) => {
                table.report(key, format!("{text:?}: {offset:?} is not a duration; expected {valid}"));
                None
            }
        };
    }
    if let Some((seconds, _)) = crate::clock::parse_timestamp(trimmed) {
        return Some(Start::At(seconds));
    }
    match NaiveDate::parse_from_str(trimmed, "%Y-%m-%d") {
        Ok(date) => Some(Start::At(date.and_time(NaiveTime::MIN).and_utc().timestamp() as f64)),
        Err(_) => {
            table.report(key, format!("{text:?} is not {valid}"));
            None
        }
    }
}
