//! The HTTP surface: `/metrics` for Prometheus, `/healthz` and `/readyz` for orchestrators,
//! and the latest cycle as JSON.
//!
//! Handlers only read shared state; they never start work, so a slow cycle cannot make a
//! scrape slow.

pub mod label_names;
pub mod metrics;
pub mod serve;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::api::metrics::{Exposition, Negotiated};
use crate::outcome::CycleOutcome;

/// State shared by the daemon loop (writer) and the handlers (readers).
#[derive(Debug, Default)]
pub struct AppState {
    pub exposition: Exposition,
    latest: RwLock<Option<Arc<CycleOutcome>>>,
    ready: AtomicBool,
    /// Where reload requests go (set by the daemon when it can reload).
    pub reload: OnceLock<tokio::sync::mpsc::Sender<ReloadRequest>>,
    /// What `/report` is built from (set by the daemon when it has a store).
    pub report: OnceLock<ReportSource>,
    /// The token every endpoint but the health checks requires, when configured.
    pub bearer_token: RwLock<Option<crate::config::Secret>>,
    /// Whether `POST /-/reload` works without a token (`server.reload_without_token`).
    pub reload_without_token: AtomicBool,
}

/// The state file and report settings behind `/report`, and the last rendering (rebuilt when a
/// newer cycle exists).
#[derive(Debug)]
pub struct ReportSource {
    pub store: crate::store::Store,
    pub config: RwLock<crate::config::delivery::ReportConfig>,
    rendered: tokio::sync::Mutex<Option<(f64, Arc<crate::report::weekly::message::Rendered>)>>,
}

impl ReportSource {
    pub fn new(store: crate::store::Store, config: crate::config::delivery::ReportConfig) -> ReportSource {
        ReportSource {
            store,
            config: RwLock::new(config),
            rendered: tokio::sync::Mutex::new(None),
        }
    }

    /// The report of the latest cycle, rendered at most once per cycle.
    async fn rendered(
        &self,
        cycle: Arc<CycleOutcome>,
    ) -> Result<Arc<crate::report::weekly::message::Rendered>, String> {
        let mut cached = self.rendered.lock().await;
        if let Some((at, rendered)) = cached.as_ref() {
            if *at == cycle.evaluated_at {
                return Ok(Arc::clone(rendered));
            }
        }
        let config = match self.config.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let store = self.store.clone();
        let at = cycle.evaluated_at;
        let rendered = tokio::task::spawn_blocking(move || {
            let (_, rendered) = crate::delivery::weekly::build(Some(&store), &cycle, &config);
            Arc::new(rendered)
        })
        .await
        .map_err(|e| format!("rendering the report failed: {e}"))?;
        *cached = Some((at, Arc::clone(&rendered)));
        Ok(rendered)
    }
}

/// A request to re-read the config and models; the answer says what happened.
#[derive(Debug)]
pub struct ReloadRequest {
    pub respond: Option<tokio::sync::oneshot::Sender<Result<String, String>>>,
}

impl AppState {
    /// Publishes a finished cycle: metrics, JSON, readiness. Models that failed keep their
    /// last good results.
    pub fn publish(&self, mut report: CycleOutcome) {
        self.exposition.self_metrics.record_cycle(&report);
        if let Some(previous) = self.latest() {
            report.carry_over_failed_models(&previous);
        }
        self.exposition.publish(&report);
        // Ready once `/metrics` has results to serve: a first cycle in which every model
        // failed (the source down at start) leaves it not ready.
        let has_results = report.models.iter().any(|m| m.results_from.is_some());
        let report = Arc::new(report);
        match self.latest.write() {
            Ok(mut guard) => *guard = Some(report),
            Err(poisoned) => *poisoned.into_inner() = Some(report),
        }
        self.ready.store(has_results, Ordering::Release);
    }

