//! `[[resources]]`: a model with several resources that share one scaling unit (a node pool's
//! CPU, memory and pod slots against its nodes' allocatable).
//!
//! Each table holds what a one-resource model file holds at its top (usage, capacity,
//! threshold, direction, unit) plus the size of one unit in that resource's unit and what
//! each unit spends on itself. The model's other settings (history, step, horizon, the rest
//! of `[scaling]`) are shared.

use std::collections::BTreeSet;

use super::{ResourceKeys, resource_keys, valid_name};
use crate::config::problems::Table;

/// One `[[resources]]` table, read.
pub(super) struct Resource {
    pub name: String,
    pub keys: ResourceKeys,
    /// One unit's size, when a constant.
    pub unit_size: Option<f64>,
    /// PromQL giving one unit's size per entity, when a query.
    pub unit_size_query: Option<String>,
    pub overhead: f64,
}

/// Reads every `[[resources]]` table of `root`; `scaled`: the model has a `[scaling]` table,
/// so each resource needs a `unit_size`.
pub(super) fn section(root: &mut Table<'_>, scaled: bool) -> Vec<Resource> {
    let tables = root.array_of_tables("resources");
    if tables.is_empty() {
        root.report(
            "resources",
            "expected one [[resources]] table per resource (name, usage, capacity, threshold, unit, unit_size)",
        );
    }
    let mut seen = BTreeSet::new();
    let mut resources = Vec::new();
    for mut table in tables {
        let name: Option<String> = table.required(
            "name",
            "the resource's name, such as \"cpu\" (lowercase letters, digits, - and _)",
        );
        if let Some(name) = &name {
            if !valid_name(name) {
                table.report(
                    "name",
                    format!("{name:?} is not valid; use lowercase letters, digits, - and _"),
                );
            } else if !seen.insert(name.clone()) {
                table.report("name", format!("{name:?} names another resource of this model"));
            }
        }
        let keys = resource_keys(&mut table);
        let (unit_size, unit_size_query) = unit_size(&mut table, scaled);
        let overhead: f64 = table
            .optional(
                "overhead",
                "the capacity each unit spends on itself, in this resource's unit",
            )
            .unwrap_or(0.0);
        if !scaled && overhead != 0.0 {
            table.report("overhead", "needs a [scaling] table, which says what a unit is");
        }
        if !(overhead >= 0.0 && overhead.is_finite()) || unit_size.is_some_and(|size| overhead >= size) {
            table.report(
                "overhead",
                "must be zero or more and less than unit_size (each unit must carry some usage)",
            );
        }
        table.finish();
        if let Some(name) = name {
            resources.push(Resource {
                name,
                keys,
                unit_size,
                unit_size_query,
                overhead: if overhead.is_finite() && overhead >= 0.0 {
                    overhead
                } else {
                    0.0
                },
            });
        }
    }
    resources
}

/// `unit_size`: a positive number, or a PromQL query giving it per entity.
fn unit_size(table: &mut Table<'_>, scaled: bool) -> (Option<f64>, Option<String>) {
    const EXPECTED: &str = "the size of one unit in this resource's unit: a positive number, or a PromQL query giving it per entity (such as the allocatable of the pool's node type)";
    if !table.contains("unit_size") {
        if scaled {
            table.report("unit_size", format!("missing; expected {EXPECTED}"));
        }
        return (None, None);
    }
    let value: Option<serde_json::Value> = table.optional("unit_size", EXPECTED);
    if !scaled {
        table.report("unit_size", "needs a [scaling] table, which says what a unit is");
        return (None, None);
    }
    match value {
        Some(serde_json::Value::Number(n)) if n.as_f64().is_some_and(|v| v > 0.0 && v.is_finite()) => {
            (n.as_f64(), None)
        }
        Some(serde_json::Value::String(query)) if !query.trim().is_empty() => (None, Some(query)),
        Some(_) => {
            table.report("unit_size", format!("expected {EXPECTED}"));
            (None, None)
        }
        None => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::models::parse_file;

    const POOL: &str = r#"name = "pool"
step = "1h"
horizon = "60d"
[scaling]
unit_name = "node"
unit_cost = 10
lead_time = "7d"
[[resources]]
name = "cpu"
usage = 'sum by (pool) (cpu_requests)'
capacity = 'sum by (pool) (cpu_allocatable)'
threshold = "85%"
unit = "cores"
unit_size = 'avg by (pool) (cpu_allocatable)'
overhead = 0.5
[[resources]]
name = "memory"
usage = 'sum by (pool) (memory_requests)'
capacity = 'sum by (pool) (memory_allocatable)'
threshold = "85%"
unit = "bytes"
unit_size = 68719476736
"#;

    #[test]
    fn each_resource_is_a_model_of_the_pool_sharing_its_settings() {
        let models = parse_file(Path::new("pool.toml"), POOL).expect("valid");
        let names: Vec<&str> = models.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["pool.cpu", "pool.memory"]);
        assert!(
            models
                .iter()
                .all(|m| m.model_name() == "pool" && m.horizon == models[0].horizon)
        );
        let cpu = models[0].member.as_ref().expect("member");
        assert_eq!(cpu.unit_size_query.as_deref(), Some("avg by (pool) (cpu_allocatable)"));
        assert_eq!(models[0].scaling.as_ref().map(|s| s.overhead), Some(0.5));
        let memory = &models[1];
        assert_eq!(memory.unit, "bytes");
        assert_eq!(
            memory.scaling.as_ref().map(|s| (s.unit_size, s.unit_cost)),
            Some((68719476736.0, 10.0))
        );
        assert_eq!(memory.key("threshold"), "resources.1.threshold");
        assert_eq!(memory.key("scaling.overhead"), "resources.1.overhead");
        assert_eq!(memory.key("scaling.lead_time"), "scaling.lead_time");
    }

    #[test]
    fn every_mistake_in_a_resource_is_named_at_its_line() {
        let text = POOL
            .replace("name = \"memory\"", "name = \"cpu\"")
            .replace("unit_size = 68719476736", "unit_size = -1\ncolour = 1")
            .replace("overhead = 0.5", "overhead = \"lots\"");
        let problems: Vec<String> = parse_file(Path::new("pool.toml"), &text)
            .expect_err("invalid")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(problems.len(), 4, "{problems:#?}");
        assert!(
            problems[0].starts_with("pool.toml:15: resources.0.overhead: expected"),
            "{problems:#?}"
        );
        assert!(
            problems[1].starts_with("pool.toml:17: resources.1.name: \"cpu\" names another resource"),
            "{problems:#?}"
        );
        assert!(
            problems[2].starts_with("pool.toml:22: resources.1.unit_size: expected"),
            "{problems:#?}"
        );
        assert!(
            problems[3].starts_with("pool.toml:23: resources.1.colour: unknown key"),
            "{problems:#?}"
        );
        let without = POOL.replace("unit_size = 'avg by (pool) (cpu_allocatable)'\n", "");
        let problems = parse_file(Path::new("pool.toml"), &without).expect_err("invalid");
        assert!(
            problems[0].to_string().contains("resources.0.unit_size: missing"),
            "{problems:?}"
        );
    }
}
