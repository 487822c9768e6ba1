//! From a forecast to a decision: runway, the date to order by, how many units to add or
//! remove, what it costs, and why.
//!
//! Pure arithmetic on a forecast summary, its exhaustion dates and the model's `[scaling]`;
//! no IO. Every sentence of a justification quotes a number that is also a field of the
//! [`Recommendation`], so a reader (or a test) can check each claim against the data.

pub mod exceeded;
pub mod exhaustion;
pub mod sizing;

use crate::forecast::ForecastSummary;
use crate::format;
use crate::model::Direction;
use crate::model::Scaling;
use crate::recommend::exhaustion::Exhaustion;

/// Seconds in a day.
const DAY: f64 = 86_400.0;
/// An order-by date within this many seconds of now is critical: it falls before the next
/// weekly report.
pub const CRITICAL_WINDOW_SECS: f64 = 7.0 * DAY;
/// An order-by date within this many seconds is a warning.
pub const WARNING_WINDOW_SECS: f64 = 30.0 * DAY;

/// How soon someone must act.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Urgency {
    /// No crossing soon, or the order-by date is more than 30 days away.
    Ok,
    /// The order-by date is within 30 days.
    Warning,
    /// The order-by date has passed or falls within 7 days, or the limit is already exceeded.
    Critical,
}

impl Urgency {
    /// The stable name used in JSON and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Urgency::Ok => "ok",
            Urgency::Warning => "warning",
            Urgency::Critical => "critical",
        }
    }
}

/// What one entity needs, in units.
#[derive(Clone, Debug, PartialEq)]
pub struct Units {
    /// Units the current capacity amounts to (may be fractional: a 450 GB disk in 100 GB steps).
    pub current: f64,
    /// Whole units needed to keep the pessimistic peak under the target utilisation.
    pub needed: u32,
    /// `needed - round(current)`: positive to add, negative to remove.
    pub change: i64,
    pub unit_name: String,
    pub unit_size: f64,
}

/// What capacity costs per month.
#[derive(Clone, Debug, PartialEq)]
pub struct Cost {
    pub currency: String,
    /// The current units' monthly cost.
    pub monthly_current: f64,
    /// The monthly cost once the recommendation is applied.
    pub monthly_recommended: f64,
    /// The next 12 calendar months: the units each month's pessimistic peak needs, and their
    /// cost. Past the forecast horizon the peak follows the fitted trend.
    pub projection: Vec<MonthCost>,
}

/// One month of a cost projection.
#[derive(Clone, Debug, PartialEq)]
pub struct MonthCost {
    /// `YYYY-MM`.
    pub month: String,
    pub units: u32,
    pub cost: f64,
    /// Where the month's peak comes from.
    pub basis: MonthBasis,
}

/// How a month of the projection was sized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MonthBasis {
    /// The forecast covers the whole month: its exact pessimistic peak in the month.
    Forecast,
    /// The month reaches past the forecast horizon: the horizon's pessimistic peak moved along
    /// the fitted trend (never below what the forecast shows for the part it covers).
    Trend,
    /// There is no forecast (too little history): the value now.
    Current,
}

impl MonthBasis {
    /// The stable name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            MonthBasis::Forecast => "forecast",
            MonthBasis::Trend => "trend",
            MonthBasis::Current => "current",
        }
    }
}

/// The recommendation for one entity.
#[derive(Clone, Debug, PartialEq)]
pub struct Recommendation {
    pub urgency: Urgency,
    /// Days until the expected path crosses the threshold (0 when already past it); `None`
    /// when it does not cross within the horizon.
    pub runway_days: Option<f64>,
    /// Days until the pessimistic 95 % bound crosses.
    pub earliest_runway_days: Option<f64>,
    /// Unix seconds by which to order capacity: the earliest crossing minus the lead time.
    pub order_by: Option<f64>,
    pub lead_time_days: f64,
    /// Unix seconds of the end of the forecast horizon.
    pub horizon_end: f64,
    /// Highest expected and pessimistic (95 %) usage over the horizon, in the model's unit.
    pub peak_expected: f64,
    pub peak_pessimistic: f64,
    /// Capacity that keeps the pessimistic peak under the target utilisation.
    pub capacity_needed: Option<f64>,
    pub target_utilization: f64,
    pub units: Option<Units>,
    pub cost: Option<Cost>,
    /// Plain sentences, each backed by a field above, by the forecast diagnostics, or by the
    /// entity's `driver` fit.
    pub justification: Vec<String>,
    /// What limits confidence in the above.
    pub caveats: Vec<String>,
}

