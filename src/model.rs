//! Capacity models: what a resource is, how to measure it, and where its limit lies.
//!
//! A model names a PromQL query whose result has one series per entity (host, volume,
//! cluster), the entity's capacity (another query joined on the same labels, or a constant),
//! and the threshold that counts as exhausted. These are plain values: reading and checking
//! model files is `config::models`' job, and planning with them is the core's.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::duration::PromDuration;
use crate::percent::Percent;

/// Which side of the threshold is bad.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Usage grows toward a ceiling (used bytes, CPU, request rate).
    Above,
    /// A remaining quantity falls toward a floor (available bytes, free inodes).
    Below,
}

/// A validated capacity model.
#[derive(Clone, Debug, PartialEq)]
pub struct CapacityModel {
    /// Unique name (lowercase letters, digits, `-` and `_`), used as the `model` label.
    pub name: String,
    pub description: String,
    /// The file it was read from.
    pub file: PathBuf,
    /// PromQL returning one series of usage per entity.
    pub usage: String,
    pub capacity: Option<Capacity>,
    pub threshold: Threshold,
    pub direction: Direction,
    /// Unit of the usage values (`bytes`, `cores`, `requests_per_second`...).
    pub unit: String,
    /// How much history to read.
    pub history: PromDuration,
    /// Resolution of the history and of the forecast.
    pub step: PromDuration,
    /// Server-side downsampling: each step is the `max`/`avg`/`min` of the usage over the step
    /// at `downsample.resolution`, computed by the source (`None`: the value at each step).
    pub downsample: Option<Downsample>,
    /// How far ahead to forecast.
    pub horizon: PromDuration,
    /// How long without a sample before an entity's series counts as ended (`stale_after`);
    /// `None`: [`CapacityModel::stale_after_secs`]' default.
    pub stale_after: Option<PromDuration>,
    /// How often the daemon plans this model (`interval`); `None`: `schedule.interval`.
    pub interval: Option<PromDuration>,
    /// The team or owner named in reports (`team`).
    pub team: Option<String>,
    /// How capacity is bought: what a decision needs beyond a date.
    pub scaling: Option<Scaling>,
    /// The business metric this resource follows, if any (`[driver]`).
    pub driver: Option<Driver>,
    /// The IANA time zone whose clock the daily and weekly seasons follow (`timezone`);
    /// `None`: UTC.
    pub timezone: Option<chrono_tz::Tz>,
    /// Set when this is one resource of a model with several (`[[resources]]`): a node pool's
    /// CPU, memory or pods. Each is planned as a model of its own, named
    /// `{model}.{resource}`, then its entities are joined with the other resources' (see
    /// `plan::pool`).
    pub member: Option<Member>,
}

/// One resource of a model with several that share a scaling unit (`[[resources]]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    /// The model's name: what every output shows.
    pub model: String,
    /// The resource's name (`cpu`, `memory`, `pods`): the `resource` label.
    pub resource: String,
    /// Its position among the model's resources (`resources.N` in problems).
    pub index: usize,
    /// How many resources the model has.
    pub count: usize,
    /// PromQL giving the size of one unit per entity in this resource's unit (the
    /// allocatable of the pool's node type); `None`: `scaling.unit_size` (set per resource).
    pub unit_size_query: Option<String>,
}

/// A business metric a resource follows (`[driver]`): requests for CPU, sessions for memory.
#[derive(Clone, Debug, PartialEq)]
pub struct Driver {
    /// The name scenarios use to move it (`drivers = ["requests"]`).
    pub name: String,
    /// PromQL returning the driver: one series, or one per entity with a subset of its labels.
    pub query: String,
}

/// How a resource's capacity is added or removed, and what it costs (`[scaling]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Scaling {
    /// Capacity of one unit, in the model's unit (a node's 16 cores, a 100 GB volume step).
    pub unit_size: f64,
    /// What one unit is called in sentences ("node", "100 GB step").
    pub unit_name: String,
    /// Monthly cost of one unit.
    pub unit_cost: f64,
    pub currency: String,
    /// Time from ordering capacity to having it.
    pub lead_time: PromDuration,
    /// Keep the pessimistic peak under this share of capacity (the headroom kept).
    pub target_utilization: f64,
    pub min_units: u32,
    pub max_units: Option<u32>,
    /// Capacity each unit spends on itself, in the model's unit, that the usage query does not
    /// count (the kubelet's and system reservation, a DaemonSet, a sidecar): one unit carries
    /// `unit_size - overhead` of usage.
    pub overhead: f64,
    /// How far ahead units are sized (`sizing_horizon`); `None`: the model's horizon.
    /// Exhaustion is still searched over the whole horizon.
    pub sizing_horizon: Option<PromDuration>,
}

