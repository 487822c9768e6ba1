//! The report as plain text: the same facts as the HTML part, for clients that do not show
//! HTML and for people who prefer it.

use std::fmt::Write;

use super::WeeklyReport;
use crate::format::{self, number};

/// Renders `report` as plain text.
pub fn render(report: &WeeklyReport, subject: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{subject}\n{}", "=".repeat(subject.chars().count().min(78)));
    let _ = writeln!(
        out,
        "Generated {} from {}. {} entities planned: {} at risk, {} fine.",
        format::time(report.generated_at),
        report.source,
        report.planned,
        report.risks.len(),
        report.fine
    );
    if let Some(missing) = report.incompleteness() {
        let _ = writeln!(
            out,
            "\nINCOMPLETE: {missing} in this cycle. Their risks are missing or out of date below; a corrected report follows once they are planned."
        );
    }
    if report.correction {
        let _ = writeln!(
            out,
            "\nThis corrects the incomplete report sent earlier for {}: every model is planned now.",
            report.period.name
        );
    }
    for (model, error) in &report.failed_models {
        let _ = writeln!(out, "NOT UP TO DATE: {model}: {error}");
    }

    heading(&mut out, "Since last week");
    match &report.changes.since {
        None => out.push_str("This is the first report: nothing to compare with yet.\n"),
        Some(since) => {
            let changes = &report.changes;
            if changes.new_risks.is_empty() && changes.moved.is_empty() && changes.cleared.is_empty() {
                let _ = writeln!(out, "No change since {since}.");
            }
            for name in &changes.new_risks {
                let _ = writeln!(out, "- New risk: {name}");
            }
            for (name, before, after) in &changes.moved {
                let _ = writeln!(out, "- Date moved: {name} from {} to {}", date(*before), date(*after));
            }
            for name in &changes.cleared {
                let _ = writeln!(out, "- Cleared: {name}");
            }
        }
    }

    heading(&mut out, "At risk, by runway");
    if report.risks.is_empty() {
        out.push_str(&nothing_at_risk(report));
        out.push('\n');
    }
    for (rank, risk) in report.risks.iter().enumerate() {
        let _ = writeln!(
            out,
            "{:>2}. [{}] {} {} (team {})",
            rank + 1,
            risk.urgency.name(),
            risk.model,
            risk.entity,
            risk.team.as_deref().unwrap_or("-")
        );
        let _ = writeln!(
            out,
            "    runway {}, earliest {}, order by {}; {}{}",
            format::days(risk.runway_days),
            format::days(risk.earliest_runway_days),
            date(risk.order_by),
            risk.action,
            risk.monthly_cost_change
                .as_ref()
                .map(|(delta, currency)| format!(" ({delta:+.0} {currency}/month)"))
                .unwrap_or_default()
        );
        for line in risk.justification.iter().take(3) {
            let _ = writeln!(out, "    - {line}");
        }
    }

    heading(&mut out, "Runway by team");
    for team in &report.teams {
        let _ = writeln!(
            out,
            "- {}: {} critical, {} warning; shortest runway {}{}",
            team.team,
            team.critical,
            team.warning,
            format::days(team.shortest_runway_days),
            team.shortest.as_ref().map(|s| format!(" ({s})")).unwrap_or_default()
        );
    }

    if !report.savings.is_empty() {
        heading(&mut out, "Right-sizing: capacity that can go");
        for row in &report.savings {
            let _ = writeln!(
                out,
                "- {} {}: remove {} × {}, saving {:.0} {}/month",
                row.model, row.entity, row.units_removable, row.unit_name, row.monthly_saving, row.currency
            );
        }
    }

    heading(&mut out, "Budget: projected monthly cost per scenario");
    if report.budget.is_empty() {
        out.push_str("No model has a unit cost ([scaling] unit_cost), so there is nothing to project.\n");
    }
    for line in &report.budget {
        let first = line
            .months
            .first()
            .map(|(m, c)| format!("{m} {}", number(*c)))
            .unwrap_or_default();
        let last = line
            .months
            .last()
            .map(|(m, c)| format!("{m} {}", number(*c)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "- {} / {} / {}: {first} … {last}; 12 months {} {}",
            line.scenario,
            line.model,
            line.team.as_deref().unwrap_or("-"),
            number(line.total),
            line.currency
        );
    }
    heading(&mut out, "How right past forecasts were");
    if report.accuracy.is_empty() {
        out.push_str("No forecast has reached a checkpoint yet (1 and 7 days after it was made).\n");
    }
    for row in &report.accuracy {
        let _ = writeln!(
            out,
            "- {} at {}: {} entities, median MASE {:.2}, {:.0} % inside the 95 % interval",
            row.model,
            row.checkpoint,
            row.entities,
            row.median_mase,
            row.coverage_95 * 100.0
        );
        if let Some((name, s)) = &row.worst {
            let _ = writeln!(
                out,
                "  largest miss {name}: on {} we said {} {} for {}, it was {}",
                format::time(s.made_at),
                number(s.predicted),
                row.unit,
                format::time(s.at),
                number(s.actual)
            );
        }
    }
    out.push_str(
        "\nDates are forecasts: likely = the expected path crosses the threshold; earliest = the pessimistic\n95 % bound does. Order by = earliest minus the lead time. Charts are in the HTML part.\n",
    );
    out
}

fn heading(out: &mut String, title: &str) {
    let _ = writeln!(out, "\n{title}\n{}", "-".repeat(title.chars().count()));
}

fn date(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), format::time)
}

/// What an empty risk list means: all clear only when every model was planned.
pub(super) fn nothing_at_risk(report: &WeeklyReport) -> String {
    match report.incompleteness() {
        None => "Nothing is expected to cross its threshold within its horizon.".into(),
        Some(missing) => format!(
            "No risk among the models planned; {missing}, so their risks are unknown (this is not an all-clear)."
        ),
    }
}
