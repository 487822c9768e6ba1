//! Local time: the clock in which daily and weekly seasons are fitted.
//!
//! People's load follows their local clock. A service busiest at 09:00 in Paris peaks at 08:00
//! UTC in winter and 07:00 UTC in summer; fitted on the UTC grid, its daily profile is a blur of
//! both for a week after each change and then an hour off. When the clock's offset changes
//! within the history or the horizon, the engine moves the series onto a grid of local
//! wall-clock time (a missing hour in spring is filled like any gap, the repeated hour in
//! autumn is averaged), forecasts there, and reads the forecast back at the UTC steps asked for.
//! A clock whose offset never changes over that span changes nothing: seasons are relative to
//! the grid, so a constant offset only renames the hours.

use chrono::{DateTime, Offset, TimeZone};

use super::grid::Grid;
use crate::series::Sample;

/// In which clock daily and weekly seasons are fitted. The default is UTC.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum LocalClock {
    /// Coordinated universal time: no daylight saving.
    #[default]
    Utc,
    /// An IANA time zone (`"Europe/Paris"`): the offset at each instant follows its rules,
    /// daylight saving included, in the history and in the horizon.
    Zone(chrono_tz::Tz),
    /// Offsets observed in the data, such as RFC 3339 timestamps carry: `(unix_seconds,
    /// offset_seconds)` in time order, each holding from its instant until the next. The first
    /// holds before it and the last one holds on into the future (the forecast assumes no
    /// further change).
    Observed(Vec<(f64, i32)>),
}

impl LocalClock {
    /// The clock of an IANA time zone name (`"Europe/Paris"`, `"UTC"`); `None` when the name is
    /// unknown.
    pub fn from_iana(name: &str) -> Option<LocalClock> {
        name.parse::<chrono_tz::Tz>().ok().map(LocalClock::Zone)
    }

    /// The clock of offsets observed at sample times, in any order: consecutive equal offsets
    /// are merged, and a series that only ever shows one offset gets a constant clock.
    pub fn observed(mut offsets: Vec<(f64, i32)>) -> LocalClock {
        offsets.retain(|(t, _)| t.is_finite());
        offsets.sort_by(|a, b| a.0.total_cmp(&b.0));
        offsets.dedup_by(|later, earlier| later.1 == earlier.1);
        match offsets.len() {
            0 => LocalClock::Utc,
            _ => LocalClock::Observed(offsets),
        }
    }

    /// Seconds to add to UTC to get local wall-clock time at Unix time `t`.
    pub fn offset_at(&self, t: f64) -> i32 {
        match self {
            LocalClock::Utc => 0,
            LocalClock::Zone(tz) => DateTime::from_timestamp(t.floor() as i64, 0).map_or(0, |utc| {
                tz.offset_from_utc_datetime(&utc.naive_utc()).fix().local_minus_utc()
            }),
            LocalClock::Observed(changes) => {
                let after = changes.partition_point(|(from, _)| *from <= t);
                changes[after.saturating_sub(1)].1
            }
        }
    }

    /// Whether the offset changes anywhere in `[from, to]`. Zones are sampled hourly (no zone
    /// changes its offset twice within an hour).
    pub fn changes_between(&self, from: f64, to: f64) -> bool {
        match self {
            LocalClock::Utc => false,
            LocalClock::Observed(changes) => changes.iter().skip(1).any(|(t, _)| *t > from && *t <= to),
            LocalClock::Zone(_) => {
                let first = self.offset_at(from);
                let mut t = from;
                while t < to {
                    t = (t + 3600.0).min(to);
                    if self.offset_at(t) != first {
                        return true;
                    }
                }
                false
            }
        }
    }

    /// Local wall-clock seconds (as if they were UTC) at Unix time `t`.
    pub fn local(&self, t: f64) -> f64 {
        t + f64::from(self.offset_at(t))
    }

    /// The Unix time of local wall-clock seconds `u` (the earlier one when `u` is repeated, the
    /// instant after the gap when `u` falls in one).
    pub fn utc(&self, u: f64) -> f64 {
        let guess = u - f64::from(self.offset_at(u));
        let earlier = u - f64::from(self.offset_at(guess));
        if self.local(earlier) == u { earlier } else { guess }
    }
}

/// A grid moved onto local wall-clock time: the engine forecasts on it, and
/// [`LocalGrid::back_to_utc`] reads that forecast at UTC steps.
pub struct LocalGrid {
    /// The series on the local clock (`start` is in local seconds), gaps filled.
    pub grid: Grid,
    /// Forecast steps the local forecast must cover so that every UTC step is inside it.
    pub horizon: usize,
}

