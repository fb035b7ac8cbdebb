//! The HTTP API and planner page (`mixcast serve`), a shell over the library: it parses
//! requests into the library's checked request types ([`crate::scenario::PlanRequest`],
//! [`crate::optimize::Request`]), calls the library and renders JSON.
//!
//! Routes (`/api/v1`):
//! - `GET /models` — `[{name, kpi, kpi_kind, channels, fit_periods, model_id, …}]`;
//! - `GET /models/{name}` — the summary (the `summary.json` document);
//! - `GET /models/{name}/current?horizon=N` — the current plan: each paid channel's spend
//!   over the last N periods of the data (the optimizer's reference, also the planner
//!   page's starting point);
//! - `GET /models/{name}/curves` — response curves (the `curves` document);
//! - `POST /models/{name}/scenario` — a [`crate::scenario::PlanRequest`] → the
//!   `scenario --json` document;
//! - `POST /models/{name}/optimize` — an optimize request (field names as the CLI flags)
//!   → the `optimize --json` document;
//! - `GET /openapi.json`, and `GET /healthz`, `GET /` (the planner page) outside it.
//!
//! Each subdirectory of the models folder holding a `model.json` is a model named by the
//! directory. Models are loaded on first use, cached, and reloaded when the file's
//! modification time or size changes. Errors are 4xx `{"error": "…"}` naming the field
//! (404 for an unknown model, 413 for a body over [`BODY_LIMIT`]); a model file that no
//! longer validates is a 500 naming it. Every request is reported to the caller's logger
//! with method, path, status and latency.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Instant, SystemTime};

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::analysis::{self, Summary};
use crate::optimize::Planner;
use crate::Model;

/// Largest request body accepted.
pub const BODY_LIMIT: usize = 1 << 20;

/// The planner page (HTML, CSS and JS in one file, no CDN).
const PLANNER_PAGE: &str = include_str!("planner.html");

/// One request, for the logger.
#[derive(Debug, Clone, Serialize)]
pub struct RequestLog {
    /// HTTP method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Status code.
    pub status: u16,
    /// Milliseconds from receipt to response.
    pub latency_ms: f64,
}

/// Receives one [`RequestLog`] per request.
pub type Logger = Arc<dyn Fn(&RequestLog) + Send + Sync>;

/// A loaded model with what the API serves from it.
struct Loaded {
    model: Model,
    summary: Summary,
    stamp: (SystemTime, u64),
    /// Prepared scenario horizons by `(periods, tail periods)` (at most [`HORIZON_CACHE`]).
    horizons: RwLock<HashMap<(usize, usize), Arc<crate::scenario::Horizon>>>,
}

/// Prepared horizons kept per model.
const HORIZON_CACHE: usize = 32;

impl Loaded {
    /// The prepared horizon for `h` periods and `tail` periods after them.
    fn horizon(&self, h: usize, tail: usize) -> Arc<crate::scenario::Horizon> {
        if let Some(hz) = self
            .horizons
            .read()
            .ok()
            .and_then(|c| c.get(&(h, tail)).cloned())
        {
            return hz;
        }
        let hz = Arc::new(crate::scenario::Horizon::new(&self.model, h, tail));
        if let Ok(mut c) = self.horizons.write() {
            if c.len() >= HORIZON_CACHE {
                c.clear();
            }
            c.insert((h, tail), hz.clone());
        }
        hz
    }
}

/// The models folder and its cache.
pub struct Store {
    dir: PathBuf,
    cache: RwLock<HashMap<String, Arc<Loaded>>>,
}

/// An API error: status and message.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, message.into())
}

