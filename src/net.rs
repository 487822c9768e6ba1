//! Small helpers every network edge shares: the TLS provider, retry backoff, error text.
//!
//! reqwest is built with `rustls-no-provider` so that aws-lc-rs (and its C build) stays out of
//! the dependency tree; rustls then needs a process-wide provider installed before the first
//! client is built, or it panics. Sources and delivery both retry with the same exponential
//! backoff, and both report an error with its causes on one line.

use std::time::Duration;

/// Installs ring as the process-wide rustls provider; harmless when already installed.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// `first` doubled for each retry after the first (`attempt` is 1-based), capped at `max`.
pub fn exponential_backoff(first: Duration, attempt: u32, max: Duration) -> Duration {
    first.saturating_mul(1u32 << attempt.saturating_sub(1).min(20)).min(max)
}

/// A fraction in [0, 1) that differs from call to call, to spread retries of many clients
/// (not for anything that needs real randomness).
pub fn jitter_fraction() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    f64::from(nanos % 1000) / 1000.0
}

/// An error and its causes on one line ("connection refused" is usually three levels down).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let second = Duration::from_secs(1);
        assert_eq!(exponential_backoff(second, 1, Duration::from_secs(60)), second);
        assert_eq!(
            exponential_backoff(second, 4, Duration::from_secs(60)),
            Duration::from_secs(8)
        );
        assert_eq!(
            exponential_backoff(second, 40, Duration::from_secs(60)),
            Duration::from_secs(60)
        );
        assert!((0.0..1.0).contains(&jitter_fraction()));
    }
}
