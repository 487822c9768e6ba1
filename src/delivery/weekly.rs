//! Building and queueing the weekly report when its period falls due, exactly once per period.
//!
//! After each cycle the daemon asks whether the current period (the last due time at or
//! before now) has a report. If not, the report is built from that cycle, and its snapshot and
//! emails are committed in one transaction keyed by the period. A restart before the commit
//! builds it again; after the commit the outbox delivers it, so it is sent once.

use crate::config::delivery::ReportConfig;
use crate::delivery::email::StoredEnvelope;
use crate::delivery::{DeliveryError, EMAIL_CHANNEL};
use crate::outcome::CycleOutcome;
use crate::report::weekly::{SnapshotEntry, WeeklyReport, message};
use crate::store::Store;
use crate::store::outbox::NewMessage;

/// What happened when the report was due.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// This period's report exists already.
    AlreadyBuilt,
    /// Built and committed; `emails` queued.
    Built {
        period: String,
        emails: usize,
        risks: usize,
    },
}

/// Builds and queues the report of the current period unless it exists. Synchronous and
/// CPU-bound (charts): run it off the async threads.
pub fn build_if_due(store: &Store, cycle: &CycleOutcome, config: &ReportConfig) -> Result<Outcome, DeliveryError> {
    let now = cycle.evaluated_at;
    let period = config.schedule.current_period(now);
    if store.report_built(&period.name)? {
        return Ok(Outcome::AlreadyBuilt);
    }
    let (report, rendered) = build(Some(store), cycle, config);
    let mut messages = Vec::new();
    if !config.to.is_empty() {
        let body = super::email::weekly_report(
            &rendered,
            &config.from,
            &config.to,
            &format!("report-{}-{}", period.name, now as i64),
        )?;
        let envelope = StoredEnvelope {
            from: config.from.clone(),
            to: config.to.clone(),
        };
        messages.push(NewMessage {
            channel: EMAIL_CHANNEL.into(),
            dedupe_key: format!("report-{}", period.name),
            envelope: serde_json::to_string(&envelope).map_err(|source| DeliveryError::Encode {
                what: "email envelope",
                source,
            })?,
            body,
        });
    }
    let snapshot = serde_json::to_string(&report.snapshot()).map_err(|source| DeliveryError::Encode {
        what: "report snapshot",
        source,
    })?;
    let committed = store.commit_report(&period.name, &snapshot, &messages, now)?;
    if !committed {
        return Ok(Outcome::AlreadyBuilt);
    }
    Ok(Outcome::Built {
        period: period.name,
        emails: messages.len(),
        risks: report.risks.len(),
    })
}

/// The weekly report of `cycle` (the period its instant falls in), compared with the last
/// report built before that period when the state file has one, and rendered. The scheduled
/// report, `headroom report` and `/report` are all built here.
pub fn build(store: Option<&Store>, cycle: &CycleOutcome, config: &ReportConfig) -> (WeeklyReport, message::Rendered) {
    let period = config.schedule.current_period(cycle.evaluated_at);
    let previous = store.and_then(|store| previous_snapshot(store, &period.name));
    let report = WeeklyReport::build(cycle, period, previous);
    let rendered = message::render(&report, &config.subject);
    (report, rendered)
}

/// Last week's snapshot, if a report was built before `period` (an unreadable one is ignored).
pub fn previous_snapshot(store: &Store, period: &str) -> Option<(String, Vec<SnapshotEntry>)> {
    let (name, text) = store.previous_report(period).ok()??;
    match serde_json::from_str(&text) {
        Ok(entries) => Some((name, entries)),
        Err(error) => {
            tracing::warn!(period = %name, %error, "last report's snapshot is unreadable; comparing with nothing");
            None
        }
    }
}
