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

/// A `Retry-After` header's wait: delay-seconds (`120`) or an HTTP date
/// (`Wed, 21 Oct 2026 07:28:00 GMT`, counted from `now`, Unix seconds). A date in the past is
/// no wait; anything else unreadable is ignored.
pub fn retry_after(value: &str, now: f64) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?.timestamp() as f64;
    Some(Duration::from_secs_f64((at - now).max(0.0)))
}

/// The redirect policy of every client: at most 5 redirects, and only within the origin
/// (scheme, host and port) of the first request. The headers set for a source or a receiver
/// (a tenant, an API key, a signature) must never reach another host that answers a 3xx.
pub fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let Some(first) = attempt.previous().first() else {
            return attempt.follow();
        };
        if attempt.previous().len() > 5 {
            return attempt.error("more than 5 redirects");
        }
        if attempt.url().origin() == first.origin() {
            attempt.follow()
        } else {
            let to = attempt.url().origin().ascii_serialization();
            attempt.error(format!(
                "redirected to another origin ({to}); redirects are followed only within the configured URL's scheme, host and port, so its headers never reach another host: configure the final URL"
            ))
        }
    })
}

/// `url` without its query string and fragment, for logs and errors: a query may carry a
/// token (`?api_key=`).
pub fn url_for_logs(url: &reqwest::Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    let _ = shown.set_password(None);
    let _ = shown.set_username("");
    shown.to_string()
}

/// A listen address from the command line: `IP:port`, with what to write instead of a host
/// name or a bare port.
pub fn parse_listen(text: &str) -> Result<std::net::SocketAddr, String> {
    text.trim().parse().map_err(|_| {
        format!(
            "{text:?} is not an IP address and port; write 127.0.0.1:9860 (this machine only), 0.0.0.0:9860 (every interface) or [::1]:9860 (a host name is not accepted)"
        )
    })
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

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(retry_after(" 7 ", 0.0), Some(Duration::from_secs(7)));
        // 2026-10-21T07:28:00Z, asked 90 s before.
        let at = 1_792_567_680.0;
        assert_eq!(
            retry_after("Wed, 21 Oct 2026 07:28:00 GMT", at - 90.0),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            retry_after("Wed, 21 Oct 2026 07:28:00 GMT", at + 5.0),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon", 0.0), None);
        assert_eq!(retry_after("-3", 0.0), None);
    }
}
