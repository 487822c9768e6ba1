//! Synthetic series whose truth is known: the shapes operations series take (steps, glitches,
//! cleanups, plateaus, growing peaks, counters, local-time cycles). Each generator is
//! deterministic and returns the values on a regular grid; the truth is a plain function of
//! the grid index so that tests can compare forecasts with what would happen next.

#![allow(dead_code)]

use std::f64::consts::PI;

/// Deterministic noise in [-1, 1] for point `i` of stream `seed`.
pub fn uniform(i: usize, seed: u64) -> f64 {
    crate::forecast::testing::noise(i, seed)
}

/// Deterministic standard normal noise for point `i` of stream `seed` (Box-Muller).
pub fn gauss(i: usize, seed: u64) -> f64 {
    let u1 = ((uniform(i, seed) + 1.0) / 2.0).max(1e-12);
    let u2 = (uniform(i, seed ^ 0x5851_F42D_4C95_7F2D) + 1.0) / 2.0;
    (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
}

/// A hump peaking at `peak_hour` (0..24) of a day of `per_day` points: 0 at night, 1 at the
/// peak, a Gaussian of `width_hours`.
pub fn hump(i: usize, per_day: usize, peak_hour: f64, width_hours: f64) -> f64 {
    let hour = (i % per_day) as f64 * 24.0 / per_day as f64;
    let mut d = (hour - peak_hour).abs();
    d = d.min(24.0 - d);
    (-(d * d) / (2.0 * width_hours * width_hours)).exp()
}

/// A sine with its peak at `peak_hour` of a day of `per_day` points.
pub fn daily_sine(i: usize, per_day: usize, peak_hour: f64) -> f64 {
    let hour = (i % per_day) as f64 * 24.0 / per_day as f64;
    (2.0 * PI * (hour - peak_hour + 6.0) / 24.0).sin()
}
