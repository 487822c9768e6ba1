//! The report as HTML for mail clients: tables and inline styles only (no stylesheet, no
//! script, no remote resource), charts as `<img>` whose source the caller chooses (`cid:` in
//! the email, a file name on disk, a URL on `/report`).

use std::fmt::Write;

use super::{RiskRow, WeeklyReport};
use crate::format::{self, number};
use crate::recommend::Urgency;

/// Renders `report`; `image_src(index)` gives each chart's `src`.
pub fn render(report: &WeeklyReport, subject: &str, image_src: &dyn Fn(usize) -> String) -> String {
    let mut out = String::with_capacity(32 * 1024);
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title></head>\n\
         <body style=\"margin:0;padding:16px;background:#f6f7f9;font-family:Helvetica,Arial,sans-serif;color:#1d2330;\">\n\
         <table role=\"presentation\" width=\"100%\" style=\"max-width:760px;margin:0 auto;background:#ffffff;border-collapse:collapse;\"><tr><td style=\"padding:20px;\">",
        escape(subject)
    );
    let _ = writeln!(
        out,
        "<h1 style=\"font-size:22px;margin:0 0 4px 0;\">{}</h1>\n<p style=\"margin:0 0 16px 0;color:#5b6475;font-size:13px;\">Generated {} from {}. {} entities planned: {} at risk, {} fine.</p>",
        escape(subject),
        escape(&format::time(report.generated_at)),
        escape(&report.source),
        report.planned,
        report.risks.len(),
        report.fine
    );
    if let Some(missing) = report.incompleteness() {
        let _ = writeln!(
            out,
            "<p style=\"padding:8px;background:#fdecea;border-left:4px solid #c62828;font-size:14px;\"><b>Incomplete:</b> {} in this cycle. Their risks are missing or out of date below; a corrected report follows once they are planned.</p>",
            escape(&missing)
        );
    }
    if report.correction {
        let _ = writeln!(
            out,
            "<p style=\"padding:8px;background:#e8f5e9;border-left:4px solid #2e7d32;font-size:14px;\"><b>Correction:</b> this replaces the incomplete report sent earlier for {}; every model is planned now.</p>",
            escape(&report.period.name)
        );
    }
    if !report.failed_models.is_empty() {
        let _ = write!(
            out,
            "<p style=\"padding:8px;background:#fff4e5;border-left:4px solid #e67800;font-size:13px;\"><b>Not up to date:</b> "
        );
        for (model, error) in &report.failed_models {
            let _ = write!(out, "{} ({}). ", escape(model), escape(error));
        }
        out.push_str("</p>\n");
    }
    changes(&mut out, report);
    section(&mut out, "At risk, by runway");
    if report.risks.is_empty() {
        let _ = writeln!(
            out,
            "<p style=\"font-size:14px;\">{}</p>",
            escape(&super::text::nothing_at_risk(report))
        );
    } else {
        risk_table(&mut out, &report.risks);
    }
    teams(&mut out, report);
    charts(&mut out, report, image_src);
    savings(&mut out, report);
    finance(&mut out, report);
    accuracy(&mut out, report);
    out.push_str(
        "<p style=\"font-size:11px;color:#8a92a3;margin-top:24px;\">Dates are forecasts: likely = the expected path crosses the threshold; earliest = the pessimistic 95 % bound does. Order by = earliest minus the lead time. Sent by Headroom.</p>\n",
    );
    out.push_str("</td></tr></table>\n</body></html>\n");
    out
}

fn section(out: &mut String, title: &str) {
    let _ = writeln!(
        out,
        "<h2 style=\"font-size:17px;margin:24px 0 8px 0;border-bottom:1px solid #e3e6ec;padding-bottom:4px;\">{}</h2>",
        escape(title)
    );
}

const TH: &str = "style=\"text-align:left;padding:6px 8px;background:#eef1f5;font-size:12px;\"";
const TD: &str = "style=\"padding:6px 8px;border-bottom:1px solid #eef1f5;font-size:13px;vertical-align:top;\"";

fn table_start(out: &mut String, id: &str, headers: &[&str]) {
    let _ = write!(
        out,
        "<table id=\"{id}\" role=\"table\" width=\"100%\" style=\"border-collapse:collapse;\"><thead><tr>"
    );
    for header in headers {
        let _ = write!(out, "<th {TH}>{}</th>", escape(header));
    }
    out.push_str("</tr></thead><tbody>\n");
}

