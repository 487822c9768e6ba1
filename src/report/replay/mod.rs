//! A replay for people and programs: the table `headroom replay` prints, its JSON document
//! ([`json`]) and `replay.html` with a chart per entity ([`html`], [`chart`]).

pub mod chart;
pub mod html;
pub mod json;

use std::fmt::Write;

use crate::format;
use crate::replay::summary::{self, SideSummary, Summary};
use crate::replay::{EntityReplay, ModelReplay, Replay};
use crate::report::table::entity_name;

/// One entity's figures, with the model and entity they belong to.
pub struct Row<'a> {
    pub model: &'a ModelReplay,
    pub entity: &'a EntityReplay,
    pub summary: Summary,
}

/// Every entity's figures, the most false alert-hours saved first (then by model and labels).
pub fn rows(replay: &Replay) -> Vec<Row<'_>> {
    let mut rows: Vec<Row<'_>> = replay
        .models
        .iter()
        .flat_map(|model| {
            model.entities.iter().map(move |entity| Row {
                model,
                entity,
                summary: summary::entity(replay, model, entity),
            })
        })
        .collect();
    rows.sort_by(|a, b| {
        b.summary
            .false_hours_saved()
            .total_cmp(&a.summary.false_hours_saved())
            .then_with(|| a.model.model.cmp(&b.model.model))
            .then_with(|| a.entity.labels.cmp(&b.entity.labels))
    });
    rows
}

/// The figures of all rows added up.
pub fn total(rows: &[Row<'_>]) -> Summary {
    summary::total(rows.iter().map(|r| &r.summary))
}

/// What a Headroom alert and a baseline alert are, in one sentence each.
pub fn definitions(replay: &Replay) -> [String; 2] {
    [
        "Headroom alerts when an entity is critical (HeadroomCapacityCritical: the order-by date \
         is within 7 days or has passed, or the threshold is exceeded); it is true when the usage \
         is past the threshold within 7 days plus the model's lead time."
            .to_string(),
        format!(
            "The baseline alerts when a least-squares line through the last {} of usage, \
             extrapolated {} ahead, is past the threshold (predict_linear); it is true when the \
             usage is past the threshold within {}.",
            replay.rule.window, replay.rule.ahead, replay.rule.ahead
        ),
    ]
}

fn hours(value: f64) -> String {
    format!("{value:.0}")
}

fn lead(side: &SideSummary) -> String {
    side.median_lead_hours()
        .map_or_else(|| "-".into(), |h| format::days_or_hours(h * 3600.0))
}

/// The table `headroom replay` prints: the span and the rules, one row per entity (most
/// false alert-hours saved first), then the total.
pub fn to_table(replay: &Replay) -> String {
    let mut out = String::new();
    let rows = rows(replay);
    let _ = writeln!(
        out,
        "Headroom replay from {} to {}, every {}: {} moments, {} entities, from {}",
        format::time(replay.from),
        format::time(replay.to),
        format::days_or_hours(replay.every),
        replay.moments.len(),
        rows.len(),
        replay.source
    );
    for sentence in definitions(replay) {
        let _ = writeln!(out, "{sentence}");
    }
    for model in &replay.models {
        let _ = writeln!(out, "  {}: {}", model.model, model.rule);
    }
    let _ = writeln!(out);
    const COLUMNS: usize = 9;
    let header = [
        "MODEL",
        "ENTITY",
        "ALERT-H HEADROOM/BASELINE",
        "FALSE ALERT-H",
        "SAVED",
        "CROSSINGS",
        "MISSED",
        "MEDIAN LEAD",
        "LIKELY ERROR",
    ];
    let mut table: Vec<[String; COLUMNS]> = vec![header.map(String::from)];
    let line = |model: &str, entity: String, s: &Summary| -> [String; COLUMNS] {
        [
            model.to_string(),
            entity,
            format!("{} / {}", hours(s.headroom.alert_hours), hours(s.baseline.alert_hours)),
            format!(
                "{} / {}",
                hours(s.headroom.false_alert_hours),
                hours(s.baseline.false_alert_hours)
            ),
            hours(s.false_hours_saved()),
            s.headroom.crossings.to_string(),
            format!("{} / {}", s.headroom.missed, s.baseline.missed),
            format!("{} / {}", lead(&s.headroom), lead(&s.baseline)),
            s.likely
                .median_abs_days()
                .map_or_else(|| "-".into(), |d| format!("{d:.1} d")),
        ]
    };
    for row in &rows {
        table.push(line(&row.model.model, entity_name(&row.entity.labels), &row.summary));
    }
    let total = total(&rows);
    table.push(line("TOTAL", String::new(), &total));
    let widths: Vec<usize> = (0..COLUMNS)
        .map(|c| table.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for row in &table {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    let pending = total.headroom.pending_alert_hours + total.baseline.pending_alert_hours;
    if pending > 0.0 {
        let _ = writeln!(
            out,
            "\nPending: {} Headroom and {} baseline alert-hours are not judged yet: the data ends at {}, before their horizon.",
            hours(total.headroom.pending_alert_hours),
            hours(total.baseline.pending_alert_hours),
            format::time(replay.read_until)
        );
    }
    for model in replay.models.iter().filter(|m| !m.failures.is_empty()) {
        let (at, why) = &model.failures[0];
        let _ = writeln!(
            out,
            "\n{} failed at {} of {} moments (first at {}: {why}); those moments have no Headroom plan.",
            model.model,
            model.failures.len(),
            replay.moments.len(),
            format::time(*at)
        );
    }
    out
}

#[cfg(test)]
mod tests;