    /// The API token in force (`server.bearer_token_file`), if any.
    pub fn bearer_token(&self) -> Option<crate::config::Secret> {
        match self.bearer_token.read() {
            Ok(token) => token.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Puts the API settings of a (re)loaded configuration in force: the token (rotated, added
    /// or removed) and whether reload over HTTP works without it.
    pub fn set_api_access(&self, token: Option<crate::config::Secret>, reload_without_token: bool) {
        match self.bearer_token.write() {
            Ok(mut current) => *current = token,
            Err(poisoned) => *poisoned.into_inner() = token,
        }
        self.reload_without_token.store(reload_without_token, Ordering::Release);
    }

    /// The last finished cycle, if any.
    pub fn latest(&self) -> Option<Arc<CycleOutcome>> {
        match self.latest.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Whether a cycle has finished with results for at least one model (so `/metrics` has
    /// results).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}

/// The router with every endpoint.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/v1/cycle", get(cycle))
        .route("/api/v1/recommendations", get(recommendations))
        .route("/-/reload", axum::routing::post(reload))
        .route("/report", get(weekly_report))
        .route("/report/{file}", get(weekly_report_file))
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&state), require_token))
        .with_state(state)
}

/// Refuses requests without the configured bearer token (when one is configured). The
/// health checks stay open: orchestrators probe them without credentials.
async fn require_token(
    State(state): State<Arc<AppState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Some(expected) = state.bearer_token() else {
        return next.run(request).await;
    };
    if matches!(request.uri().path(), "/healthz" | "/readyz") {
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        // The scheme is case-insensitive (RFC 9110 section 11.1).
        .and_then(|v| {
            v.split_once(' ')
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        })
        .map(|(_, token)| token.trim());
    match presented {
        Some(token) if constant_time_eq(token.as_bytes(), expected.expose().as_bytes()) => next.run(request).await,
        _ => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a bearer token is required (server.bearer_token_file)\n",
        )
            .into_response(),
    }
}

/// Compares without stopping at the first difference, so timing does not reveal the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut difference = a.len() ^ b.len();
    for (i, byte) in a.iter().enumerate() {
        difference |= usize::from(byte ^ b.get(i).copied().unwrap_or(0));
    }
    difference == 0
}

async fn index() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        concat!(
            "Headroom ",
            env!("CARGO_PKG_VERSION"),
            ": capacity forecasts\n\n",
            "/metrics        forecast results and self-metrics (Prometheus / OpenMetrics text)\n",
            "/healthz        200 while the process runs\n",
            "/readyz         200 once a planning cycle has produced results\n",
            "/api/v1/cycle   the last cycle's results as JSON\n",
            "/api/v1/recommendations?model=&team=&urgency=   what to do, most urgent first\n",
            "/report         the weekly capacity report, from the latest cycle (HTML)\n",
            "POST /-/reload  re-read the config and models (as SIGHUP does; needs the API token, or server.reload_without_token)\n"
        ),
    )
}

async fn metrics(State(state): State<Arc<AppState>>, headers: axum::http::HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let negotiated = Negotiated::from_accept(accept);
    let chunks = state
        .exposition
        .scrape(negotiated)
        .into_chunks()
        .map(Ok::<_, std::convert::Infallible>);
    (
        [(header::CONTENT_TYPE, negotiated.content_type())],
        axum::body::Body::from_stream(futures_util::stream::iter(chunks)),
    )
        .into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.is_ready() {
        return (StatusCode::OK, "ready\n").into_response();
    }
    // Unauthenticated: names the failed models only (their errors, which quote queries and
    // the source's address, are in /api/v1/cycle and the log).
    let why = match state.latest() {
        None => "not ready: the first planning cycle has not finished\n".to_string(),
        Some(cycle) => {
            let failed: Vec<&str> = cycle
                .models
                .iter()
                .filter(|m| m.error.is_some())
                .map(|m| m.model.as_str())
                .collect();
            format!(
                "not ready: no model has results yet; failed in the last cycle: {} (the errors are in /api/v1/cycle and the log)\n",
                failed.join(", ")
            )
        }
    };
    (StatusCode::SERVICE_UNAVAILABLE, why).into_response()
}

async fn cycle(State(state): State<Arc<AppState>>) -> Response {
    match state.latest() {
        Some(report) => axum::Json(crate::report::json::cycle(&report)).into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "no cycle has finished yet\n").into_response(),
    }
}

async fn recommendations(
    State(state): State<Arc<AppState>>,
    query: Result<
        axum::extract::Query<crate::report::json::RecommendationFilter>,
        axum::extract::rejection::QueryRejection,
    >,
) -> Response {
    let filter = match query {
        Ok(axum::extract::Query(filter)) => filter,
        Err(rejection) => {
            return (
                StatusCode::BAD_REQUEST,
                format!(
                    "{rejection}; valid filters: model, team, urgency (ok, warning, critical), scenario (baseline)\n"
                ),
            )
                .into_response();
        }
    };
    if filter
        .urgency
        .as_deref()
        .is_some_and(|u| !["ok", "warning", "critical"].contains(&u))
    {
        return (StatusCode::BAD_REQUEST, "urgency must be ok, warning or critical\n").into_response();
    }
    let Some(report) = state.latest() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "no cycle has finished yet\n").into_response();
    };
    let report = match filter.scenario.as_deref() {
        None | Some("baseline") => report.as_ref().clone(),
        Some(name) => {
            let known = report.scenarios.iter().any(|s| s.name == name);
            if !known {
                return (
                    StatusCode::NOT_FOUND,
                    format!("no scenario {name:?}; see the config's [[scenarios]]\n"),
                )
                    .into_response();
            }
            crate::outcome::under_scenario(&report, name)
        }
    };
    axum::Json(crate::report::json::recommendations(&report, &filter)).into_response()
}