/// Everything a recommendation is computed from.
#[derive(Clone, Copy, Debug)]
pub struct Situation<'a> {
    pub now: f64,
    pub direction: Direction,
    /// The model's unit, for sentences.
    pub unit: &'a str,
    pub capacity: Option<f64>,
    pub threshold: Option<f64>,
    pub forecast: &'a ForecastSummary,
    /// The forecast's extremes at every step (see [`sizing::peaks`]); `None` when usage cannot
    /// be known (a "below" model without a capacity).
    pub peaks: Option<&'a sizing::Peaks>,
    pub exhaustion: Option<Exhaustion>,
    pub scaling: Option<&'a Scaling>,
    /// The fit to the model's driver, and whether the forecast came through it.
    pub driver: Option<&'a crate::scenario::driver::DriverFit>,
    pub driver_used: bool,
}

/// What a `peak` of usage needs: the capacity (the peak at the target utilisation, plus each
/// needed unit's own overhead) and, with `[scaling]` and a known capacity, the units against
/// today's. `None` for a peak that cannot be known. The one sizing rule of every
/// recommendation, forecast or not.
pub(crate) fn size(scaling: Option<&Scaling>, capacity: Option<f64>, peak: f64) -> (Option<f64>, Option<Units>) {
    if !peak.is_finite() {
        return (None, None);
    }
    let target_utilization = scaling.map_or(1.0, |s| s.target_utilization);
    let carried = peak.max(0.0) / target_utilization;
    let needed = match scaling {
        Some(s) if s.overhead > 0.0 => carried + s.overhead * f64::from(s.units_for(peak)),
        _ => carried,
    };
    let units = match (scaling, capacity) {
        (Some(s), Some(c)) => {
            let current = c / s.unit_size;
            let needed_units = s.units_for(peak);
            Some(Units {
                current,
                needed: needed_units,
                change: i64::from(needed_units) - current.round() as i64,
                unit_name: s.unit_name.clone(),
                unit_size: s.unit_size,
            })
        }
        _ => None,
    };
    (Some(needed), units)
}

