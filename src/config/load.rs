//! One validation path for every way a configuration comes in: `headroom check`, every command
//! that starts (`run`, `once`, `report`, `budget`) and a reload (SIGHUP, `POST /-/reload`) all
//! call [`load`]. It reads the config and every model file, checks what only makes sense
//! together (scenarios naming models and drivers) and what parses but cannot be meant (a
//! threshold above the capacity, a horizon shorter than a step), and lists every problem with
//! its file, line and key. What `check` accepts, a start accepts, and the reverse.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::Config;
use super::models;
use super::problems::{Problem, Problems, line_of};
use crate::model::{Capacity, CapacityModel, Threshold};

/// Loads and checks the config at `path` (with `env` overrides) and every model it points to.
/// The models are checked even when the config is not (where the config would most likely
/// put them), so one run lists everything.
pub fn load(path: &Path, env: &BTreeMap<String, String>) -> Result<(Config, Vec<CapacityModel>), Problems> {
    if !path.exists() {
        return Err(Problems(vec![Problem {
            origin: path.display().to_string(),
            line: None,
            key: String::new(),
            message: "the config file does not exist; pass --config FILE (or set HEADROOM_CONFIG)".into(),
        }]));
    }
    let mut problems = Vec::new();
    let config = Config::load(path, env).map_err(|found| problems.extend(found.0)).ok();
    let models_dir = match &config {
        Some(config) => Some(config.models_dir.clone()),
        None => models_dir_fallback(path),
    };
    let models = models_dir.and_then(|dir| models::load_dir(&dir).map_err(|found| problems.extend(found.0)).ok());
    for model in models.iter().flatten() {
        problems.extend(model_problems(model));
    }
    if let (Some(config), Some(models)) = (&config, &models) {
        problems.extend(scenario_problems(path, config, models));
        problems.extend(history_problems(config, models));
    }
    if let Some(models) = &models {
        problems.extend(resource_label_problems(models));
    }
    // The resources of one model share its settings: a problem with a shared one is said once.
    let mut said = BTreeSet::new();
    problems.retain(|p| said.insert(p.to_string()));
    match (config, models) {
        (Some(config), Some(models)) if problems.is_empty() => Ok((config, models)),
        _ => Err(Problems(problems)),
    }
}

/// The models directory named in a config file that failed validation, if it can be read.
fn models_dir_fallback(path: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(path).ok()?;
    let table: toml::Table = toml::from_str(&text).ok()?;
    let dir = table
        .get("models")
        .and_then(|m| m.get("dir"))
        .and_then(|d| d.as_str())
        .unwrap_or("models");
    Some(path.parent().unwrap_or(Path::new(".")).join(dir))
}

