//! Growth scenarios: "traffic +30 % from the launch on 1 March", "3 % a week compounding",
//! "×1.8 on the sale day".
//!
//! A scenario transforms a baseline forecast: its expected path and both bands are moved as
//! the scenario says, in terms of *usage* (for a model whose series falls toward a floor, such
//! as available bytes, usage is capacity minus the series). Exhaustion and recommendations are
//! then computed on the transformed forecast with the same rules as the baseline. Pure: no IO.

pub mod driver;

use crate::forecast::Forecast;
use crate::model::Direction;
use crate::series::Labels;

/// A named set of changes.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub changes: Vec<Change>,
}

/// One change, and where it applies.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub kind: ChangeKind,
    /// Model names it applies to; empty means every model.
    pub models: Vec<String>,
    /// Entity labels it applies to (all must match); empty means every entity.
    pub labels: Vec<(String, String)>,
    /// Driver names it applies to (`[driver] name` in model files). A change with drivers
    /// moves the driver, and through it every resource that follows it, and nothing directly.
    pub drivers: Vec<String>,
}

/// When a change starts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Start {
    /// At a fixed time, Unix seconds (`from = "2027-03-01"`).
    At(f64),
    /// This many seconds after the evaluation time (`from = "now"`, `from = "+14d"`): a
    /// scenario that keeps its meaning as time passes, and moves with `once --at` and replay.
    AfterNow(f64),
}

impl Start {
    /// Unix seconds, for an evaluation at `now`.
    pub fn resolve(self, now: f64) -> f64 {
        match self {
            Start::At(t) => t,
            Start::AfterNow(offset) => now + offset,
        }
    }
}

/// What a change does to usage.
#[derive(Clone, Debug, PartialEq)]
pub enum ChangeKind {
    /// Compound growth of `rate` (0.03 = 3 %) every `per_secs`, from `from` (`None`: from the
    /// end of the history).
    Growth {
        rate: f64,
        per_secs: f64,
        from: Option<Start>,
    },
    /// From `from` on, usage changes by `effect` (a launch, a migration).
    Step { from: Start, effect: Effect },
    /// For `duration_secs` from `from`, usage changes by `effect` (a sale day, a campaign);
    /// with `every`, the same window repeats every `every` seconds (every Friday, every month
    /// end).
    Peak {
        from: Start,
        duration_secs: f64,
        effect: Effect,
        every: Option<f64>,
    },
}

/// How usage changes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Effect {
    /// Multiply usage by this factor.
    Multiply(f64),
    /// Add this much usage, in the model's unit.
    Add(f64),
}

/// Whether a change's `models` entry `selector` selects the model called `model`: its own
/// name, or, for a resource of a model with several (`pool.memory`), the model's name (all its
/// resources) or the resource's full name (that one).
pub fn selects_model(selector: &str, model: &str) -> bool {
    selector == model || model.split_once('.').is_some_and(|(group, _)| group == selector)
}

impl Change {
    /// Whether the change applies to `model` and an entity with `labels`.
    pub fn applies_to(&self, model: &str, labels: &Labels) -> bool {
        self.drivers.is_empty()
            && (self.models.is_empty() || self.models.iter().any(|m| selects_model(m, model)))
            && self.labels.iter().all(|(k, v)| labels.get(k) == Some(v.as_str()))
    }

    /// The (factor, addend) this change applies to usage at Unix time `t`, for an evaluation
    /// at `now` of a history that ends at `history_end` (where growth without a start date
    /// starts).
    fn at(&self, t: f64, now: f64, history_end: f64) -> (f64, f64) {
        let effect = |effect: Effect| match effect {
            Effect::Multiply(k) => (k, 0.0),
            Effect::Add(a) => (1.0, a),
        };
        match self.kind {
            ChangeKind::Growth { rate, per_secs, from } => {
                let start = from.map_or(history_end, |s| s.resolve(now));
                if t > start {
                    ((1.0 + rate).powf((t - start) / per_secs), 0.0)
                } else {
                    (1.0, 0.0)
                }
            }
            ChangeKind::Step { from, effect: e } if t >= from.resolve(now) => effect(e),
            ChangeKind::Peak {
                from,
                duration_secs,
                effect: e,
                every,
            } if t >= from.resolve(now) => {
                let from = from.resolve(now);
                let since = match every {
                    Some(period) if period > 0.0 => (t - from).rem_euclid(period),
                    _ => t - from,
                };
                if since < duration_secs { effect(e) } else { (1.0, 0.0) }
            }
            _ => (1.0, 0.0),
        }
    }
}

