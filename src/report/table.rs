//! A cycle for people at a terminal: the `once` table, and the budget as CSV for finance.

use std::fmt::Write;

use crate::format;
#[cfg(test)]
use crate::outcome::budget;
use crate::outcome::{BudgetLine, CycleOutcome, EntityStatus, most_urgent_first};

/// The budget as CSV, one row per month: `scenario,model,team,currency,month,cost`.
pub fn budget_csv(lines: &[BudgetLine]) -> String {
    let mut out = String::from("scenario,model,team,currency,month,cost\n");
    for line in lines {
        for (month, cost) in &line.months {
            let _ = writeln!(
                out,
                "{},{},{},{},{month},{cost:.2}",
                csv_field(&line.scenario),
                csv_field(&line.model),
                csv_field(line.team.as_deref().unwrap_or("")),
                csv_field(&line.currency),
            );
        }
    }
    out
}

/// A CSV field, quoted when it holds a comma, quote or line break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// A plain-text table, one block per model, entities sorted by earliest exhaustion.
pub fn to_table(report: &CycleOutcome) -> String {
    let mut out = String::new();
    let now = report.evaluated_at;
    let _ = writeln!(out, "Headroom forecast at {} from {}", format::time(now), report.source);
    for model in &report.models {
        let _ = writeln!(out);
        if let Some(error) = &model.error {
            let _ = writeln!(out, "{}: FAILED: {error}", model.model);
            continue;
        }
        let _ = writeln!(
            out,
            "{} ({} entities, unit: {})",
            model.model,
            model.entities.len(),
            if model.unit.is_empty() { "-" } else { &model.unit }
        );
        let mut rows: Vec<_> = model.entities.iter().collect();
        rows.sort_by(|a, b| most_urgent_first(a, b));
        let header = [
            "ENTITY",
            "STATUS",
            "URGENCY",
            "NOW",
            "THRESHOLD",
            "LIKELY EXHAUSTION",
            "EARLIEST",
            "ORDER BY",
            "UNITS",
            "METHOD",
            "MASE",
        ];
        const COLUMNS: usize = 11;
        let mut table: Vec<[String; COLUMNS]> = vec![header.map(String::from)];
        for e in rows {
            let (likely, earliest) = match e.exhaustion {
                Some(x) if x.exceeded_now => ("exceeded now".to_string(), "exceeded now".to_string()),
                Some(x) => (format::relative(x.likely, now), format::relative(x.earliest, now)),
                None => ("-".into(), "-".into()),
            };
            let status = match e.status {
                EntityStatus::Ok => "ok".to_string(),
                other => other.name().to_string(),
            };
            let recommendation = e.recommendation.as_ref();
            let urgency = recommendation.map_or("-", |r| r.urgency.name()).to_string();
            let order_by = recommendation
                .and_then(|r| r.order_by)
                .map_or("-".to_string(), |t| format::relative(Some(t), now));
            let units = recommendation
                .and_then(|r| r.units.as_ref())
                .map_or("-".to_string(), |u| match u.change {
                    0 => format!("{} (keep)", u.needed),
                    c => format!("{} ({c:+})", u.needed),
                });
            // A model with several resources: the values are the binding resource's.
            let name = match &e.binding {
                Some(resource) => format!("{} [{resource}, {}]", entity_name(&e.labels), model.unit_of(e)),
                None => entity_name(&e.labels),
            };
            table.push([
                name,
                status,
                urgency,
                e.current.map(format::number).unwrap_or_else(|| "-".into()),
                e.threshold.map(format::number).unwrap_or_else(|| "-".into()),
                likely,
                earliest,
                order_by,
                units,
                e.forecast
                    .as_ref()
                    .map(|f| f.diagnostics.method.name().to_string())
                    .unwrap_or_else(|| "-".into()),
                e.forecast
                    .as_ref()
                    .and_then(|f| f.diagnostics.backtest_mase)
                    .map(|m| format!("{m:.2}"))
                    .unwrap_or_else(|| "-".into()),
            ]);
        }
        let widths: Vec<usize> = (0..COLUMNS)
            .map(|c| table.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        for row in &table {
            let line: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
            let _ = writeln!(out, "  {}", line.join("  ").trim_end());
        }
        for e in model.entities.iter().filter(|e| e.reason.is_some()) {
            let _ = writeln!(
                out,
                "  note: {}: {}",
                entity_name(&e.labels),
                e.reason.as_deref().unwrap_or_default()
            );
        }
    }
    out
}

/// A short name for an entity: its label values, joined.
pub(crate) fn entity_name(labels: &crate::series::Labels) -> String {
    if labels.is_empty() {
        return "(all)".into();
    }
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{check_golden, rich_cycle};

    #[test]
    fn the_once_table_is_as_documented() {
        check_golden("once-table.txt", &to_table(&rich_cycle()));
    }

    #[test]
    fn the_budget_csv_is_as_documented() {
        check_golden("budget.csv", &budget_csv(&budget(&rich_cycle())));
    }
}
