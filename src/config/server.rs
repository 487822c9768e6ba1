//! `[server]`: where Headroom listens, the API token, and how many connections it holds for
//! how long.
//!
//! ```toml
//! [server]
//! listen = "127.0.0.1:9860"
//! bearer_token_file = "/run/secrets/headroom-api-token"
//! max_connections = 512
//! header_read_timeout = "10s"
//! reload_without_token = false
//! ```

use std::net::SocketAddr;
use std::path::Path;

use super::Secret;
use super::files::secret;
use super::problems::Table;
use crate::duration::PromDuration;

/// The HTTP listener.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// When set, every endpoint but `/healthz` and `/readyz` needs `Authorization: Bearer`.
    pub bearer_token: Option<Secret>,
    /// Connection limits and timeouts.
    pub limits: HttpLimits,
    /// Whether `POST /-/reload` works without an API token (off: SIGHUP, or the token).
    pub reload_without_token: bool,
}

/// How many connections the HTTP server holds, and how long it waits for them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HttpLimits {
    /// Open connections at most; at the limit the oldest idle one is closed for a new one.
    pub max_connections: usize,
    /// Time allowed for a whole request header, counted from the connection's opening or from
    /// its previous response: it closes silent, slow and idle keep-alive connections alike.
    pub header_read_timeout: std::time::Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_connections: 512,
            header_read_timeout: std::time::Duration::from_secs(10),
        }
    }
}

/// Reads `[server]`.
pub(super) fn server(mut table: Table<'_>, base_dir: &Path) -> ServerConfig {
    let listen = table
        .parsed("listen", "an address such as 127.0.0.1:9860")
        .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 9860)));
    let bearer_token = secret(&mut table, "bearer_token", "bearer_token_file", base_dir);
    if bearer_token.as_ref().is_some_and(|t| t.expose().len() < 16) {
        table.report("bearer_token", "the API token must be at least 16 characters");
    }
    let limits = http_limits(&mut table);
    let reload_without_token = table.optional("reload_without_token", "true or false").unwrap_or(false);
    table.finish();
    ServerConfig {
        listen,
        bearer_token,
        limits,
        reload_without_token,
    }
}

/// `[server]`'s connection limit and timeouts.
fn http_limits(table: &mut Table<'_>) -> HttpLimits {
    let defaults = HttpLimits::default();
    let max_connections = table
        .optional::<usize>("max_connections", "a whole number from 16 to 65536")
        .unwrap_or(defaults.max_connections);
    if !(16..=65_536).contains(&max_connections) {
        table.report("max_connections", "must be from 16 to 65536");
    }
    let header_read_timeout = table
        .parsed::<PromDuration>("header_read_timeout", "a duration such as 10s")
        .map_or(defaults.header_read_timeout, PromDuration::as_std);
    HttpLimits {
        max_connections,
        header_read_timeout,
    }
}