impl Store {
    /// A store over `dir` (which must exist).
    pub fn new(dir: &Path) -> std::io::Result<Store> {
        if !dir.is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{} is not a folder", dir.display()),
            ));
        }
        Ok(Store {
            dir: dir.to_path_buf(),
            cache: RwLock::new(HashMap::new()),
        })
    }

    /// Model names: subfolders holding a model.json, sorted.
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.dir)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter(|e| e.path().join("model.json").is_file())
                    .filter_map(|e| e.file_name().to_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// The model `name`, from the cache unless its file changed.
    fn get(&self, name: &str) -> Result<Arc<Loaded>, ApiError> {
        let unknown = || {
            ApiError(
                StatusCode::NOT_FOUND,
                format!(
                    "unknown model `{name}` (models: {})",
                    self.names().join(", ")
                ),
            )
        };
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            return Err(unknown());
        }
        let path = self.dir.join(name).join("model.json");
        let meta = std::fs::metadata(&path).map_err(|_| unknown())?;
        let stamp = (
            meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            meta.len(),
        );
        if let Some(l) = self.cache.read().ok().and_then(|c| c.get(name).cloned()) {
            if l.stamp == stamp {
                return Ok(l);
            }
        }
        let model = Model::load(&path).map_err(|e| {
            ApiError(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("model `{name}` cannot be loaded: {e}"),
            )
        })?;
        let summary = analysis::summarize(&model);
        let loaded = Arc::new(Loaded {
            model,
            summary,
            stamp,
            horizons: RwLock::new(HashMap::new()),
        });
        if let Ok(mut c) = self.cache.write() {
            c.insert(name.to_string(), loaded.clone());
        }
        Ok(loaded)
    }
}

/// The router over a store, reporting each request to `log`.
pub fn router(store: Arc<Store>, log: Logger) -> Router {
    let api = Router::new()
        .route("/models", get(list_models))
        .route("/models/{name}", get(model_summary))
        .route("/models/{name}/current", get(current_plan))
        .route("/models/{name}/curves", get(curves))
        .route("/models/{name}/scenario", post(scenario))
        .route("/models/{name}/optimize", post(optimize))
        .route("/openapi.json", get(openapi));
    Router::new()
        .route("/", get(planner_page))
        .route(
            "/healthz",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .nest("/api/v1", api)
        .fallback(|| async { ApiError(StatusCode::NOT_FOUND, "no such route".into()) })
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            let log = log.clone();
            async move {
                let start = Instant::now();
                let (method, path) = (req.method().to_string(), req.uri().path().to_string());
                let resp = next.run(req).await;
                log(&RequestLog {
                    method,
                    path,
                    status: resp.status().as_u16(),
                    latency_ms: start.elapsed().as_secs_f64() * 1e3,
                });
                resp
            }
        }))
        .with_state(store)
}

/// Serve until Ctrl-C.
pub async fn serve(
    listener: tokio::net::TcpListener,
    store: Arc<Store>,
    log: Logger,
) -> std::io::Result<()> {
    axum::serve(listener, router(store, log))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}

type Shared = State<Arc<Store>>;

async fn planner_page() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        PLANNER_PAGE,
    )
}

/// One entry of `GET /api/v1/models`.
#[derive(Debug, Clone, Serialize)]
struct ModelEntry {
    name: String,
    kpi: String,
    kpi_kind: crate::spec::KpiKind,
    channels: Vec<String>,
    paid_channels: Vec<String>,
    fit_periods: usize,
    geos: usize,
    model_id: String,
    fit_window: [String; 2],
}

async fn list_models(State(store): Shared) -> Result<Json<Vec<ModelEntry>>, ApiError> {
    run_blocking(move || {
        let mut out = Vec::new();
        for name in store.names() {
            let Ok(l) = store.get(&name) else { continue };
            let s = &l.summary;
            out.push(ModelEntry {
                name,
                kpi: s.kpi.clone(),
                kpi_kind: s.kpi_kind,
                channels: s.channels.iter().map(|c| c.name.clone()).collect(),
                paid_channels: l
                    .model
                    .paid_channel_names()
                    .into_iter()
                    .map(str::to_string)
                    .collect(),
                fit_periods: s.fit_periods,
                geos: s.geos,
                model_id: s.model.model_id.clone(),
                fit_window: s.fit_window.clone(),
            });
        }
        Ok(Json(out))
    })
    .await
}

async fn model_summary(
    State(store): Shared,
    UrlPath(name): UrlPath<String>,
) -> Result<Json<Summary>, ApiError> {
    run_blocking(move || Ok(Json(store.get(&name)?.summary.clone()))).await
}

