//! `replay.html`: one self-contained page (inline styles, charts inlined as PNG data, no
//! script, no remote resource) with the totals side by side, a row per entity, and a chart per
//! entity.

use std::fmt::Write;

use super::{Row, definitions, rows, total};
use crate::format::{self, number};
use crate::replay::Replay;
use crate::replay::summary::{SideSummary, Summary};
use crate::report::table::entity_name;
use crate::report::weekly::html::escape;

/// Entities drawn at most, the most false alert-hours saved first; the others keep their row.
pub const MAX_CHARTS: usize = 200;

const TH: &str = "style=\"text-align:left;padding:5px 8px;background:#eef1f5;font-size:12px;\"";
const TD: &str = "style=\"padding:5px 8px;border-bottom:1px solid #eef1f5;font-size:13px;\"";

/// Renders the page.
pub fn render(replay: &Replay) -> String {
    let rows = rows(replay);
    let total = total(&rows);
    let title = format!(
        "Headroom replay, {} to {}",
        format::time(replay.from),
        format::time(replay.to)
    );
    let mut out = String::with_capacity(64 * 1024);
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title></head>\n\
         <body style=\"margin:0;padding:16px;background:#f6f7f9;font-family:Helvetica,Arial,sans-serif;color:#1d2330;\">\n\
         <div style=\"max-width:940px;margin:0 auto;background:#ffffff;padding:20px;\">",
        escape(&title)
    );
    let _ = writeln!(
        out,
        "<h1 style=\"font-size:22px;margin:0 0 4px 0;\">{}</h1>\n<p style=\"margin:0 0 12px 0;color:#5b6475;font-size:13px;\">{} moments every {}, {} entities, from {}. The data read reaches {}.</p>",
        escape(&title),
        replay.moments.len(),
        escape(&format::days_or_hours(replay.every)),
        rows.len(),
        escape(&replay.source),
        escape(&format::time(replay.read_until))
    );
    for sentence in definitions(replay) {
        let _ = writeln!(
            out,
            "<p style=\"font-size:13px;margin:4px 0;\">{}</p>",
            escape(&sentence)
        );
    }
    out.push_str("<ul style=\"font-size:12px;font-family:monospace;\">\n");
    for model in &replay.models {
        let _ = writeln!(out, "<li>{}: {}</li>", escape(&model.model), escape(&model.rule));
    }
    out.push_str("</ul>\n");
    for model in replay.models.iter().filter(|m| !m.failures.is_empty()) {
        let _ = writeln!(
            out,
            "<p style=\"padding:8px;background:#fff4e5;border-left:4px solid #e67800;font-size:13px;\">{} failed at {} of {} moments (first: {}); those moments have no Headroom plan.</p>",
            escape(&model.model),
            model.failures.len(),
            replay.moments.len(),
            escape(&model.failures[0].1)
        );
    }
    totals(&mut out, &total);
    entity_table(&mut out, &rows);
    charts(&mut out, replay, &rows);
    out.push_str(
        "<p style=\"font-size:11px;color:#8a92a3;margin-top:24px;\">Definitions: docs/replay.md. Made by headroom replay.</p>\n</div>\n</body></html>\n",
    );
    out
}

fn side_cells(out: &mut String, name: &str, side: &SideSummary) {
    let lead = side
        .median_lead_hours()
        .map_or_else(|| "-".into(), |h| format::days_or_hours(h * 3600.0));
    let _ = writeln!(
        out,
        "<tr><td {TD}><b>{name}</b></td><td {TD}>{:.0}</td><td {TD}>{:.0}</td><td {TD}>{:.0}</td><td {TD}>{}</td><td {TD}>{}</td><td {TD}>{}</td><td {TD}>{}</td></tr>",
        side.alert_hours,
        side.false_alert_hours,
        side.pending_alert_hours,
        side.crossings,
        side.warned_in_time,
        side.missed,
        escape(&lead),
    );
}

