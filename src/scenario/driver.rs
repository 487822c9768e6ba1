//! Resources that follow a business metric: CPU follows requests, memory follows sessions.
//!
//! For a model with a `[driver]`, Headroom fits resource ≈ intercept + slope × driver by least
//! squares over the history (the normal equations, with ndarray), forecasts the *driver*, and
//! maps that forecast through the fit. A scenario on the driver ("requests +50 %") then moves
//! every resource that follows it, and no other. The fit is reported (slope, R², residual
//! spread) so a justification can say how well the resource follows. Pure: no IO.

use ndarray::{Array1, Array2};

use crate::forecast::{Band, Forecast};

/// Below this share of explained variance the driver does not explain the resource well
/// enough to forecast through it; the resource is forecast on its own.
pub const MIN_R_SQUARED: f64 = 0.6;

/// A fitted relationship resource ≈ intercept + slope × driver.
#[derive(Clone, Debug, PartialEq)]
pub struct DriverFit {
    /// The driver's name from the model file.
    pub name: String,
    pub intercept: f64,
    pub slope: f64,
    /// Share of the resource's variance the driver explains.
    pub r_squared: f64,
    /// Standard deviation of the residuals, in the resource's unit.
    pub residual_std: f64,
    /// Pairs of samples the fit used.
    pub points: usize,
    /// Residual quantiles for the 80 % and 95 % bands (half-widths).
    pub residual_half_widths: [f64; 2],
}

/// Fits resource ≈ intercept + slope × driver over pairs where both are finite. `None` with
/// fewer than 24 pairs or a driver that never varies.
pub fn fit(name: &str, resource: &[f64], driver: &[f64]) -> Option<DriverFit> {
    let pairs: Vec<(f64, f64)> = driver
        .iter()
        .zip(resource)
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .map(|(x, y)| (*x, *y))
        .collect();
    if pairs.len() < 24 {
        return None;
    }
    let n = pairs.len();
    let design = Array2::from_shape_fn((n, 2), |(i, j)| if j == 0 { 1.0 } else { pairs[i].0 });
    let target = Array1::from_iter(pairs.iter().map(|p| p.1));
    // Normal equations (XᵀX) β = Xᵀy, solved in closed form for two parameters.
    let xtx = design.t().dot(&design);
    let xty = design.t().dot(&target);
    let determinant = xtx[[0, 0]] * xtx[[1, 1]] - xtx[[0, 1]] * xtx[[1, 0]];
    if determinant.abs() <= 1e-12 * xtx[[0, 0]] * xtx[[1, 1]].abs().max(1.0) {
        return None;
    }
    let intercept = (xtx[[1, 1]] * xty[0] - xtx[[0, 1]] * xty[1]) / determinant;
    let slope = (xtx[[0, 0]] * xty[1] - xtx[[1, 0]] * xty[0]) / determinant;
    let fitted = design.dot(&Array1::from(vec![intercept, slope]));
    let residuals = &target - &fitted;
    let mean = target.mean().unwrap_or(0.0);
    let total: f64 = target.iter().map(|y| (y - mean).powi(2)).sum();
    let unexplained: f64 = residuals.iter().map(|r| r * r).sum();
    let r_squared = if total > 0.0 { 1.0 - unexplained / total } else { 0.0 };
    let mut absolute: Vec<f64> = residuals.iter().map(|r| r.abs()).collect();
    let half_widths = [0.8, 0.95].map(|level| crate::forecast::backtest::quantile(&mut absolute, level));
    Some(DriverFit {
        name: name.to_string(),
        intercept,
        slope,
        r_squared,
        residual_std: (unexplained / n as f64).sqrt(),
        points: n,
        residual_half_widths: half_widths,
    })
}

/// The resource's forecast through the fit, from the driver's forecast: the expected path is
/// mapped, and each band is the driver's band mapped (in the right order for the slope's sign)
/// and widened by the fit's residuals at the same level.
pub fn map(fit: &DriverFit, driver: &Forecast, last_resource: f64) -> Forecast {
    let through = |x: f64| fit.intercept + fit.slope * x;
    let mut out = driver.clone();
    out.mean = driver.mean.iter().map(|&x| through(x)).collect();
    out.bands = driver
        .bands
        .iter()
        .map(|band| {
            let extra = if band.level >= 0.95 {
                fit.residual_half_widths[1]
            } else {
                fit.residual_half_widths[0]
            };
            let (low, high): (Vec<f64>, Vec<f64>) = band
                .lower
                .iter()
                .zip(&band.upper)
                .map(|(&lo, &hi)| {
                    let (a, b) = (through(lo), through(hi));
                    (a.min(b) - extra, a.max(b) + extra)
                })
                .unzip();
            Band {
                level: band.level,
                lower: low,
                upper: high,
            }
        })
        .collect();
    out.last_value = last_resource;
    out.diagnostics.trend_per_day = driver.diagnostics.trend_per_day * fit.slope;
    out.diagnostics.seasonal_amplitude = driver.diagnostics.seasonal_amplitude * fit.slope.abs();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::testing::linear;

    #[test]
    fn recovers_a_linear_relationship() {
        let driver: Vec<f64> = (0..500).map(|i| 1000.0 + 300.0 * (i as f64 * 0.1).sin()).collect();
        let resource: Vec<f64> = driver
            .iter()
            .enumerate()
            .map(|(i, x)| 0.5 + 0.002 * x + 0.01 * ((i * 7) % 5) as f64)
            .collect();
        let fit = fit("requests", &resource, &driver).expect("fit");
        assert!((fit.slope - 0.002).abs() < 1e-4, "slope {}", fit.slope);
        assert!((fit.intercept - 0.52).abs() < 0.05, "intercept {}", fit.intercept);
        assert!(fit.r_squared > 0.99);
    }

    #[test]
    fn an_unrelated_series_fits_badly_and_a_constant_driver_not_at_all() {
        let driver: Vec<f64> = (0..500).map(|i| (i as f64 * 0.1).sin()).collect();
        let resource: Vec<f64> = (0..500).map(|i| (i as f64 * 0.37).cos()).collect();
        assert!(fit("x", &resource, &driver).expect("fit").r_squared < MIN_R_SQUARED);
        assert!(fit("x", &resource, &[5.0; 500]).is_none());
        assert!(fit("x", &resource[..10], &driver[..10]).is_none());
    }

    #[test]
    fn mapping_moves_the_path_and_widens_the_bands() {
        let driver = linear(0.0, 60.0, 1000.0, 10.0, 50.0, 10);
        let fit = DriverFit {
            name: "requests".into(),
            intercept: 0.5,
            slope: 0.002,
            r_squared: 0.9,
            residual_std: 0.01,
            points: 100,
            residual_half_widths: [0.01, 0.02],
        };
        let mapped = map(&fit, &driver, 2.4);
        assert!((mapped.mean[0] - (0.5 + 0.002 * 1010.0)).abs() < 1e-12);
        let band = mapped.band(0.95).expect("band");
        assert!((band.upper[0] - (0.5 + 0.002 * 1060.0 + 0.02)).abs() < 1e-12);
        assert!((band.lower[0] - (0.5 + 0.002 * 960.0 - 0.02)).abs() < 1e-12);
        assert_eq!(mapped.last_value, 2.4);
    }
}
