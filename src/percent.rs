//! Percentages written the way people write them: `"90%"`, `"-2.5 %"`.
//!
//! Thresholds, target utilisations and scenario growth rates are all percentages in config
//! and model files; one parser keeps them reading the same way. The value is kept as a
//! fraction (`"90%"` is 0.9), which is what the maths works in.

use std::fmt;
use std::str::FromStr;

/// A percentage, held as a fraction of one (may be negative or above one).
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Percent(f64);

impl Percent {
    /// The percentage as a fraction of one (`"90%"` is 0.9).
    pub fn fraction(self) -> f64 {
        self.0
    }
}

/// Why a text is not a percentage.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a percentage such as \"90%\"")]
pub struct PercentError {
    text: String,
}

impl FromStr for Percent {
    type Err = PercentError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || PercentError { text: text.to_string() };
        let number = text.trim().strip_suffix('%').ok_or_else(error)?.trim();
        let value: f64 = number.parse().map_err(|_| error())?;
        if !value.is_finite() {
            return Err(error());
        }
        Ok(Percent(value / 100.0))
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0 * 100.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_parse_to_fractions() {
        assert_eq!("90%".parse::<Percent>().map(Percent::fraction), Ok(0.9));
        assert_eq!(" -2.5 % ".parse::<Percent>().map(Percent::fraction), Ok(-0.025));
        assert!("90".parse::<Percent>().is_err());
        assert!("lots%".parse::<Percent>().is_err());
        assert!("inf%".parse::<Percent>().is_err());
        assert_eq!(Percent(0.85).to_string(), "85%");
    }
}
