//! When each model is planned next: its own interval (`interval` in the model file, else
//! `schedule.interval`) plus a little jitter, so that models with the same interval do not all
//! query the source in the same second; sooner, with backoff, after the source was down.
//!
//! Runs of one model never overlap: the daemon plans in one loop, and a model is due again
//! only after its previous run finished. A cycle that takes longer than the shortest interval
//! among its models is an overrun: logged and counted, and the next run starts when due
//! rather than being doubled up.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use crate::model::CapacityModel;

/// Jitter added to each interval, as a share of it (0 to 10 %).
const JITTER_SHARE: f64 = 0.10;

/// Models due within this many seconds of the first one are planned in the same cycle, so that
/// jitter spreads load without splitting every cycle in two.
const BATCH_SECS: f64 = 2.0;

/// Next due time per model (Unix seconds, wall clock).
#[derive(Debug, Default)]
pub struct Timing {
    next_due: HashMap<String, f64>,
    rounds: u64,
}

impl Timing {
    /// The models due at `now` (or within a couple of seconds of it, when one is due), in
    /// configuration order; all of them the first time.
    pub fn due<'m>(&self, models: &'m [CapacityModel], now: f64) -> Vec<&'m CapacityModel> {
        let is_due = |m: &CapacityModel, at: f64| self.next_due.get(m.model_name()).is_none_or(|due| *due <= at);
        if !models.iter().any(|m| is_due(m, now)) {
            return Vec::new();
        }
        models.iter().filter(|m| is_due(m, now + BATCH_SECS)).collect()
    }

    /// Records that `model` ran at `started`: next due one interval (plus jitter) later.
    pub fn ran(&mut self, model: &CapacityModel, default_interval: Duration, started: f64) {
        let interval = interval_of(model, default_interval);
        self.rounds += 1;
        let next = started + interval * (1.0 + jitter(model.model_name(), self.rounds));
        self.next_due.insert(model.model_name().to_string(), next);
    }

    /// Records that `model` could not reach its source: due again after `retry`.
    pub fn retry(&mut self, model: &CapacityModel, retry: Duration, now: f64) {
        self.next_due
            .insert(model.model_name().to_string(), now + retry.as_secs_f64());
    }

    /// When the next model falls due (`None` with no model).
    pub fn next(&self, models: &[CapacityModel]) -> Option<f64> {
        models
            .iter()
            .map(|m| self.next_due.get(m.model_name()).copied().unwrap_or(f64::NEG_INFINITY))
            .min_by(f64::total_cmp)
    }

    /// Forgets every due time: after a reload, everything is planned at once.
    pub fn reset(&mut self) {
        self.next_due.clear();
    }
}

/// The model's interval in seconds.
pub fn interval_of(model: &CapacityModel, default_interval: Duration) -> f64 {
    model
        .interval
        .map_or(default_interval.as_secs_f64(), |i| i.as_secs_f64())
}

/// A stable pseudo-random share in [0, JITTER_SHARE) for `name` in `round`.
fn jitter(name: &str, round: u64) -> f64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (name, round).hash(&mut hasher);
    (hasher.finish() % 10_000) as f64 / 10_000.0 * JITTER_SHARE
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duration::PromDuration;

    fn model(name: &str, interval: Option<u64>) -> CapacityModel {
        let text = format!("name = \"{name}\"\nusage = \"x\"\nthreshold = 1\n");
        let mut model = crate::config::models::load_texts(&[("m.toml", text.as_str())])
            .expect("model")
            .remove(0);
        model.interval = interval.map(PromDuration::from_secs);
        model
    }

    #[test]
    fn each_model_runs_on_its_own_interval_with_a_little_jitter() {
        let models = [model("fast", Some(60)), model("slow", None)];
        let default = Duration::from_secs(900);
        let mut timing = Timing::default();
        assert_eq!(timing.due(&models, 0.0).len(), 2, "everything is due at first");
        for m in &models {
            timing.ran(m, default, 0.0);
        }
        assert!(timing.due(&models, 59.0).is_empty());
        let fast_next = timing.next(&models).expect("next");
        assert!((60.0..66.0).contains(&fast_next), "{fast_next}");
        let due: Vec<&str> = timing.due(&models, 70.0).iter().map(|m| m.name.as_str()).collect();
        assert_eq!(due, ["fast"]);
        let due_later: Vec<&str> = timing.due(&models, 1000.0).iter().map(|m| m.name.as_str()).collect();
        assert_eq!(due_later, ["fast", "slow"]);
        timing.retry(&models[1], Duration::from_secs(5), 100.0);
        assert_eq!(
            timing.next(&models),
            Some(105.0).filter(|_| fast_next > 105.0).or(Some(fast_next))
        );
        timing.reset();
        assert_eq!(timing.due(&models, 0.0).len(), 2);
    }
}