/// What parses in a model file but cannot be meant: a threshold no usage can reach, or a
/// horizon with no step in it.
fn model_problems(model: &CapacityModel) -> Vec<Problem> {
    let text = std::fs::read_to_string(&model.file).unwrap_or_default();
    let problem = |key: &str, message: String| {
        let key = model.key(key);
        Problem {
            origin: model.file.display().to_string(),
            line: line_of(&text, &key.split('.').map(String::from).collect::<Vec<_>>()),
            key,
            message,
        }
    };
    let mut found = Vec::new();
    match (model.threshold, &model.capacity) {
        (Threshold::Fraction(fraction), _) if fraction > 1.0 => found.push(problem(
            "threshold",
            format!(
                "{} of capacity is more than the capacity itself, so it is never reached (or always, for a floor); a percentage threshold is above 0% and at most 100% of capacity",
                model.threshold
            ),
        )),
        (Threshold::Absolute(value), Some(Capacity::Constant(capacity))) if value > *capacity => found.push(problem(
            "threshold",
            format!(
                "{value} is above the capacity ({capacity}), so it is never reached (or always, for a floor); write it in the model's unit ({}), at most the capacity, or as a percentage",
                if model.unit.is_empty() { "no unit" } else { &model.unit }
            ),
        )),
        (Threshold::Absolute(value), Some(capacity))
            if value > 0.0 && value <= 1.0 && !ratio_unit(&model.unit) && !matches!(capacity, Capacity::Constant(c) if *c <= 1.0) =>
        {
            found.push(problem(
                "threshold",
                format!(
                    "{value} is an absolute value in the model's unit ({}), not a share of capacity; for {}% of capacity write \"{}%\" (a ratio model says unit = \"ratio\")",
                    if model.unit.is_empty() { "no unit" } else { &model.unit },
                    value * 100.0,
                    value * 100.0
                ),
            ))
        }
        _ => {}
    }
    if model.horizon < model.step {
        found.push(problem(
            "horizon",
            format!(
                "{} is shorter than step ({}): nothing would be forecast; a horizon is several steps, such as 30d",
                model.horizon, model.step
            ),
        ));
    }
    let mut queries = vec![("usage", model.usage.as_str())];
    if let Some(Capacity::Query(query)) = &model.capacity {
        queries.push(("capacity", query.as_str()));
    }
    if let Some(driver) = &model.driver {
        queries.push(("driver.query", driver.query.as_str()));
    }
    if let Some(query) = model.member.as_ref().and_then(|m| m.unit_size_query.as_deref()) {
        queries.push(("unit_size", query));
    }
    for (key, query) in queries {
        if let Some(why) = unbalanced(query) {
            found.push(problem(key, format!("the PromQL is cut short or mistyped: {why}")));
        }
    }
    if let Some(Capacity::Query(query)) = &model.capacity {
        let text = query.trim();
        let number_end = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        if number_end > 0
            && number_end < text.len()
            && text[number_end..].trim().chars().all(|c| c.is_ascii_alphabetic())
        {
            found.push(problem(
                "capacity",
                format!(
                    "{text:?} reads as a PromQL query; a constant capacity is a number in the model's unit ({}), such as capacity = {}",
                    if model.unit.is_empty() { "no unit" } else { &model.unit },
                    &text[..number_end]
                ),
            ));
        }
    }
    if let Some(sizing) = model.scaling.as_ref().and_then(|s| s.sizing_horizon) {
        if sizing > model.horizon {
            found.push(problem(
                "scaling.sizing_horizon",
                format!(
                    "{sizing} reaches past the model's horizon ({}): nothing is forecast there to size on; make it at most the horizon",
                    model.horizon
                ),
            ));
        }
    }
    if let Some(scaling) = model
        .scaling
        .as_ref()
        .filter(|s| model.horizon >= model.step && s.lead_time.as_secs_f64() > 0.0)
    {
        let needed = scaling.lead_time.as_secs_f64() + crate::recommend::CRITICAL_WINDOW_SECS;
        if model.horizon.as_secs_f64() < needed {
            found.push(problem(
                "horizon",
                format!(
                    "{} is too short for scaling.lead_time {}: a crossing past the horizon would already be critical (its order-by date within 7 days) and never be seen; make it at least {} (the lead time plus 7 days; plus 30 days to see warnings)",
                    crate::format::days_or_hours(model.horizon.as_secs_f64()),
                    crate::format::days_or_hours(scaling.lead_time.as_secs_f64()),
                    crate::format::days_or_hours(needed)
                ),
            ));
        }
    }
    found
}

/// Resources of one model whose usage queries keep different labels: they describe different
/// entities (a pool and its nodes), so none of them could be joined into one entity. Only what
/// the queries say for sure counts (see [`CapacityModel::usage_labels`]).
fn resource_label_problems(models: &[CapacityModel]) -> Vec<Problem> {
    let mut found = Vec::new();
    for first in models
        .iter()
        .filter(|m| m.member.as_ref().is_some_and(|r| r.index == 0))
    {
        let Some(expected) = first.usage_labels().map(|l| l.into_iter().collect::<BTreeSet<_>>()) else {
            continue;
        };
        let text = std::fs::read_to_string(&first.file).unwrap_or_default();
        let siblings = models
            .iter()
            .filter(|m| m.file == first.file && m.model_name() == first.model_name() && m.name != first.name);
        for other in siblings {
            let Some(kept) = other.usage_labels().map(|l| l.into_iter().collect::<BTreeSet<_>>()) else {
                continue;
            };
            if kept != expected {
                let key = other.key("usage");
                let list = |labels: &BTreeSet<String>| labels.iter().cloned().collect::<Vec<_>>().join(", ");
                found.push(Problem {
                    origin: other.file.display().to_string(),
                    line: line_of(&text, &key.split('.').map(String::from).collect::<Vec<_>>()),
                    message: format!(
                        "keeps the labels ({}) but the first resource's usage keeps ({}): the resources of one model must describe the same entities; aggregate each by the same labels",
                        list(&kept),
                        list(&expected)
                    ),
                    key,
                });
            }
        }
    }
    found
}