impl Scenario {
    /// The changes that apply to `model` and an entity with `labels`.
    pub fn changes_for<'a>(&'a self, model: &str, labels: &Labels) -> Vec<&'a Change> {
        self.changes.iter().filter(|c| c.applies_to(model, labels)).collect()
    }

    /// Whether one of the scenario's changes selects an entity with `labels` of `model`,
    /// directly or through the model's driver `driver`.
    pub fn reaches(&self, model: &str, driver: Option<&str>, labels: &Labels) -> bool {
        !self.changes_for(model, labels).is_empty()
            || driver.is_some_and(|d| !self.driver_changes_for(d, labels).is_empty())
    }

    /// The changes that move the driver called `driver` (for an entity with `labels`).
    pub fn driver_changes_for<'a>(&'a self, driver: &str, labels: &Labels) -> Vec<&'a Change> {
        self.changes
            .iter()
            .filter(|c| {
                c.drivers.iter().any(|d| d == driver) && c.labels.iter().all(|(k, v)| labels.get(k) == Some(v.as_str()))
            })
            .collect()
    }
}

/// The baseline `forecast` under `changes`. Multiplicative effects compose first, then
/// additive ones: usage' = usage × Π factors + Σ addends. Bands move with the expected path
/// (scaled around it by the factor, shifted by the addends), so a scenario keeps the
/// forecast's uncertainty in proportion. `now` is the evaluation time, from which starts such
/// as `+14d` count.
pub fn apply(
    forecast: &Forecast,
    changes: &[&Change],
    direction: Direction,
    capacity: Option<f64>,
    now: f64,
) -> Forecast {
    let mut out = forecast.clone();
    if changes.is_empty() {
        return out;
    }
    let view = UsageView::new(direction, capacity);
    for index in 0..out.mean.len() {
        let t = out.timestamp(index);
        let (factor, addend) = changes.iter().fold((1.0, 0.0), |(k, a), c| {
            let (ck, ca) = c.at(t, now, forecast.last_timestamp);
            (k * ck, a + ca)
        });
        if factor == 1.0 && addend == 0.0 {
            continue;
        }
        let transform = |v: f64| view.series_value(view.usage(v) * factor + addend);
        out.mean[index] = transform(forecast.mean[index]);
        for (band, original) in out.bands.iter_mut().zip(&forecast.bands) {
            band.lower[index] = transform(original.lower[index]);
            band.upper[index] = transform(original.upper[index]);
            if band.lower[index] > band.upper[index] {
                std::mem::swap(&mut band.lower[index], &mut band.upper[index]);
            }
        }
    }
    out
}

/// Between a model's series and usage: a "below" model's series is what remains of capacity.
#[derive(Clone, Copy, Debug)]
struct UsageView {
    remaining_of: Option<f64>,
}

impl UsageView {
    fn new(direction: Direction, capacity: Option<f64>) -> Self {
        UsageView {
            remaining_of: if direction == Direction::Below { capacity } else { None },
        }
    }

    fn usage(self, value: f64) -> f64 {
        self.remaining_of.map_or(value, |capacity| capacity - value)
    }

