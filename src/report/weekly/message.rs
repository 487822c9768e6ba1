//! The report rendered whole: the HTML (twice: charts as files for `headroom report --out DIR`
//! and `/report`, charts by Content-ID for the email), the text part and the PNG charts.
//! Writing the files is the CLI's job, mailing them `delivery::email`'s.

use super::{WeeklyReport, chart, html, text};

/// A rendered report: both bodies and the charts.
#[derive(Clone, Debug)]
pub struct Rendered {
    pub subject: String,
    /// HTML whose images point at `chart-N.png` (for files and the web).
    pub html_for_files: String,
    /// HTML whose images point at `cid:chart-N@headroom` (for the email).
    pub html_for_mail: String,
    pub text: String,
    /// `(index, PNG bytes)`; charts that could not be drawn are left out, with a warning.
    pub charts: Vec<(usize, Vec<u8>)>,
}

/// The Content-ID of chart `index`.
pub fn content_id(index: usize) -> String {
    format!("chart-{index}@headroom")
}

/// The file name of chart `index`.
pub fn file_name(index: usize) -> String {
    format!("chart-{index}.png")
}

/// Renders `report` with subject prefix `subject`.
pub fn render(report: &WeeklyReport, subject: &str) -> Rendered {
    let subject = report.subject(subject);
    let charts: Vec<(usize, Vec<u8>)> = report
        .charts()
        .filter_map(|(index, _, data)| match chart::render_png(data) {
            Ok(png) => Some((index, png)),
            Err(error) => {
                tracing::warn!(%error, "chart left out of the report");
                None
            }
        })
        .collect();
    Rendered {
        html_for_files: html::render(report, &subject, &file_name),
        html_for_mail: html::render(report, &subject, &|i| format!("cid:{}", content_id(i))),
        text: text::render(report, &subject),
        subject,
        charts,
    }
}
