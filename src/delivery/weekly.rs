//! Building and queueing the weekly report when its period falls due, exactly once per period.
//!
//! After each cycle the daemon asks whether the current period (the last due time at or
//! before now) has a report. If not, the report is built from that cycle, and its snapshot and
//! emails are committed in one transaction keyed by the period. A restart before the commit
//! builds it again; after the commit the outbox delivers it, so it is sent once.
//!
//! A report is built from a cycle in which every model was planned. A cycle in which some
//! failed (the source is down) does not make the report: it waits, `report.wait_for_complete`
//! at most, counted from when it fell due or from when this process first found it waiting,
//! whichever is later (a daemon started long after the due time with the source down does not
//! mail an empty week at once). Past that, the report goes out marked incomplete, naming the
//! models that failed; the first cycle of the same period in which every model is planned then
//! sends a corrected report, once.

use crate::config::delivery::ReportConfig;
use crate::delivery::email::StoredEnvelope;
use crate::delivery::{DeliveryError, EMAIL_CHANNEL};
use crate::outcome::CycleOutcome;
use crate::report::weekly::schedule::Period;
use crate::report::weekly::{SnapshotEntry, WeeklyReport, message};
use crate::store::Store;
use crate::store::outbox::NewMessage;

/// What happened when the report was due.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// This period's report exists already (complete, or incomplete and still waiting for a
    /// cycle to correct it).
    AlreadyBuilt,
    /// Not built yet: some models failed, and the report waits for them until `until`.
    Waiting { failed: usize, until: f64 },
    /// Built and committed; `emails` queued. `complete` is false for a report that went out
    /// without some models; `correction` for the complete one that follows it.
    Built {
        period: String,
        emails: usize,
        risks: usize,
        complete: bool,
        correction: bool,
    },
}

/// How long the current period's report has been waiting for a complete cycle, in this
/// process (kept by the daemon across cycles).
#[derive(Clone, Debug, Default)]
pub struct Patience {
    waiting: Option<(String, f64)>,
}

impl Patience {
    /// Until when the report of `period` waits for a complete cycle, seen at `now`: `wait`
    /// after it fell due or after this process first found it waiting, whichever is later.
    pub fn deadline(&mut self, period: &Period, now: f64, wait: f64) -> f64 {
        let since = match &self.waiting {
            Some((name, since)) if *name == period.name => *since,
            _ => {
                self.waiting = Some((period.name.clone(), now));
                now
            }
        };
        since.max(period.due_at) + wait
    }
}

