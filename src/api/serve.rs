//! The HTTP server loop: the router on hyper, with the limits a long-running daemon needs.
//!
//! `axum::serve` has no timeouts and no connection limit: silent connections are kept forever,
//! and about a thousand of them (the default open-files limit of a service) leave no file
//! descriptor for the scrape or the health check. Here a connection must send a whole request
//! header within `header_read_timeout` of its opening or of its previous response (hyper's
//! header timer, which restarts after each response: it closes silent, slow and idle
//! keep-alive connections alike; a request whose body is not read is closed after its
//! response). At `max_connections` the oldest idle connection is closed to make room for the
//! new one, so a flood of silent connections never keeps `/healthz` or `/metrics` out. A
//! connection with a request in flight (until its response body is sent) is never closed to
//! make room.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tower::ServiceExt;

use crate::config::server::HttpLimits;
use crate::telemetry::SelfMetrics;

/// How long a stopping server waits for responses in flight.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` until `stop` turns true, within `limits`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: HttpLimits,
    metrics: Arc<SelfMetrics>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let table = Arc::new(Connections::new());
    let mut next_id: u64 = 0;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stop| *stop) => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of file descriptors (EMFILE, ENFILE) or a connection reset before it was
                // accepted: free a descriptor if an idle connection holds one, and go on.
                let freed = table.close_oldest_idle();
                if freed {
                    metrics.record_connection_closed("limit");
                }
                tracing::warn!(%error, freed, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(if freed { 1 } else { 100 })).await;
                continue;
            }
        };
        if table.len() >= limits.max_connections {
            if table.close_oldest_idle() {
                metrics.record_connection_closed("limit");
            } else {
                // Every connection has a request in flight: refuse this one rather than
                // exceed the limit (its client sees the connection closed and retries).
                metrics.record_connection_closed("refused");
                tracing::warn!(
                    limit = limits.max_connections,
                    "connection limit reached with every connection busy; refusing one"
                );
                drop(stream);
                continue;
            }
        }
        next_id += 1;
        let connection = table.open(next_id);
        tokio::spawn(serve_connection(
            stream,
            router.clone(),
            limits,
            Arc::clone(&table),
            connection,
            (Arc::clone(&metrics), stop.clone()),
        ));
    }
    // Stopping: no new connections; the open ones finish what they are answering.
    table.close_all();
    let deadline = Instant::now() + STOP_GRACE;
    while table.len() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    router: Router,
    limits: HttpLimits,
    table: Arc<Connections>,
    connection: Arc<Connection>,
    (metrics, mut stop): (Arc<SelfMetrics>, tokio::sync::watch::Receiver<bool>),
) {
    let tracked = Arc::clone(&connection);
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let busy = Busy::start(Arc::clone(&tracked));
        let response = router.clone().oneshot(request.map(Body::new));
        async move {
            let response = match response.await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            Ok::<_, Infallible>(response.map(|body| TrackedBody { body, _busy: busy }))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let mut stopping = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(error) = result {
                    if error.is_timeout() {
                        metrics.record_connection_closed("header_timeout");
                    }
                    tracing::debug!(%error, "connection closed with an error");
                }
                break;
            }
            // Closed to make room: nothing is in flight, so drop it.
            _ = connection.close.notified(), if !stopping => {
                if connection.busy() == 0 {
                    break;
                }
            }
            _ = stop.wait_for(|stop| *stop), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
    table.remove(connection.id);
}

/// The open connections, in the order they were accepted.
struct Connections {
    open: Mutex<BTreeMap<u64, Arc<Connection>>>,
}

impl Connections {
    fn new() -> Connections {
        Connections {
            open: Mutex::new(BTreeMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Connection>>> {
        match self.open.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn len(&self) -> usize {
        self.lock().len()
    }

    fn open(&self, id: u64) -> Arc<Connection> {
        let connection = Arc::new(Connection {
            id,
            busy: AtomicUsize::new(0),
            close: tokio::sync::Notify::new(),
        });
        self.lock().insert(id, Arc::clone(&connection));
        connection
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Closes the oldest connection with nothing in flight; whether there was one. It is taken
    /// off the table at once, so the new connection can have its place.
    fn close_oldest_idle(&self) -> bool {
        let mut open = self.lock();
        let Some(id) = open.values().find(|c| c.busy() == 0).map(|c| c.id) else {
            return false;
        };
        if let Some(connection) = open.remove(&id) {
            connection.close.notify_one();
        }
        true
    }

    fn close_all(&self) {
        for connection in self.lock().values() {
            connection.close.notify_one();
        }
    }
}

/// One open connection, and how many requests it has in flight.
struct Connection {
    id: u64,
    busy: AtomicUsize,
    close: tokio::sync::Notify,
}

impl Connection {
    fn busy(&self) -> usize {
        self.busy.load(Ordering::Acquire)
    }
}

/// A request in flight on a connection, from its head until its response body is sent (or
/// dropped).
struct Busy(Arc<Connection>);

impl Busy {
    fn start(connection: Arc<Connection>) -> Busy {
        connection.busy.fetch_add(1, Ordering::AcqRel);
        Busy(connection)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request counted as in flight until it is sent.
struct TrackedBody {
    body: Body,
    _busy: Busy,
}

impl hyper::body::Body for TrackedBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