/// A change's label selector that no entity of the models it selects can carry: each of
/// those models' usage queries aggregates by a list without that label, so the change would
/// silently equal the baseline. Only what the queries say for sure counts (see
/// [`CapacityModel::usage_labels`]).
fn unmatchable_labels(change: &crate::scenario::Change, models: &[CapacityModel]) -> Option<String> {
    let selected: Vec<&CapacityModel> = models
        .iter()
        .filter(|m| {
            if !change.drivers.is_empty() {
                m.driver.as_ref().is_some_and(|d| change.drivers.contains(&d.name))
            } else {
                change.models.is_empty() || change.models.iter().any(|s| crate::scenario::selects_model(s, &m.name))
            }
        })
        .collect();
    let lists: Vec<(&str, Vec<String>)> = selected
        .iter()
        .map(|m| Some((m.name.as_str(), m.usage_labels()?)))
        .collect::<Option<_>>()?;
    if lists.is_empty() {
        return None;
    }
    let (name, _) = change
        .labels
        .iter()
        .find(|(name, _)| lists.iter().all(|(_, labels)| !labels.contains(name)))?;
    let carried = lists
        .iter()
        .map(|(model, labels)| format!("{model}: {}", labels.join(", ")))
        .collect::<Vec<_>>()
        .join("; ");
    Some(format!(
        "no entity can carry the label {name:?}: the usage queries of the models this change selects aggregate it away (labels they keep: {carried})"
    ))
}