/// Computes the recommendation for one entity.
pub fn recommend(situation: &Situation<'_>) -> Recommendation {
    let Situation {
        now,
        direction,
        unit,
        capacity,
        threshold,
        forecast,
        peaks,
        exhaustion,
        scaling,
        driver,
        driver_used,
    } = *situation;
    let diagnostics = &forecast.diagnostics;
    let lead_time_days = scaling.map_or(0.0, |s| s.lead_time.as_secs_f64() / DAY);
    let target_utilization = scaling.map_or(1.0, |s| s.target_utilization);
    let days_until = |t: f64| ((t - now) / DAY).max(0.0);

    // Sizing reads the forecast's extremes at every step (never a thinned path, which misses
    // any peak shorter than its stride).
    let peak_expected = peaks.map_or(f64::NEG_INFINITY, |p| p.expected);
    let peak_pessimistic = peaks.map_or(f64::NEG_INFINITY, |p| p.pessimistic).max(peak_expected);
    let trend_usage_per_day = match direction {
        Direction::Above => diagnostics.trend_per_day,
        Direction::Below => -diagnostics.trend_per_day,
    };

    let runway_days = exhaustion.and_then(|x| x.likely).map(days_until);
    let earliest_runway_days = exhaustion.and_then(|x| x.earliest).map(days_until);
    let order_by = exhaustion.and_then(|x| x.earliest).map(|t| t - lead_time_days * DAY);
    let exceeded = exhaustion.is_some_and(|x| x.exceeded_now);
    let urgency = match order_by {
        _ if exceeded => Urgency::Critical,
        Some(t) if t <= now + CRITICAL_WINDOW_SECS => Urgency::Critical,
        Some(t) if t <= now + WARNING_WINDOW_SECS => Urgency::Warning,
        _ => Urgency::Ok,
    };

    let (capacity_needed, units) = size(scaling, capacity, peak_pessimistic);
    let cost = match (scaling, &units) {
        (Some(s), Some(u)) => Some(Cost {
            currency: s.currency.clone(),
            monthly_current: u.current.round() * s.unit_cost,
            monthly_recommended: f64::from(u.needed) * s.unit_cost,
            projection: sizing::project_costs(
                now,
                forecast.horizon_end,
                s,
                peaks,
                peak_pessimistic,
                trend_usage_per_day,
            ),
        }),
        _ => None,
    };

    let mut justification = Vec::new();
    let rate = format::number(trend_usage_per_day.abs());
    let growth = if trend_usage_per_day > 0.0 {
        "grows"
    } else if trend_usage_per_day < 0.0 {
        "shrinks"
    } else {
        "holds"
    };
    let since = diagnostics
        .regime_start
        .map_or(String::new(), |t| format!(" since a change on {}", format::date(t)));
    justification.push(format!("Usage {growth} {rate} {unit} per day{since} (trend_per_day)."));
    if !diagnostics.periods_secs.is_empty() {
        let cycles: Vec<&str> = diagnostics.periods_secs.iter().map(|p| period_name(*p)).collect();
        justification.push(format!(
            "It follows a {} cycle of {} {unit} peak to trough (seasonal_amplitude).",
            cycles.join(" and "),
            format::number(diagnostics.seasonal_amplitude)
        ));
    }
    match (exhaustion, threshold) {
        (Some(x), Some(limit)) if x.exceeded_now => justification.push(format!(
            "The last value is already past the threshold of {} {unit}.",
            format::number(limit)
        )),
        (Some(Exhaustion { likely: Some(likely), earliest: Some(earliest), .. }), Some(limit)) => {
            justification.push(format!(
                "The expected path crosses the threshold of {} {unit} on {} ({:.1} days, runway_days); the pessimistic 95 % bound on {} ({:.1} days, earliest_runway_days).",
                format::number(limit),
                format::date(likely),
                days_until(likely),
                format::date(earliest),
                days_until(earliest)
            ));
        }
        (Some(Exhaustion { likely: None, earliest: Some(earliest), .. }), Some(limit)) => justification.push(format!(
            "The expected path stays under the threshold of {} {unit} through the horizon, but the pessimistic 95 % bound crosses on {} ({:.1} days, earliest_runway_days).",
            format::number(limit),
            format::date(earliest),
            days_until(earliest)
        )),
        (_, Some(limit)) => justification.push(format!(
            "Neither the expected path nor the pessimistic 95 % bound crosses the threshold of {} {unit} before {} (horizon_end).",
            format::number(limit),
            format::date(forecast.horizon_end)
        )),
        (_, None) => {}
    }
    if let Some(t) = order_by {
        let passed = if t <= now { ", which has passed" } else { "" };
        justification.push(format!(
            "With a lead time of {lead_time_days:.0} days (lead_time_days), capacity must be ordered by {}{passed} (order_by): {}.",
            format::date(t),
            urgency.name()
        ));
    }
    if let (Some(u), Some(needed)) = (&units, capacity_needed) {
        let action = match u.change {
            c if c > 0 => format!("add {c} {}", plural(&u.unit_name, c)),
            c if c < 0 => format!("remove {} {}", -c, plural(&u.unit_name, -c)),
            _ => "keep the current units".to_string(),
        };
        let overhead = scaling.filter(|s| s.overhead > 0.0).map_or(String::new(), |s| {
            format!(
                " with {} {unit} of each {} spent on itself (overhead)",
                format::number(s.overhead),
                u.unit_name
            )
        });
        let over = scaling
            .and_then(|s| s.sizing_horizon)
            .map_or(String::new(), |h| format!(" over the next {h} (sizing_horizon)"));
        justification.push(format!(
            "Keeping the pessimistic peak of {} {unit}{over} (peak_pessimistic) under {:.0} % of capacity (target_utilization){overhead} needs {} {unit} (capacity_needed): {} {} instead of {:.1} (units), so {action}.",
            format::number(peak_pessimistic),
            target_utilization * 100.0,
            format::number(needed),
            u.needed,
            plural(&u.unit_name, i64::from(u.needed)),
            u.current,
        ));
    }
    if let Some(c) = &cost {
        justification.push(format!(
            "Monthly cost: {} {} now, {} {} as recommended (cost).",
            format::money(c.monthly_current),
            c.currency,
            format::money(c.monthly_recommended),
            c.currency
        ));
        if let Some(first) = c.projection.iter().find(|m| m.basis == MonthBasis::Trend) {
            justification.push(format!(
                "From {} on, months lie past the forecast horizon ({}, horizon_end): their pessimistic peak is the horizon's, moved by the trend of {} {unit} per day (cost.projection).",
                first.month,
                format::date(forecast.horizon_end),
                format::number(trend_usage_per_day),
            ));
        }
    }
    let history_days = diagnostics.history_points as f64 * forecast.step / DAY;
    let mase = diagnostics
        .backtest_mase
        .map_or("n/a".to_string(), |m| format!("{m:.2}"));
    justification.push(format!(
        "Forecast by {} ({:?} seasonality) from {:.1} days of history; its backtest error is {mase} MASE (backtest_mase).",
        diagnostics.method.name(),
        diagnostics.seasonal_mode,
        history_days
    ));

    if let (Some(fit), true) = (driver, driver_used) {
        justification.push(format!(
            "It follows {}: {unit} = {} + {} × {} (R² {:.2} over {} points, driver); the forecast of {} is carried through.",
            fit.name,
            format::number(fit.intercept),
            format::number(fit.slope),
            fit.name,
            fit.r_squared,
            fit.points,
            fit.name
        ));
    }
    let mut caveats = Vec::new();
    if let (Some(fit), false) = (driver, driver_used) {
        caveats.push(format!(
            "{} explains only R² {:.2} of this resource (at least {:.1} is needed): it was forecast on its own, and scenarios on {} do not move it.",
            fit.name,
            fit.r_squared,
            crate::scenario::driver::MIN_R_SQUARED,
            fit.name
        ));
    }
    if history_days < 14.0 {
        caveats.push(format!(
            "Only {history_days:.1} days of history: weekly cycles cannot be seen yet."
        ));
    }
    let interpolated = 1.0 - diagnostics.observed_points as f64 / diagnostics.history_points.max(1) as f64;
    if interpolated > 0.1 {
        caveats.push(format!(
            "{:.0} % of the history was missing and interpolated.",
            interpolated * 100.0
        ));
    }
    if diagnostics.backtest_mase.is_some_and(|m| m > 1.0) {
        caveats.push(format!("In the backtest this series was forecast less accurately than by repeating the last day (MASE {mase}): treat the dates as rough."));
    }
    if let Some(start) = diagnostics.regime_start {
        let regime_days = (forecast.last_timestamp - start) / DAY;
        if regime_days < 3.0 {
            caveats.push(format!(
                "The level changed {regime_days:.1} days ago: the trend rests on little data since."
            ));
        }
    }
    if runway_days.is_none()
        && earliest_runway_days.is_none()
        && scaling.is_some()
        && units.as_ref().is_some_and(|u| u.change < 0)
    {
        caveats.push(
            "Removing capacity assumes the pessimistic forecast holds through the horizon; re-check before each step."
                .into(),
        );
    }

    Recommendation {
        urgency,
        runway_days,
        earliest_runway_days,
        order_by,
        lead_time_days,
        horizon_end: forecast.horizon_end,
        peak_expected,
        peak_pessimistic,
        capacity_needed,
        target_utilization,
        units,
        cost,
        justification,
        caveats,
    }
}

fn period_name(seconds: f64) -> &'static str {
    if (seconds - DAY).abs() < 1.0 {
        "daily"
    } else if (seconds - 7.0 * DAY).abs() < 1.0 {
        "weekly"
    } else {
        "regular"
    }
}

/// `name` for `count` of them ("node", "nodes").
pub(crate) fn plural(name: &str, count: i64) -> String {
    if count == 1 || name.ends_with('s') {
        name.to_string()
    } else {
        format!("{name}s")
    }
}

#[cfg(test)]
mod tests;
