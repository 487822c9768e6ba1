//! When the weekly report is due, and which period a report belongs to.
//!
//! A period is named by the ISO week of its due date in the configured time zone
//! (`2026-W48`), so "has this week's report been built?" is one lookup, stable across
//! restarts, daylight-saving changes and time zone moves of the server.

use chrono::{Datelike, Duration, TimeZone};

use crate::config::delivery::WeeklySchedule;

/// One weekly report's slot.
#[derive(Clone, Debug, PartialEq)]
pub struct Period {
    /// ISO week of the due date, e.g. `2026-W48`.
    pub name: String,
    /// Unix seconds when it fell due.
    pub due_at: f64,
}

impl WeeklySchedule {
    /// The latest period due at or before `now` (Unix seconds).
    pub fn current_period(&self, now: f64) -> Period {
        let tz = self.timezone;
        let local_now = chrono::DateTime::from_timestamp(now as i64, 0)
            .unwrap_or_default()
            .with_timezone(&tz);
        let today = local_now.date_naive();
        let back = (today.weekday().num_days_from_monday() + 7 - self.weekday.num_days_from_monday()) % 7;
        let mut date = today - Duration::days(i64::from(back));
        loop {
            let due = self.due_on(date);
            if due <= now {
                let week = date.iso_week();
                return Period {
                    name: format!("{}-W{:02}", week.year(), week.week()),
                    due_at: due,
                };
            }
            date -= Duration::days(7);
        }
    }

    /// Unix seconds of the due time on local `date` (a skipped local time, in a DST gap, is
    /// taken an hour later; a repeated one at its first occurrence).
    fn due_on(&self, date: chrono::NaiveDate) -> f64 {
        let local = date.and_time(self.time);
        let resolved = self.timezone.from_local_datetime(&local).earliest().or_else(|| {
            self.timezone
                .from_local_datetime(&(local + Duration::hours(1)))
                .earliest()
        });
        resolved.map_or(local.and_utc().timestamp() as f64, |t| t.timestamp() as f64)
    }

    /// The period after `period`.
    pub fn next_due_after(&self, period: &Period) -> f64 {
        self.current_period(period.due_at + 8.0 * 86_400.0).due_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveTime, Weekday};

    fn monday_8am(tz: chrono_tz::Tz) -> WeeklySchedule {
        WeeklySchedule {
            weekday: Weekday::Mon,
            time: NaiveTime::from_hms_opt(8, 0, 0).expect("time"),
            timezone: tz,
        }
    }

    fn at(text: &str) -> f64 {
        chrono::DateTime::parse_from_rfc3339(text).expect("time").timestamp() as f64
    }

    #[test]
    fn the_period_is_the_last_due_time_at_or_before_now() {
        let schedule = monday_8am(chrono_tz::Europe::Paris);
        // Thursday 26 November 2026: the last Monday 08:00 Paris (07:00 UTC) was the 23rd.
        let period = schedule.current_period(at("2026-11-26T10:00:00Z"));
        assert_eq!(period.name, "2026-W48");
        assert_eq!(period.due_at, at("2026-11-23T07:00:00Z"));
        // Monday 30 November, a minute before and after 08:00 Paris.
        assert_eq!(schedule.current_period(at("2026-11-30T06:59:00Z")).name, "2026-W48");
        assert_eq!(schedule.current_period(at("2026-11-30T07:00:00Z")).name, "2026-W49");
        assert_eq!(schedule.next_due_after(&period), at("2026-11-30T07:00:00Z"));
    }

    #[test]
    fn summer_time_moves_the_utc_due_time_not_the_local_one() {
        let schedule = monday_8am(chrono_tz::Europe::Paris);
        let period = schedule.current_period(at("2026-07-08T12:00:00Z"));
        assert_eq!(period.due_at, at("2026-07-06T06:00:00Z"));
        assert_eq!(period.name, "2026-W28");
    }
}