fn badge(urgency: Urgency) -> String {
    let (background, color) = match urgency {
        Urgency::Critical => ("#fde2e1", "#b3261e"),
        Urgency::Warning => ("#fff1d6", "#8a5300"),
        Urgency::Ok => ("#e3f4e8", "#1e6b35"),
    };
    format!(
        "<span style=\"background:{background};color:{color};padding:2px 6px;border-radius:3px;font-size:12px;font-weight:bold;white-space:nowrap;\">{}</span>",
        urgency.name()
    )
}

fn date(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |t| format::time(t).replace(" UTC", ""))
}

fn risk_table(out: &mut String, risks: &[RiskRow]) {
    table_start(out, "risks", &["Urgency", "Resource", "Runway", "Order by", "Action"]);
    for risk in risks {
        let cost = risk
            .monthly_cost_change
            .as_ref()
            .map(|(delta, currency)| {
                format!(
                    "<br><span style=\"color:#5b6475;font-size:12px;\">{delta:+.0} {} / month</span>",
                    escape(currency)
                )
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "<tr><td {TD}>{}</td><td {TD}><b>{}</b> <span style=\"color:#5b6475;\">({})</span><br><span style=\"color:#5b6475;font-size:12px;overflow-wrap:anywhere;\">{}</span></td><td {TD}>{}<br><span style=\"color:#5b6475;font-size:12px;\">earliest {}</span></td><td {TD}>{}</td><td {TD}>{}{cost}</td></tr>",
            badge(risk.urgency),
            escape(&risk.model),
            escape(risk.team.as_deref().unwrap_or("no team")),
            escape(&risk.entity),
            format::days(risk.runway_days),
            format::days(risk.earliest_runway_days),
            date(risk.order_by),
            escape(&risk.action),
        );
    }
    out.push_str("</tbody></table>\n");
}

fn teams(out: &mut String, report: &WeeklyReport) {
    section(out, "Runway by team");
    table_start(
        out,
        "teams",
        &["Team", "Critical", "Warning", "Shortest runway", "Resource"],
    );
    for team in &report.teams {
        let _ = writeln!(
            out,
            "<tr><td {TD}><b>{}</b></td><td {TD}>{}</td><td {TD}>{}</td><td {TD}>{}</td><td {TD}><span style=\"overflow-wrap:anywhere;\">{}</span></td></tr>",
            escape(&team.team),
            team.critical,
            team.warning,
            format::days(team.shortest_runway_days),
            escape(team.shortest.as_deref().unwrap_or("-")),
        );
    }
    out.push_str("</tbody></table>\n");
}

fn charts(out: &mut String, report: &WeeklyReport, image_src: &dyn Fn(usize) -> String) {
    let mut any = false;
    for (index, risk, chart) in report.charts() {
        if !any {
            section(out, "Forecasts of the resources at risk");
            any = true;
        }
        let _ = write!(
            out,
            "<div style=\"margin:12px 0 20px 0;\"><p style=\"margin:0 0 4px 0;font-size:14px;\">{} <b>{}</b> {}</p>\
             <img src=\"{}\" width=\"{}\" height=\"{}\" alt=\"{}\" style=\"display:block;max-width:100%;height:auto;border:1px solid #e3e6ec;\">\n<ul style=\"margin:6px 0 0 18px;padding:0;font-size:12px;color:#39414f;\">",
            badge(risk.urgency),
            escape(&risk.model),
            escape(&risk.entity),
            escape(&image_src(index)),
            super::chart::WIDTH,
            super::chart::HEIGHT,
            escape(&format!("Forecast of {}", chart.title)),
        );
        for line in risk.justification.iter().chain(risk.caveats.iter()) {
            let _ = write!(out, "<li>{}</li>", escape(line));
        }
        out.push_str("</ul></div>\n");
    }
    if report.risks.len() > report.charts().count() && any {
        let _ = writeln!(
            out,
            "<p style=\"font-size:12px;color:#5b6475;\">Charts for the first {} resources; the table above lists all {}.</p>",
            report.charts().count(),
            report.risks.len()
        );
    }
}

fn changes(out: &mut String, report: &WeeklyReport) {
    section(out, "Since last week");
    let changes = &report.changes;
    let Some(since) = &changes.since else {
        out.push_str("<p style=\"font-size:14px;\">This is the first report: nothing to compare with yet.</p>\n");
        return;
    };
    if changes.new_risks.is_empty() && changes.moved.is_empty() && changes.cleared.is_empty() {
        let _ = writeln!(
            out,
            "<p style=\"font-size:14px;\">No change since {}.</p>",
            escape(since)
        );
        return;
    }
    out.push_str("<ul id=\"changes\" style=\"font-size:14px;\">");
    for name in &changes.new_risks {
        let _ = write!(out, "<li><b>New risk:</b> {}</li>", escape(name));
    }
    for (name, before, after) in &changes.moved {
        let direction = match (before, after) {
            (Some(b), Some(a)) if a < b => "sooner",
            (Some(_), Some(_)) => "later",
            _ => "changed",
        };
        let _ = write!(
            out,
            "<li><b>Date moved {direction}:</b> {} from {} to {}</li>",
            escape(name),
            date(*before),
            date(*after)
        );
    }
    for name in &changes.cleared {
        let _ = write!(out, "<li><b>Cleared:</b> {}</li>", escape(name));
    }
    out.push_str("</ul>\n");
}

fn savings(out: &mut String, report: &WeeklyReport) {
    if report.savings.is_empty() {
        return;
    }
    section(out, "Right-sizing: capacity that can go");
    table_start(out, "savings", &["Resource", "Team", "Remove", "Saving / month"]);
    for row in &report.savings {
        let _ = writeln!(
            out,
            "<tr><td {TD}><b>{}</b> <span style=\"overflow-wrap:anywhere;\">{}</span></td><td {TD}>{}</td><td {TD}>{} × {}</td><td {TD}>{:.0} {}</td></tr>",
            escape(&row.model),
            escape(&row.entity),
            escape(row.team.as_deref().unwrap_or("-")),
            row.units_removable,
            escape(&row.unit_name),
            row.monthly_saving,
            escape(&row.currency),
        );
    }
    out.push_str("</tbody></table>\n");
}

fn finance(out: &mut String, report: &WeeklyReport) {
    section(out, "Budget: projected monthly cost per scenario");
    if report.budget.is_empty() {
        out.push_str(
            "<p style=\"font-size:14px;\">No model has a unit cost ([scaling] unit_cost), so there is nothing to project.</p>\n",
        );
        return;
    }
    // Three months of the twelve and the total keep the table readable in a mail client;
    // `headroom budget` and /metrics have every month.
    let months = &report.budget[0].months;
    let picks: Vec<usize> = [0, 5, 11].into_iter().filter(|i| *i < months.len()).collect();
    let mut headers: Vec<String> = vec!["Scenario".into(), "Model".into(), "Team".into()];
    headers.extend(picks.iter().map(|i| months[*i].0.clone()));
    headers.push("12 months".into());
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    table_start(out, "budget", &headers);
    for line in &report.budget {
        let _ = write!(
            out,
            "<tr><td {TD}>{}</td><td {TD}>{}</td><td {TD}>{}</td>",
            escape(&line.scenario),
            escape(&line.model),
            escape(line.team.as_deref().unwrap_or("-"))
        );
        for i in &picks {
            let cost = line.months.get(*i).map_or(0.0, |(_, c)| *c);
            let _ = write!(out, "<td {TD}>{}</td>", number(cost));
        }
        let _ = writeln!(
            out,
            "<td {TD}><b>{} {}</b></td></tr>",
            number(line.total),
            escape(&line.currency)
        );
    }
    out.push_str("</tbody></table>\n");
    out.push_str(
        "<p style=\"font-size:12px;color:#5b6475;\">Every month: <code>headroom budget --format csv</code>.</p>\n",
    );
}

fn accuracy(out: &mut String, report: &WeeklyReport) {
    section(out, "How right past forecasts were");
    if report.accuracy.is_empty() {
        out.push_str("<p style=\"font-size:14px;\">No forecast has reached a checkpoint yet (1 and 7 days after it was made).</p>\n");
        return;
    }
    table_start(
        out,
        "accuracy",
        &[
            "Model",
            "Checkpoint",
            "Entities",
            "Median MASE",
            "Inside 95 %",
            "Largest miss",
        ],
    );
    for row in &report.accuracy {
        let miss = row.worst.as_ref().map_or_else(String::new, |(name, s)| {
            format!(
                "{}: on {} we said {} {unit} for {}, it was {}",
                escape(name),
                escape(&format::time(s.made_at)),
                number(s.predicted),
                escape(&format::time(s.at)),
                number(s.actual),
                unit = escape(&row.unit)
            )
        });
        let _ = writeln!(
            out,
            "<tr><td {TD}><b>{}</b></td><td {TD}>{}</td><td {TD}>{}</td><td {TD}>{:.2}</td><td {TD}>{:.0} %</td><td {TD}><span style=\"overflow-wrap:anywhere;\">{miss}</span></td></tr>",
            escape(&row.model),
            escape(&row.checkpoint),
            row.entities,
            row.median_mase,
            row.coverage_95 * 100.0,
        );
    }
    out.push_str("</tbody></table>\n<p style=\"font-size:12px;color:#5b6475;\">MASE below 1: better than repeating yesterday. A well-calibrated 95 % interval holds about 95 % of what happened.</p>\n");
}

/// HTML-escapes text for element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}