#[derive(Debug, Deserialize)]
struct HorizonQuery {
    horizon: Option<usize>,
}

/// The current plan over a horizon.
#[derive(Debug, Serialize)]
struct CurrentPlan {
    horizon: usize,
    totals: std::collections::BTreeMap<String, f64>,
    total: f64,
}

async fn current_plan(
    State(store): Shared,
    UrlPath(name): UrlPath<String>,
    Query(q): Query<HorizonQuery>,
) -> Result<Json<CurrentPlan>, ApiError> {
    run_blocking(move || {
        let l = store.get(&name)?;
        let h = q.horizon.unwrap_or(13);
        crate::scenario::check_horizon(h).map_err(|m| bad(format!("horizon: {m}")))?;
        let reference = Planner::new(&l.model, h, false).reference_spend();
        let totals: std::collections::BTreeMap<String, f64> = l
            .model
            .channels
            .iter()
            .zip(&reference)
            .filter(|(c, _)| c.paid)
            .map(|(c, x)| (c.name.clone(), *x))
            .collect();
        Ok(Json(CurrentPlan {
            horizon: h,
            total: totals.values().sum(),
            totals,
        }))
    })
    .await
}

async fn curves(
    State(store): Shared,
    UrlPath(name): UrlPath<String>,
) -> Result<Json<analysis::Curves>, ApiError> {
    run_blocking(move || {
        let l = store.get(&name)?;
        analysis::curves_document(&l.model, 20)
            .map(Json)
            .map_err(|m| ApiError(StatusCode::INTERNAL_SERVER_ERROR, m))
    })
    .await
}

/// Parse a JSON body into `T`, naming the field on failure.
fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path.is_empty() || path == "." || path == "?" {
            bad(format!("invalid request body: {inner}"))
        } else {
            bad(format!("{path}: {inner}"))
        }
    })
}

/// The body, or 413 past the limit.
fn body(b: Result<Bytes, axum::extract::rejection::BytesRejection>) -> Result<Bytes, ApiError> {
    b.map_err(|e| {
        ApiError(
            e.status(),
            format!(
                "request body: {} (limit {} bytes)",
                e.body_text(),
                BODY_LIMIT
            ),
        )
    })
}

async fn scenario(
    State(store): Shared,
    UrlPath(name): UrlPath<String>,
    b: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<crate::scenario::ScenarioReport>, ApiError> {
    // A prepared horizon makes a forecast a fraction of a millisecond: it runs on the
    // async thread (a blocking-pool hop per request costs more in tail latency than it
    // saves).
    let b = body(b)?;
    let l = store.get(&name)?;
    let req: crate::scenario::PlanRequest = parse(&b)?;
    let sr = req.resolve(&l.model).map_err(|e| bad(e.to_string()))?;
    let hz = l.horizon(sr.base.1.horizon(), sr.tail_periods(&l.model));
    let report = sr.run_on(&l.model, &hz).map_err(|e| bad(e.to_string()))?;
    Ok(Json(report))
}

async fn optimize(
    State(store): Shared,
    UrlPath(name): UrlPath<String>,
    b: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<crate::optimize::Recommendation>, ApiError> {
    let b = body(b)?;
    run_blocking(move || {
        let l = store.get(&name)?;
        let req: crate::optimize::Request = parse(&b)?;
        let req = req.validate().map_err(|e| bad(e.to_string()))?;
        Planner::new(&l.model, req.horizon(), req.count_tail())
            .optimize(&req)
            .map(Json)
            .map_err(|e| bad(e.to_string()))
    })
    .await
}

/// Run CPU work off the async threads.
async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
}

async fn openapi() -> Json<Value> {
    Json(openapi_document())
}

/// The OpenAPI 3.1 description of the API (`openapi.json` beside this file, with the
/// crate's version).
pub fn openapi_document() -> Value {
    let mut doc: Value = serde_json::from_str(include_str!("openapi.json")).unwrap_or_default();
    if let Some(info) = doc.get_mut("info") {
        info["version"] = Value::from(env!("CARGO_PKG_VERSION"));
    }
    doc
}