impl LocalGrid {
    /// Moves a gap-filled UTC `grid` onto `clock`'s local time, for a forecast of `horizon` UTC
    /// steps.
    pub fn new(grid: &Grid, clock: &LocalClock, horizon: usize) -> Option<LocalGrid> {
        let samples: Vec<Sample> = grid
            .values
            .iter()
            .enumerate()
            .map(|(i, &value)| Sample {
                timestamp: clock.local(grid.timestamp(i)),
                value,
            })
            .collect();
        let mut local = Grid::from_samples(&samples, Some(grid.step))?;
        local.fill_gaps();
        let last_wanted = (1..=horizon)
            .map(|h| clock.local(grid.end() + h as f64 * grid.step))
            .fold(f64::NEG_INFINITY, f64::max);
        let needed = ((last_wanted - local.end()) / grid.step).ceil().max(1.0) as usize + 1;
        Some(LocalGrid {
            grid: local,
            horizon: needed,
        })
    }

    /// Reads a series forecast on the local grid (`local[k]` at local step `k + 1` past its
    /// end) at the `horizon` UTC steps after `utc_end`, interpolating between local steps.
    pub fn back_to_utc(&self, local: &[f64], clock: &LocalClock, utc_end: f64, step: f64, horizon: usize) -> Vec<f64> {
        let last = local.len().saturating_sub(1);
        (1..=horizon)
            .map(|h| {
                let u = clock.local(utc_end + h as f64 * step);
                let position = ((u - self.grid.end()) / step - 1.0).clamp(0.0, last as f64);
                let below = position.floor() as usize;
                let above = (below + 1).min(last);
                let w = position - below as f64;
                local[below] + w * (local[above] - local[below])
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: f64 = 3600.0;

    #[test]
    fn a_zone_follows_daylight_saving() {
        let paris = LocalClock::from_iana("Europe/Paris").expect("known zone");
        // 2026-03-29 01:00 UTC: 02:00 CET becomes 03:00 CEST.
        let change = 1_774_746_000.0;
        assert_eq!(paris.offset_at(change - 1.0), 3600);
        assert_eq!(paris.offset_at(change), 7200);
        assert!(paris.changes_between(change - 10.0 * HOUR, change + 10.0 * HOUR));
        assert!(!paris.changes_between(change + HOUR, change + 100.0 * HOUR));
        assert!(LocalClock::from_iana("Mars/Olympus").is_none());
        assert_eq!(paris.utc(paris.local(change + 5.0)), change + 5.0);
    }

    #[test]
    fn observed_offsets_hold_until_the_next_and_the_last_holds_on() {
        let clock = LocalClock::observed(vec![(300.0, -14_400), (0.0, -18_000), (600.0, -14_400)]);
        assert_eq!(clock, LocalClock::Observed(vec![(0.0, -18_000), (300.0, -14_400)]));
        assert_eq!(clock.offset_at(-1e9), -18_000);
        assert_eq!(clock.offset_at(299.0), -18_000);
        assert_eq!(clock.offset_at(1e12), -14_400);
        assert!(clock.changes_between(0.0, 300.0) && !clock.changes_between(300.0, 1e12));
        assert_eq!(
            LocalClock::observed(vec![(5.0, 0), (9.0, 0)]),
            LocalClock::Observed(vec![(5.0, 0)])
        );
    }

    #[test]
    fn a_series_moves_to_local_time_and_back() {
        // Hourly through the autumn change in New York (2026-11-01 06:00 UTC: 02:00 EDT becomes
        // 01:00 EST): the value is the local hour, so on the local grid it is a clean sawtooth.
        let clock = LocalClock::from_iana("America/New_York").expect("zone");
        let start = 1_793_419_200.0 - 48.0 * HOUR;
        let grid = Grid {
            start,
            step: HOUR,
            values: (0..96)
                .map(|i| {
                    let u = clock.local(start + i as f64 * HOUR);
                    ((u / HOUR).rem_euclid(24.0)).floor()
                })
                .collect(),
        };
        let local = LocalGrid::new(&grid, &clock, 24).expect("local grid");
        // One hour repeated: one local step fewer than UTC steps, and every value is its hour.
        assert_eq!(local.grid.values.len(), 95);
        for (k, v) in local.grid.values.iter().enumerate() {
            let hour = ((local.grid.timestamp(k) / HOUR).rem_euclid(24.0)).floor();
            assert_eq!(*v, hour, "local step {k}");
        }
        // A local forecast that continues the local hours reads back as the local hour of each
        // UTC step.
        let forecast: Vec<f64> = (1..=local.horizon)
            .map(|k| ((local.grid.end() + k as f64 * HOUR) / HOUR).rem_euclid(24.0).floor())
            .collect();
        let back = local.back_to_utc(&forecast, &clock, grid.end(), HOUR, 24);
        for (h, v) in back.iter().enumerate() {
            let utc = grid.end() + (h + 1) as f64 * HOUR;
            assert_eq!(*v, (clock.local(utc) / HOUR).rem_euclid(24.0).floor(), "step {h}");
        }
    }
}