/// Builds and queues the report of the current period unless it exists, or corrects one
/// that went out incomplete. A cycle with failed models builds nothing before `deadline`
/// (see [`Patience`]). Synchronous and CPU-bound (charts): run it off the async threads.
pub fn build_if_due(
    store: &Store,
    cycle: &CycleOutcome,
    config: &ReportConfig,
    deadline: f64,
) -> Result<Outcome, DeliveryError> {
    let now = cycle.evaluated_at;
    let period = config.schedule.current_period(now);
    let complete = !cycle.has_failures();
    let correction = match store.report_complete(&period.name)? {
        Some(true) => return Ok(Outcome::AlreadyBuilt),
        Some(false) if !complete => return Ok(Outcome::AlreadyBuilt),
        Some(false) => true,
        None if !complete && now < deadline => {
            return Ok(Outcome::Waiting {
                failed: cycle.models.iter().filter(|m| m.error.is_some()).count(),
                until: deadline,
            });
        }
        None => false,
    };
    let (report, rendered) = build_report(Some(store), cycle, config, correction);
    let mut messages = Vec::new();
    if !config.to.is_empty() {
        let key = if correction {
            format!("report-{}-corrected", period.name)
        } else {
            format!("report-{}", period.name)
        };
        let body = super::email::weekly_report(&rendered, &config.from, &config.to, &format!("{key}-{}", now as i64))?;
        let envelope = StoredEnvelope {
            from: config.from.clone(),
            to: config.to.clone(),
        };
        messages.push(NewMessage {
            channel: EMAIL_CHANNEL.into(),
            dedupe_key: key,
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
    let committed = if correction {
        store.commit_correction(&period.name, &snapshot, &messages, now)?
    } else {
        store.commit_report(&period.name, &snapshot, &messages, now, complete)?
    };
    if !committed {
        return Ok(Outcome::AlreadyBuilt);
    }
    Ok(Outcome::Built {
        period: period.name,
        emails: messages.len(),
        risks: report.risks.len(),
        complete,
        correction,
    })
}

/// The weekly report of `cycle` (the period its instant falls in), compared with the last
/// report built before that period when the state file has one, and rendered. The scheduled
/// report, `headroom report` and `/report` are all built here.
pub fn build(store: Option<&Store>, cycle: &CycleOutcome, config: &ReportConfig) -> (WeeklyReport, message::Rendered) {
    build_report(store, cycle, config, false)
}

/// [`build`], marked as the correction of an incomplete report when `correction` is set.
fn build_report(
    store: Option<&Store>,
    cycle: &CycleOutcome,
    config: &ReportConfig,
    correction: bool,
) -> (WeeklyReport, message::Rendered) {
    let period = config.schedule.current_period(cycle.evaluated_at);
    let previous = store.and_then(|store| previous_snapshot(store, &period.name));
    let mut report = WeeklyReport::build(cycle, period, previous);
    report.correction = correction;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::cycle;

    fn config() -> ReportConfig {
        ReportConfig {
            to: vec!["sre@example.org".into()],
            ..ReportConfig::default()
        }
    }

    /// The test cycle `hours` after its period fell due, with every model failed (the source
    /// down since a restart: nothing carried over) or planned.
    fn cycle_at(hours: f64, failed: bool) -> CycleOutcome {
        let mut cycle = cycle();
        let due = config().schedule.current_period(cycle.evaluated_at).due_at;
        cycle.evaluated_at = due + hours * 3600.0;
        if failed {
            cycle.source_up = false;
            for model in &mut cycle.models {
                model.error = Some("cannot reach http://prometheus:9090/ for query `x`".into());
                model.entities.clear();
                model.results_from = None;
            }
        }
        cycle
    }

    fn subject(store: &Store, key: &str) -> String {
        let body = store
            .with(|c| {
                c.query_row("SELECT body FROM outbox WHERE dedupe_key = ?1", [key], |row| {
                    row.get::<_, Vec<u8>>(0)
                })
            })
            .expect("a queued email");
        let text = String::from_utf8_lossy(&body).to_string();
        text.lines()
            .find_map(|line| line.strip_prefix("Subject: "))
            .expect("a subject")
            .to_string()
    }

    #[test]
    fn a_failed_cycle_long_after_the_due_time_waits_then_goes_out_incomplete_then_corrected() {
        let store = Store::in_memory().expect("store");
        let config = config();
        let wait = config.wait_for_complete.as_secs_f64();
        let mut patience = Patience::default();
        // Started 7 hours after the due time with the source down: it waits, from now.
        let first = cycle_at(7.0, true);
        let period = config.schedule.current_period(first.evaluated_at);
        let deadline = patience.deadline(&period, first.evaluated_at, wait);
        assert_eq!(deadline, first.evaluated_at + wait);
        assert!(matches!(
            build_if_due(&store, &first, &config, deadline).expect("due"),
            Outcome::Waiting { failed: 1, .. }
        ));
        assert!(!store.report_built(&period.name).expect("state"));
        assert_eq!(store.outbox_depth().expect("depth").pending, 0, "nothing mailed");

        // Still down past the wait: it goes out, and says it is incomplete before any count.
        let later = cycle_at(13.5, true);
        let deadline = patience.deadline(&period, later.evaluated_at, wait);
        assert_eq!(deadline, first.evaluated_at + wait, "counted from the first wait");
        let built = build_if_due(&store, &later, &config, deadline).expect("built");
        assert!(matches!(
            built,
            Outcome::Built {
                complete: false,
                correction: false,
                ..
            }
        ));
        let incomplete = subject(&store, &format!("report-{}", period.name));
        assert!(
            incomplete.contains("INCOMPLETE, 1 of 1 models not planned"),
            "{incomplete}"
        );
        assert_eq!(
            build_if_due(&store, &cycle_at(14.0, true), &config, deadline).expect("again"),
            Outcome::AlreadyBuilt
        );

        // Every model planned again in the same week: a corrected report, once.
        let corrected = build_if_due(&store, &cycle_at(20.0, false), &config, deadline).expect("corrected");
        assert!(matches!(
            corrected,
            Outcome::Built {
                complete: true,
                correction: true,
                risks: 2,
                ..
            }
        ));
        let subject = subject(&store, &format!("report-{}-corrected", period.name));
        assert!(subject.starts_with("Corrected: Capacity report"), "{subject}");
        assert!(subject.ends_with("1 critical, 1 warning"), "{subject}");
        assert_eq!(
            build_if_due(&store, &cycle_at(21.0, false), &config, deadline).expect("once"),
            Outcome::AlreadyBuilt
        );
        assert_eq!(store.outbox_depth().expect("depth").pending, 2);
    }

    #[test]
    fn a_complete_cycle_builds_at_once_and_is_never_corrected() {
        let store = Store::in_memory().expect("store");
        let config = config();
        let built = build_if_due(&store, &cycle_at(0.5, false), &config, f64::INFINITY).expect("built");
        assert!(matches!(
            built,
            Outcome::Built {
                complete: true,
                correction: false,
                ..
            }
        ));
        assert_eq!(
            build_if_due(&store, &cycle_at(1.0, false), &config, f64::INFINITY).expect("again"),
            Outcome::AlreadyBuilt
        );
        assert_eq!(store.outbox_depth().expect("depth").pending, 1);
    }

    #[test]
    fn patience_starts_at_the_due_time_or_when_first_seen() {
        let mut patience = Patience::default();
        let period = Period {
            name: "2026-W48".into(),
            due_at: 1000.0,
        };
        assert_eq!(patience.deadline(&period, 1000.0, 60.0), 1060.0);
        assert_eq!(patience.deadline(&period, 1050.0, 60.0), 1060.0);
        let next = Period {
            name: "2026-W49".into(),
            due_at: 5000.0,
        };
        assert_eq!(
            patience.deadline(&next, 9000.0, 60.0),
            9060.0,
            "a new period, first seen late"
        );
    }
}