async fn reload(State(state): State<Arc<AppState>>, headers: axum::http::HeaderMap) -> Response {
    if let Err(why) = reload_allowed(&state, &headers) {
        return (StatusCode::FORBIDDEN, format!("{why}\n")).into_response();
    }
    let Some(sender) = state.reload.get() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "this instance has no config file to reload\n",
        )
            .into_response();
    };
    let (respond, answer) = tokio::sync::oneshot::channel();
    if sender.send(ReloadRequest { respond: Some(respond) }).await.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "the daemon is stopping\n").into_response();
    }
    match tokio::time::timeout(Duration::from_secs(60), answer).await {
        Ok(Ok(Ok(message))) => (StatusCode::OK, format!("{message}\n")).into_response(),
        Ok(Ok(Err(problems))) => (
            StatusCode::BAD_REQUEST,
            format!("reload refused; the previous configuration keeps running:\n{problems}\n"),
        )
            .into_response(),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "no answer from the daemon\n").into_response(),
    }
}

/// Whether a reload request may go ahead. Never from another site: a browser can POST a form
/// (`text/plain`, `application/x-www-form-urlencoded`, `multipart/form-data`) to any address
/// without a preflight, and says where it comes from in `Origin` and `Sec-Fetch-Site`, which
/// scripts cannot forge. Without an API token (which a cross-site form cannot carry), reloads
/// over HTTP are off unless `server.reload_without_token` says otherwise; SIGHUP always works.
fn reload_allowed(state: &AppState, headers: &axum::http::HeaderMap) -> Result<(), &'static str> {
    let value = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_ascii_lowercase())
    };
    if let Some(site) = value(header::HeaderName::from_static("sec-fetch-site")) {
        if site != "same-origin" && site != "none" {
            return Err("reload refused: the request comes from another site");
        }
    }
    if let Some(origin) = value(header::ORIGIN) {
        let host = value(header::HOST).unwrap_or_default();
        let origin_host = origin.split_once("://").map_or(origin.as_str(), |(_, rest)| rest);
        if origin_host != host {
            return Err("reload refused: the request comes from another origin");
        }
    }
    let form = value(header::CONTENT_TYPE).is_some_and(|kind| {
        ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
            .iter()
            .any(|form| kind.starts_with(form))
    });
    if form {
        return Err("reload refused: a form's content type (send no body, or application/json)");
    }
    if state.bearer_token().is_none() && !state.reload_without_token.load(Ordering::Acquire) {
        return Err(
            "reload over HTTP is off without an API token: send SIGHUP (systemctl reload headroom), or set server.bearer_token_file and POST with the token, or set server.reload_without_token = true",
        );
    }
    Ok(())
}

async fn latest_rendered(state: &AppState) -> Result<Arc<crate::report::weekly::message::Rendered>, Response> {
    let Some(source) = state.report.get() else {
        return Err((
            StatusCode::NOT_FOUND,
            "this instance builds no report (no state store)\n",
        )
            .into_response());
    };
    let Some(cycle) = state.latest() else {
        return Err((StatusCode::SERVICE_UNAVAILABLE, "no cycle has finished yet\n").into_response());
    };
    source
        .rendered(cycle)
        .await
        .map_err(|error| (StatusCode::INTERNAL_SERVER_ERROR, format!("{error}\n")).into_response())
}

async fn weekly_report(State(state): State<Arc<AppState>>) -> Response {
    match latest_rendered(&state).await {
        Ok(rendered) => {
            // Chart links are relative to /report/.
            let html = rendered.html_for_files.replace("src=\"chart-", "src=\"/report/chart-");
            ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
        }
        Err(response) => response,
    }
}

async fn weekly_report_file(
    State(state): State<Arc<AppState>>,
    axum::extract::Path(file): axum::extract::Path<String>,
) -> Response {
    let rendered = match latest_rendered(&state).await {
        Ok(rendered) => rendered,
        Err(response) => return response,
    };
    if file == "report.txt" {
        return (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            rendered.text.clone(),
        )
            .into_response();
    }
    let chart = rendered
        .charts
        .iter()
        .find(|(index, _)| crate::report::weekly::message::file_name(*index) == file);
    match chart {
        Some((_, png)) => ([(header::CONTENT_TYPE, "image/png")], png.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, "no such chart in the latest report\n").into_response(),
    }
}