/// What is unbalanced in a PromQL text (brackets, braces, parentheses, quotes), if anything:
/// a query the source would refuse at every cycle, named by `check` instead.
fn unbalanced(query: &str) -> Option<String> {
    let mut open: Vec<char> = Vec::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in query.chars() {
        if let Some(q) = quote {
            match c {
                _ if escaped => escaped = false,
                '\\' if q != '`' => escaped = true,
                _ if c == q => quote = None,
                _ => {}
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '(' | '[' | '{' => open.push(c),
            ')' | ']' | '}' => {
                let wanted = match c {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                if open.pop() != Some(wanted) {
                    return Some(format!("{c:?} closes nothing that is open"));
                }
            }
            '#' => break,
            _ => {}
        }
    }
    if let Some(q) = quote {
        return Some(format!("a string opened with {q} is never closed"));
    }
    open.last().map(|c| format!("{c:?} is never closed"))
}

/// Whether a unit names a share (a threshold of 0.9 then means 90 %).
fn ratio_unit(unit: &str) -> bool {
    let unit = unit.to_ascii_lowercase();
    ["ratio", "fraction", "share", "utilization", "utilisation"]
        .iter()
        .any(|name| unit.contains(name))
}

/// Models whose history window is shorter than `forecast.min_history`: none of their
/// entities could ever be forecast.
fn history_problems(config: &Config, models: &[CapacityModel]) -> Vec<Problem> {
    let min_history = config.forecast.min_history;
    models
        .iter()
        .filter(|model| model.history < min_history)
        .map(|model| {
            let text = std::fs::read_to_string(&model.file).unwrap_or_default();
            Problem {
                origin: model.file.display().to_string(),
                line: line_of(&text, &["history".to_string()]),
                key: "history".into(),
                message: format!(
                    "{} is shorter than forecast.min_history ({}) in the config: no entity could ever be forecast; read more history or lower min_history",
                    crate::format::days_or_hours(model.history.as_secs_f64()),
                    crate::format::days_or_hours(min_history.as_secs_f64())
                ),
            }
        })
        .collect()
}

/// Scenarios that name models or drivers no model file defines.
fn scenario_problems(path: &Path, config: &Config, models: &[CapacityModel]) -> Vec<Problem> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    // A change selects a model by its name (all its resources) or one resource of a model
    // with several as `model.resource`.
    let names: BTreeSet<&str> = models.iter().flat_map(|m| [m.name.as_str(), m.model_name()]).collect();
    let drivers: BTreeSet<&str> = models
        .iter()
        .filter_map(|m| m.driver.as_ref().map(|d| d.name.as_str()))
        .collect();
    let mut found = Vec::new();
    for (i, scenario) in config.scenarios.iter().enumerate() {
        for (j, change) in scenario.changes.iter().enumerate() {
            let unknown = |list: &[String], known: &BTreeSet<&str>| -> Vec<String> {
                list.iter().filter(|n| !known.contains(n.as_str())).cloned().collect()
            };
            for (key, missing, what, valid) in [
                ("models", unknown(&change.models, &names), "capacity model", &names),
                (
                    "drivers",
                    unknown(&change.drivers, &drivers),
                    "model's [driver]",
                    &drivers,
                ),
            ] {
                for name in missing {
                    let path_of_key = ["scenarios", &i.to_string(), "changes", &j.to_string(), key].map(String::from);
                    found.push(Problem {
                        origin: path.display().to_string(),
                        line: line_of(&text, &path_of_key),
                        key: path_of_key.join("."),
                        message: format!(
                            "no {what} is named {name:?} (scenario {:?}); known: {}",
                            scenario.name,
                            if valid.is_empty() {
                                "none".to_string()
                            } else {
                                valid.iter().copied().collect::<Vec<_>>().join(", ")
                            }
                        ),
                    });
                }
            }
            if let Some(problem) = unmatchable_labels(change, models) {
                let path_of_key = ["scenarios", &i.to_string(), "changes", &j.to_string(), "labels"].map(String::from);
                found.push(Problem {
                    origin: path.display().to_string(),
                    line: line_of(&text, &path_of_key),
                    key: path_of_key.join("."),
                    message: format!("{problem} (scenario {:?})", scenario.name),
                });
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A setup in a temporary directory: `headroom.toml` and `models/`.
    fn setup(config: &str, models: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("headroom.toml"), config).expect("config");
        std::fs::create_dir(dir.path().join("models")).expect("models");
        for (name, text) in models {
            std::fs::write(dir.path().join("models").join(name), text).expect("model");
        }
        dir
    }

    fn problems(dir: &tempfile::TempDir) -> Vec<String> {
        let loaded = load(&dir.path().join("headroom.toml"), &BTreeMap::new());
        let problems = loaded.expect_err("problems").0;
        let root = format!("{}/", dir.path().display());
        problems.iter().map(|p| p.to_string().replace(&root, "")).collect()
    }

    const DISK: &str = "name = \"disk\"\nusage = \"used\"\ncapacity = \"size\"\nthreshold = \"90%\"\n";

    /// A label selector no entity of the selected models can carry is named with its line;
    /// one the query keeps, or on a query whose labels cannot be known, is not.
    #[test]
    fn a_scenario_label_no_model_can_carry_is_named() {
        let pools = "name = \"pool\"\nusage = 'sum by (pool) (kube_pod_container_resource_requests{resource=\"cpu\"})'\ncapacity = 64\nthreshold = \"90%\"\n";
        let change = |labels: &str| {
            format!(
                "[source]\nurl = \"http://127.0.0.1:9090\"\n\n[[scenarios]]\nname = \"growth\"\n[[scenarios.changes]]\nkind = \"step\"\nfrom = \"+14d\"\nmultiply = 1.3\nlabels = {labels}\n"
            )
        };
        let dir = setup(&change("{ node = \"n1\" }"), &[("pool.toml", pools)]);
        let found = problems(&dir);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0]
                .starts_with("headroom.toml:10: scenarios.0.changes.0.labels: no entity can carry the label \"node\"")
                && found[0].contains("pool: pool"),
            "{found:?}"
        );
        let fine = setup(&change("{ pool = \"eu-1\" }"), &[("pool.toml", pools)]);
        assert!(load(&fine.path().join("headroom.toml"), &BTreeMap::new()).is_ok());
        let unknown = setup(&change("{ node = \"n1\" }"), &[("disk.toml", DISK)]);
        assert!(load(&unknown.path().join("headroom.toml"), &BTreeMap::new()).is_ok());
    }

    /// Resources of one model that aggregate by different labels describe different entities:
    /// named at the usage line of the one that differs.
    #[test]
    fn resources_keeping_different_labels_are_named() {
        let pool = |memory_by: &str| {
            format!(
                "name = \"pool\"\nstep = \"1h\"\nhorizon = \"60d\"\n[scaling]\nunit_name = \"node\"\nunit_cost = 10\n\
                 [[resources]]\nname = \"cpu\"\nusage = 'sum by (pool) (cpu_requests)'\ncapacity = 'sum by (pool) (cpu_alloc)'\n\
                 threshold = \"85%\"\nunit = \"cores\"\nunit_size = 16\n\
                 [[resources]]\nname = \"memory\"\nusage = 'sum by ({memory_by}) (mem_requests)'\n\
                 capacity = 'sum by (pool) (mem_alloc)'\nthreshold = \"85%\"\nunit = \"bytes\"\nunit_size = 64e9\n"
            )
        };
        let config = "[source]\nurl = \"http://127.0.0.1:9090\"\n";
        let dir = setup(config, &[("pool.toml", &pool("node, pool"))]);
        let found = problems(&dir);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("pool.toml:16: resources.1.usage: keeps the labels (node, pool) but the first resource's usage keeps (pool)"),
            "{found:?}"
        );
        let same = setup(config, &[("pool.toml", &pool("pool"))]);
        assert!(load(&same.path().join("headroom.toml"), &BTreeMap::new()).is_ok());
    }

    #[test]
    fn an_empty_config_names_the_missing_url() {
        let dir = setup("", &[("disk.toml", DISK)]);
        assert_eq!(
            problems(&dir),
            [
                "headroom.toml: source.url: missing; expected the Prometheus API's URL, such as http://127.0.0.1:9090 (or HEADROOM_SOURCE__URL)"
            ]
        );
    }

    #[test]
    fn unbalanced_promql_is_named() {
        assert_eq!(unbalanced("sum by (a) (rate(x{l=\")\"}[5m]))"), None);
        assert_eq!(unbalanced("a - b # a comment (with a paren"), None);
        assert!(unbalanced("sum(rate(x[5m])").is_some_and(|w| w.contains("'(' is never closed")));
        assert!(unbalanced("x{job=\"node}").is_some());
        assert!(unbalanced("x[5m)").is_some_and(|w| w.contains("closes nothing")));
    }

    /// Typos that hide a real risk: an absolute threshold meant as a share, a horizon that
    /// ends before a crossing's order-by date could be seen, a history window no forecast can
    /// come from.
    #[test]
    fn settings_that_would_hide_a_risk_are_named() {
        let config = "[source]\nurl = \"http://127.0.0.1:9090\"\n\n[forecast]\nmin_history = \"10d\"\n";
        let share = "name = \"disk\"\nusage = \"used\"\ncapacity = \"size\"\nthreshold = 0.85\nunit = \"bytes\"\n";
        let ratio = "name = \"cpu\"\nusage = \"busy\"\ncapacity = 1\nthreshold = 0.8\nunit = \"ratio\"\n";
        let lead = "name = \"pool\"\nusage = \"used\"\ncapacity = 64\nthreshold = \"80%\"\nhorizon = \"20d\"\n\n[scaling]\nunit_size = 16\nlead_time = \"14d\"\n";
        let short = "name = \"short\"\nusage = \"used\"\nthreshold = 5\nhistory = \"7d\"\n";
        let dir = setup(
            config,
            &[
                ("disk.toml", share),
                ("cpu.toml", ratio),
                ("pool.toml", lead),
                ("short.toml", short),
            ],
        );
        let found = problems(&dir);
        let expected = [
            "models/disk.toml:4: threshold: 0.85 is an absolute value in the model's unit (bytes), not a share of capacity; for 85% of capacity write \"85%\"",
            "models/pool.toml:5: horizon: 20.0 d is too short for scaling.lead_time 14.0 d",
            "models/short.toml:4: history: 7.0 d is shorter than forecast.min_history (10.0 d)",
        ];
        assert_eq!(found.len(), expected.len(), "{found:#?}");
        for (problem, start) in found.iter().zip(expected) {
            assert!(problem.starts_with(start), "{problem} does not start with {start}");
        }
    }

    #[test]
    fn every_problem_start_would_meet_is_listed_with_its_line() {
        let config = "[source]\nurl = \"https://prom:9090\"\nca_file = \"missing-ca.pem\"\nheaders = { \"X Tenant\" = \"a\", \"X-Ok\" = \"line\\nbreak\" }\n\n\
                      [[scenarios]]\nname = \"launch\"\n[[scenarios.changes]]\nkind = \"step\"\nfrom = \"2027-03-01\"\nmultiply = 1.3\nmodels = [\"disk\", \"dsik\"]\n\n\
                      [[scenarios]]\nname = \"traffic\"\n[[scenarios.changes]]\nkind = \"growth\"\nrate = \"5%\"\nper = \"30d\"\ndrivers = [\"requests\"]\n";
        let typo = "name = \"typo\"\nusage = \"used\"\ncapacity = \"size\"\nthreshold = \"900%\"\n";
        let constant = "name = \"pool\"\nusage = \"used\"\ncapacity = 64\nthreshold = 90\nunit = \"cores\"\n";
        let short = "name = \"short\"\nusage = \"used\"\nthreshold = 5\nstep = \"5m\"\nhorizon = \"3m\"\n\n[scaling]\nunit_size = 1\nlead_time = \"0s\"\n";
        let dir = setup(
            config,
            &[
                ("disk.toml", DISK),
                ("pool.toml", constant),
                ("short.toml", short),
                ("typo.toml", typo),
            ],
        );
        let found = problems(&dir);
        let expected = [
            "headroom.toml:4: source.headers: \"X Tenant\" is not a valid HTTP header name",
            "headroom.toml:4: source.headers: the value of X-Ok has characters not allowed",
            "headroom.toml:3: source.ca_file: cannot read",
            "models/pool.toml:4: threshold: 90 is above the capacity (64)",
            "models/short.toml:5: horizon: 3m is shorter than step (5m)",
            "models/typo.toml:4: threshold: 900% of capacity is more than the capacity itself",
        ];
        assert_eq!(found.len(), expected.len(), "{found:#?}");
        for (problem, start) in found.iter().zip(expected) {
            assert!(problem.starts_with(start), "{problem} does not start with {start}");
        }

        // With the config fixed, the scenarios are checked against the models.
        let fixed = config
            .replace("ca_file = \"missing-ca.pem\"\n", "")
            .replace("headers = { \"X Tenant\" = \"a\", \"X-Ok\" = \"line\\nbreak\" }\n", "");
        std::fs::write(dir.path().join("headroom.toml"), fixed).expect("config");
        for file in ["pool.toml", "short.toml", "typo.toml"] {
            std::fs::remove_file(dir.path().join("models").join(file)).expect("remove");
        }
        std::fs::write(dir.path().join("models/short.toml"), short.replace("\"3m\"", "\"3d\"")).expect("model");
        let found = problems(&dir);
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(
            found[0].starts_with("headroom.toml:10: scenarios.0.changes.0.models: no capacity model is named \"dsik\" (scenario \"launch\"); known: disk, short"),
            "{}",
            found[0]
        );
        assert!(
            found[1].starts_with(
                "headroom.toml:18: scenarios.1.changes.0.drivers: no model's [driver] is named \"requests\""
            ),
            "{}",
            found[1]
        );
    }

    #[test]
    fn a_zero_lead_time_is_the_default_written_out() {
        let short =
            "name = \"short\"\nusage = \"used\"\nthreshold = 5\n\n[scaling]\nunit_size = 1\nlead_time = \"0s\"\n";
        let dir = setup("[source]\nurl = \"http://prom:9090\"\n", &[("short.toml", short)]);
        let (_, models) = load(&dir.path().join("headroom.toml"), &BTreeMap::new()).expect("valid");
        assert_eq!(models[0].scaling.as_ref().map(|s| s.lead_time.as_secs_f64()), Some(0.0));
    }
}