impl Scaling {
    /// Usage one unit carries at the target utilisation.
    pub fn usable_per_unit(&self) -> f64 {
        (self.unit_size - self.overhead) * self.target_utilization
    }

    /// Whole units that keep `peak` usage under the target utilisation of what the units
    /// carry after their overhead, within `min_units` and `max_units`.
    pub fn units_for(&self, peak: f64) -> u32 {
        let mut units = (peak.max(0.0) / self.usable_per_unit())
            .ceil()
            .max(f64::from(self.min_units));
        if let Some(max) = self.max_units {
            units = units.min(f64::from(max));
        }
        units as u32
    }
}

/// The capacity of each entity.
#[derive(Clone, Debug, PartialEq)]
pub enum Capacity {
    /// A PromQL query whose series carry the same labels as the usage series (or a single
    /// series that applies to every entity).
    Query(String),
    /// The same capacity for every entity, in the model's unit.
    Constant(f64),
}

/// The level that counts as exhausted.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Threshold {
    /// A share of capacity, written `"90%"`.
    Fraction(f64),
    /// A value in the model's unit.
    Absolute(f64),
}

impl Threshold {
    /// The threshold in the model's unit for an entity with `capacity` (if known).
    pub fn resolve(self, capacity: Option<f64>) -> Option<f64> {
        match self {
            Threshold::Absolute(value) => Some(value),
            Threshold::Fraction(fraction) => capacity.map(|c| c * fraction),
        }
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Rounded to 9 decimals: "100.5%" reads back as written, not 100.49999999999999%.
            Threshold::Fraction(fraction) => write!(f, "{}%", (fraction * 100.0 * 1e9).round() / 1e9),
            Threshold::Absolute(value) => write!(f, "{value}"),
        }
    }
}

impl FromStr for Threshold {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let valid = "a percentage of capacity such as \"90%\", or a number in the model's unit";
        if text.trim().ends_with('%') {
            let value = text
                .parse::<Percent>()
                .map_err(|_| format!("invalid threshold {text:?}; expected {valid}"))?
                .fraction();
            if !(value > 0.0 && value <= 10.0) {
                return Err(format!(
                    "threshold {text:?} is out of range: a percentage threshold is above 0% and at most 100% of capacity"
                ));
            }
            return Ok(Threshold::Fraction(value));
        }
        text.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .map(Threshold::Absolute)
            .ok_or_else(|| format!("invalid threshold {text:?}; expected {valid}"))
    }
}

/// How the source reduces the raw samples of a step to one value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Downsample {
    /// `max` (peaks: what capacity must hold), `avg` or `min` (for what falls toward a floor).
    pub function: String,
    /// The raw resolution the function reads, usually the scrape interval.
    pub resolution: PromDuration,
}

impl CapacityModel {
    /// The model's name as outputs show it: the model a resource belongs to, or the model.
    pub fn model_name(&self) -> &str {
        self.member.as_ref().map_or(&self.name, |m| &m.model)
    }

    /// The key of a setting as written in the model file: a per-resource setting of a model
    /// with several resources is `resources.N.key` (`scaling.unit_size` and
    /// `scaling.overhead` are written there as `unit_size` and `overhead`); the rest, and
    /// every key of a one-resource model, as given.
    pub fn key(&self, key: &str) -> String {
        const PER_RESOURCE: [&str; 8] = [
            "usage",
            "capacity",
            "threshold",
            "direction",
            "unit",
            "downsample",
            "unit_size",
            "overhead",
        ];
        let Some(member) = &self.member else {
            return key.to_string();
        };
        let bare = key.strip_prefix("scaling.").unwrap_or(key);
        let head = bare.split('.').next().unwrap_or(bare);
        let scaled = key.starts_with("scaling.") && (head == "unit_size" || head == "overhead");
        if scaled || (!key.starts_with("scaling.") && PER_RESOURCE.contains(&head)) {
            format!("resources.{}.{bare}", member.index)
        } else {
            key.to_string()
        }
    }

    /// Seconds without a sample after which an entity's series has ended: `stale_after`, or
    /// by default three steps and at least an hour (a few missed scrapes are not an end; a
    /// remount or a removed node is).
    pub fn stale_after_secs(&self) -> f64 {
        self.stale_after.map_or_else(
            || (3.0 * self.step.as_secs_f64()).max(3600.0),
            PromDuration::as_secs_f64,
        )
    }

