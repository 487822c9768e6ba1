//! The report as files (`headroom report --out DIR`) and as one MIME email:
//! `multipart/alternative` of the text part and a `multipart/related` HTML part whose charts
//! are inline PNG parts referenced by Content-ID.

use std::path::Path;

use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};

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

impl Rendered {
    /// Writes `report.html`, `report.txt` and the charts into `dir`; returns the files written.
    pub fn write_to(&self, dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let mut written = Vec::new();
        for (name, bytes) in [
            ("report.html", self.html_for_files.as_bytes()),
            ("report.txt", self.text.as_bytes()),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, bytes)?;
            written.push(path);
        }
        for (index, png) in &self.charts {
            let path = dir.join(file_name(*index));
            std::fs::write(&path, png)?;
            written.push(path);
        }
        Ok(written)
    }

    /// The email, formatted (RFC 5322 bytes), ready for the outbox.
    pub fn email(&self, from: &str, to: &[String], message_id_seed: &str) -> Result<Vec<u8>, String> {
        let from: Mailbox = from.parse().map_err(|e| format!("report.from {from:?}: {e}"))?;
        let mut builder = Message::builder()
            .from(from.clone())
            .subject(self.subject.clone())
            .message_id(Some(format!("<{message_id_seed}@headroom>")));
        for address in to {
            let mailbox: Mailbox = address.parse().map_err(|e| format!("report.to {address:?}: {e}"))?;
            builder = builder.to(mailbox);
        }
        let mut related = MultiPart::related().singlepart(SinglePart::html(self.html_for_mail.clone()));
        let png = ContentType::parse("image/png").map_err(|e| e.to_string())?;
        for (index, bytes) in &self.charts {
            related = related.singlepart(Attachment::new_inline(content_id(*index)).body(bytes.clone(), png.clone()));
        }
        let body = MultiPart::alternative()
            .singlepart(SinglePart::plain(self.text.clone()))
            .multipart(related);
        let message = builder
            .multipart(body)
            .map_err(|e| format!("building the report email: {e}"))?;
        Ok(message.formatted())
    }
}
