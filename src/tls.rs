//! One TLS crypto provider for the whole process: rustls with ring.
//!
//! reqwest is built with `rustls-no-provider` so that aws-lc-rs (and its C build) stays out of
//! the dependency tree; rustls then needs a process-wide provider installed before the first
//! client is built, or it panics.

/// Installs ring as the process-wide rustls provider; harmless when already installed.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