    fn series_value(self, usage: f64) -> f64 {
        self.remaining_of.map_or(usage, |capacity| capacity - usage)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::forecast::testing::linear;
    use crate::recommend::exhaustion::exhaustion;

    const NOW: f64 = 1_790_000_000.0;

    fn everywhere(kind: ChangeKind) -> Change {
        Change {
            kind,
            models: vec![],
            labels: vec![],
            drivers: vec![],
        }
    }

    #[test]
    fn thirty_percent_more_moves_the_date_by_the_expected_amount() {
        // Usage 100 growing 1 per hour; threshold 200: the baseline crosses in 100 h. With
        // 30 % more usage from now on, 1.3 (100 + h) = 200 gives h = 53.85 h.
        let baseline = linear(NOW, 3600.0, 100.0, 1.0, 0.0, 500);
        let plus_30 = everywhere(ChangeKind::Step {
            from: Start::At(NOW),
            effect: Effect::Multiply(1.3),
        });
        let changed = apply(&baseline, &[&plus_30], Direction::Above, None, NOW);
        let before = exhaustion(&baseline, 200.0, Direction::Above).likely.expect("crosses");
        let after = exhaustion(&changed, 200.0, Direction::Above).likely.expect("crosses");
        assert!((before - (NOW + 100.0 * 3600.0)).abs() < 1e-6);
        let expected = NOW + (200.0 / 1.3 - 100.0) * 3600.0;
        assert!(
            (after - expected).abs() < 1.0,
            "{} h, expected {} h",
            (after - NOW) / 3600.0,
            (expected - NOW) / 3600.0
        );
    }

    #[test]
    fn a_launch_adds_load_from_its_date_and_a_peak_only_on_its_day() {
        let baseline = linear(NOW, 3600.0, 100.0, 0.0, 10.0, 96);
        let launch = everywhere(ChangeKind::Step {
            from: Start::At(NOW + 24.0 * 3600.0),
            effect: Effect::Add(50.0),
        });
        let sale = everywhere(ChangeKind::Peak {
            from: Start::At(NOW + 48.0 * 3600.0),
            duration_secs: 24.0 * 3600.0,
            effect: Effect::Multiply(2.0),
            every: None,
        });
        let changed = apply(&baseline, &[&launch, &sale], Direction::Above, None, NOW);
        assert_eq!(changed.mean[10], 100.0); // 11 h: before the launch
        assert_eq!(changed.mean[30], 150.0); // 31 h: launched
        assert_eq!(changed.mean[50], 250.0); // 51 h: sale day, 100 x 2 + 50
        assert_eq!(changed.mean[80], 150.0); // 81 h: after the sale
        // Bands keep their width on an additive change, and scale on a multiplicative one.
        assert_eq!(changed.bands[1].upper[30] - changed.mean[30], 10.0);
        assert_eq!(changed.bands[1].upper[50] - changed.mean[50], 20.0);
    }

    /// A change that starts "+2d" starts two days after each evaluation: evaluated a day
    /// later, it starts a day later (so a shipped scenario never goes stale, and `once --at`
    /// and replay move it).
    #[test]
    fn a_start_relative_to_now_moves_with_the_evaluation() {
        let baseline = linear(NOW, 3600.0, 100.0, 0.0, 0.0, 24 * 5);
        let launch = everywhere(ChangeKind::Step {
            from: Start::AfterNow(2.0 * 86_400.0),
            effect: Effect::Add(50.0),
        });
        let first = |changed: &Forecast| {
            changed
                .mean
                .iter()
                .position(|&v| v > 100.0)
                .map(|i| changed.timestamp(i))
        };
        let today = apply(&baseline, &[&launch], Direction::Above, None, NOW);
        let tomorrow = apply(&baseline, &[&launch], Direction::Above, None, NOW + 86_400.0);
        assert_eq!(first(&today), Some(NOW + 2.0 * 86_400.0));
        assert_eq!(first(&tomorrow), Some(NOW + 3.0 * 86_400.0));
    }

    #[test]
    fn recurring_peaks_repeat() {
        // Every 24 h from hour 10, for 2 hours: x3.
        let baseline = linear(NOW, 3600.0, 10.0, 0.0, 0.0, 72);
        let daily = everywhere(ChangeKind::Peak {
            from: Start::At(NOW + 10.0 * 3600.0),
            duration_secs: 2.0 * 3600.0,
            effect: Effect::Multiply(3.0),
            every: Some(86_400.0),
        });
        let changed = apply(&baseline, &[&daily], Direction::Above, None, NOW);
        let boosted: Vec<usize> = (0..72).filter(|&i| changed.mean[i] > 10.0).map(|i| i + 1).collect();
        assert_eq!(boosted, vec![10, 11, 34, 35, 58, 59]);
    }

    #[test]
    fn below_models_change_usage_not_what_remains() {
        // 1000 GB disk with 400 GB available (600 used): 10 % more usage leaves 340 GB.
        let baseline = linear(NOW, 3600.0, 400.0, 0.0, 0.0, 10);
        let more = everywhere(ChangeKind::Step {
            from: Start::At(NOW),
            effect: Effect::Multiply(1.1),
        });
        let changed = apply(&baseline, &[&more], Direction::Below, Some(1000.0), NOW);
        assert!((changed.mean[0] - 340.0).abs() < 1e-9);
    }

    #[test]
    fn compound_growth_compounds() {
        let baseline = linear(NOW, 86_400.0, 100.0, 0.0, 0.0, 14);
        let weekly = everywhere(ChangeKind::Growth {
            rate: 0.1,
            per_secs: 7.0 * 86_400.0,
            from: None,
        });
        let changed = apply(&baseline, &[&weekly], Direction::Above, None, NOW);
        assert!((changed.mean[13] - 100.0 * 1.1f64.powi(2)).abs() < 1e-9); // day 14: two weeks
    }

    #[test]
    fn changes_apply_where_they_say() {
        let change = Change {
            kind: ChangeKind::Step {
                from: Start::At(0.0),
                effect: Effect::Add(1.0),
            },
            models: vec!["api".into()],
            labels: vec![("pool".into(), "eu-1".into())],
            drivers: vec![],
        };
        assert!(change.applies_to("api", &Labels::new([("pool", "eu-1"), ("az", "a")])));
        assert!(!change.applies_to("api", &Labels::new([("pool", "us-1")])));
        assert!(!change.applies_to("disk", &Labels::new([("pool", "eu-1")])));
    }

    proptest! {
        /// More growth never delays exhaustion (likely or earliest).
        #[test]
        fn more_growth_never_delays_exhaustion(slope in -1.0f64..3.0, width in 0.0f64..30.0, rate in 0.0f64..0.5, more in 0.0f64..0.5) {
            let baseline = linear(NOW, 3600.0, 100.0, slope, width, 24 * 30);
            let change = |r: f64| everywhere(ChangeKind::Growth { rate: r, per_secs: 7.0 * 86_400.0, from: Some(Start::At(NOW)) });
            let (slow, fast) = (change(rate), change(rate + more));
            let a = exhaustion(&apply(&baseline, &[&slow], Direction::Above, None, NOW), 300.0, Direction::Above);
            let b = exhaustion(&apply(&baseline, &[&fast], Direction::Above, None, NOW), 300.0, Direction::Above);
            if let Some(t) = a.likely { prop_assert!(b.likely.is_some_and(|u| u <= t + 1e-6)); }
            if let Some(t) = a.earliest { prop_assert!(b.earliest.is_some_and(|u| u <= t + 1e-6)); }
        }

        /// A scenario never makes the bands cross the expected path.
        #[test]
        fn bands_stay_around_the_path(k in 0.1f64..3.0, add in -50.0f64..50.0, width in 0.0f64..30.0) {
            let baseline = linear(NOW, 3600.0, 100.0, 0.5, width, 48);
            let a = everywhere(ChangeKind::Step { from: Start::At(NOW), effect: Effect::Multiply(k) });
            let b = everywhere(ChangeKind::Step { from: Start::At(NOW), effect: Effect::Add(add) });
            let changed = apply(&baseline, &[&a, &b], Direction::Above, None, NOW);
            for band in &changed.bands {
                for (i, m) in changed.mean.iter().enumerate() {
                    prop_assert!(band.lower[i] <= *m + 1e-9 && *m <= band.upper[i] + 1e-9);
                }
            }
        }
    }
}