fn totals(out: &mut String, total: &Summary) {
    out.push_str("<h2 style=\"font-size:17px;margin:20px 0 8px 0;\">In total</h2>\n");
    let _ = writeln!(
        out,
        "<table id=\"totals\" style=\"border-collapse:collapse;width:100%;\"><thead><tr><th {TH}></th><th {TH}>alert-hours</th><th {TH}>false</th><th {TH}>pending</th><th {TH}>crossings</th><th {TH}>warned in time</th><th {TH}>missed</th><th {TH}>median lead</th></tr></thead><tbody>"
    );
    side_cells(out, "Headroom", &total.headroom);
    side_cells(out, "baseline", &total.baseline);
    out.push_str("</tbody></table>\n");
    let likely = match (total.likely.median_abs_days(), total.likely.median_days()) {
        (Some(abs), Some(signed)) => format!(
            "Headroom's likely date was off by {abs:.1} days in the median ({signed:+.1} d signed; positive is late), over {} moments followed by a crossing.",
            total.likely.errors.len()
        ),
        _ => "No likely date of Headroom was followed by a crossing in the data.".to_string(),
    };
    let _ = writeln!(
        out,
        "<p style=\"font-size:13px;\">False alert-hours saved: <b>{:.0}</b>. {}</p>",
        total.false_hours_saved(),
        escape(&likely)
    );
}

fn entity_table(out: &mut String, rows: &[Row<'_>]) {
    out.push_str(
        "<h2 style=\"font-size:17px;margin:20px 0 8px 0;\">Per entity, most false alert-hours saved first</h2>\n",
    );
    let _ = writeln!(
        out,
        "<table id=\"entities\" style=\"border-collapse:collapse;width:100%;\"><thead><tr><th {TH}>model</th><th {TH}>entity</th><th {TH}>alert-h Headroom / baseline</th><th {TH}>false</th><th {TH}>saved</th><th {TH}>crossings</th><th {TH}>missed</th></tr></thead><tbody>"
    );
    for (index, row) in rows.iter().enumerate() {
        let s = &row.summary;
        let _ = writeln!(
            out,
            "<tr><td {TD}>{}</td><td {TD}><a href=\"#entity-{index}\">{}</a></td><td {TD}>{:.0} / {:.0}</td><td {TD}>{:.0} / {:.0}</td><td {TD}>{:.0}</td><td {TD}>{}</td><td {TD}>{} / {}</td></tr>",
            escape(&row.model.model),
            escape(&entity_name(&row.entity.labels)),
            s.headroom.alert_hours,
            s.baseline.alert_hours,
            s.headroom.false_alert_hours,
            s.baseline.false_alert_hours,
            s.false_hours_saved(),
            s.headroom.crossings,
            s.headroom.missed,
            s.baseline.missed,
        );
    }
    out.push_str("</tbody></table>\n");
}

fn charts(out: &mut String, replay: &Replay, rows: &[Row<'_>]) {
    out.push_str("<h2 style=\"font-size:17px;margin:20px 0 8px 0;\">Charts</h2>\n");
    if rows.len() > MAX_CHARTS {
        let _ = writeln!(
            out,
            "<p style=\"font-size:13px;\">The first {MAX_CHARTS} of {} entities are drawn; the table above lists every one.</p>",
            rows.len()
        );
    }
    for (index, row) in rows.iter().enumerate().take(MAX_CHARTS) {
        let name = format!("{} {}", row.model.model, entity_name(&row.entity.labels));
        let threshold = row
            .entity
            .truth
            .threshold
            .at(replay.to)
            .map_or_else(|| "none".into(), number);
        let _ = writeln!(
            out,
            "<section class=\"entity\" id=\"entity-{index}\" style=\"margin:18px 0;\"><h3 style=\"font-size:15px;margin:0 0 4px 0;\">{}</h3>\n<p style=\"font-size:12px;color:#5b6475;margin:0 0 6px 0;\">Threshold {} {}. Alert-hours: Headroom {:.0} ({:.0} false), baseline {:.0} ({:.0} false). Crossings: {}.</p>",
            escape(&name),
            escape(&threshold),
            escape(&row.model.unit),
            row.summary.headroom.alert_hours,
            row.summary.headroom.false_alert_hours,
            row.summary.baseline.alert_hours,
            row.summary.baseline.false_alert_hours,
            row.summary.headroom.crossings,
        );
        match super::chart::render_png(replay, row.model, row.entity, &name) {
            Ok(png) => {
                let _ = writeln!(
                    out,
                    "<img class=\"chart\" alt=\"{}\" width=\"{}\" height=\"{}\" style=\"max-width:100%;height:auto;\" src=\"data:image/png;base64,{}\">",
                    escape(&format!("Replay of {name}")),
                    super::chart::WIDTH,
                    super::chart::HEIGHT,
                    format::base64(&png)
                );
            }
            Err(error) => {
                let _ = writeln!(
                    out,
                    "<p style=\"font-size:12px;\">No chart: {}</p>",
                    escape(&error.to_string())
                );
            }
        }
        out.push_str("</section>\n");
    }
}