    /// The only labels the usage query's series can carry, when the query says so: its
    /// outermost expression is an aggregation by a list (`sum by (pool) (...)`,
    /// `max(...) by (instance, mountpoint)`) spanning the whole query. `None` when it cannot be
    /// known without running it (a selector, a function, `without`, a binary operation, or
    /// `topk`, which keeps its input's labels).
    pub fn usage_labels(&self) -> Option<Vec<String>> {
        aggregation_labels(&self.usage)
    }

    /// The usage query as sent: wrapped in a subquery that downsamples on the server when the
    /// model asks for it, so a 1-hour step still sees the 5-minute peaks and the response is 12
    /// times smaller than fetching 5-minute samples.
    pub fn usage_query(&self) -> String {
        match &self.downsample {
            None => self.usage.clone(),
            Some(d) => format!(
                "{}_over_time(({})[{}:{}])",
                d.function,
                self.usage.trim(),
                self.step,
                d.resolution
            ),
        }
    }
}

/// The `by` list of an aggregation that spans all of `query` (see
/// [`CapacityModel::usage_labels`]).
fn aggregation_labels(query: &str) -> Option<Vec<String>> {
    /// Aggregations whose result carries exactly the `by` labels.
    const BY_ONLY: [&str; 9] = [
        "sum", "min", "max", "avg", "count", "group", "stddev", "stdvar", "quantile",
    ];
    let query = query.trim();
    let name_end = query.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))?;
    if !BY_ONLY.contains(&&query[..name_end]) {
        return None;
    }
    let rest = query[name_end..].trim_start();
    let (labels, rest) = match by_list(rest) {
        // `sum by (a) (x)`: the argument must end the query.
        Some((labels, after)) => {
            let after = after.trim_start();
            (labels, &after[group_end(after)?..])
        }
        // `sum (x) by (a)`: the list must end the query.
        None => {
            let after = rest[group_end(rest)?..].trim_start();
            let (labels, after) = by_list(after)?;
            (labels, after)
        }
    };
    rest.trim().is_empty().then_some(labels)
}

/// `by (a, b)` at the start of `text`: the names, and what follows the list.
fn by_list(text: &str) -> Option<(Vec<String>, &str)> {
    let rest = text.strip_prefix("by")?.trim_start();
    if !rest.starts_with('(') {
        return None;
    }
    let close = rest.find(')')?;
    let names = rest[1..close]
        .split(',')
        .map(|name| name.trim().trim_matches(|c| c == '"' || c == '\'').to_string())
        .filter(|name| !name.is_empty())
        .collect();
    Some((names, &rest[close + 1..]))
}

/// The byte just after the parenthesised group that opens `text`, skipping quoted strings.
fn group_end(text: &str) -> Option<usize> {
    if !text.starts_with('(') {
        return None;
    }
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (index, c) in text.char_indices() {
        match quote {
            Some(_) if escaped => escaped = false,
            Some(_) if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '"' | '\'' | '`' => quote = Some(c),
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(index + 1);
                    }
                }
                _ => {}
            },
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::aggregation_labels;

    #[test]
    fn the_labels_of_an_outermost_aggregation_are_known_and_nothing_else_is() {
        let known = |q: &str| aggregation_labels(q);
        let names = |list: &[&str]| Some(list.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            known("sum by (pool) (kube_pod_container_resource_requests{resource=\"cpu\"})"),
            names(&["pool"])
        );
        assert_eq!(
            known(" max(rate(x[5m])) by (instance, \"service.name\") "),
            names(&["instance", "service.name"])
        );
        assert_eq!(
            known("sum by (a) (x{l=\")(\"} * on (a) group_left (b) y)"),
            names(&["a"])
        );
        assert_eq!(known("sum by (a) (x) / sum by (a) (y)"), None);
        assert_eq!(known("sum without (cpu) (x)"), None);
        assert_eq!(known("topk by (a) (3, x)"), None);
        assert_eq!(known("node_filesystem_avail_bytes{fstype!=\"tmpfs\"}"), None);
        assert_eq!(
            known("label_replace(sum by (a) (x), \"b\", \"$1\", \"a\", \"(.*)\")"),
            None
        );
        // No `by`: the answer has no labels, but only a list is taken as knowledge.
        assert_eq!(known("sum(x)"), None);
    }
}
