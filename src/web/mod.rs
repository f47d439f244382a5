//! The dashboard's web layer: the axum app (routes, pages, security, one error type mapped
//! to status codes) over the run service (`runs`) and the database (`store`). It holds no
//! SQL and no queue of its own.

pub mod error;
pub mod routes;
pub mod security;
pub mod state;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use state::AppState;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tower_http::compression::predicate::{NotForContentType, Predicate};
use tower_http::compression::{CompressionLayer, DefaultPredicate};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    pub datasets_dirs: Vec<PathBuf>,
    /// Required for any bind other than loopback.
    pub token: Option<String>,
    pub concurrency: usize,
    /// Folder of static files (CSS, JS, vendored chart library).
    pub static_dir: PathBuf,
    /// Host names (besides IP literals and `localhost`) that requests may name in `Host`:
    /// the names this dashboard is reached by, e.g. behind a reverse proxy.
    pub allowed_hosts: Vec<String>,
    /// Every request but an upload must be answered within this (408 after).
    pub request_timeout: Duration,
}

/// The request timeout `flawmap serve` uses.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Largest request body (uploads of zipped datasets included).
pub const BODY_LIMIT: usize = 64 * 1024 * 1024;

/// Open the database, recover runs a crash left behind and build the app.
pub async fn build(opts: &ServeOptions) -> anyhow::Result<(Router, AppState)> {
    if !opts.addr.ip().is_loopback() && opts.token.as_deref().is_none_or(str::is_empty) {
        anyhow::bail!("binding {} (not loopback) needs a token: pass --token or set FLAWMAP_TOKEN", opts.addr);
    }
    std::fs::create_dir_all(&opts.data_dir)?;
    let data_dir = opts.data_dir.canonicalize()?;
    let db = crate::store::open(&data_dir.join("flawmap.db")).await?;
    let runs = crate::runs::manager::RunManager::new(db.clone(), data_dir.clone(), opts.concurrency);
    // Uploaded datasets live under the data directory, which is always a dataset root.
    std::fs::create_dir_all(data_dir.join("uploads"))?;
    let mut roots: Vec<PathBuf> = opts.datasets_dirs.iter().filter_map(|d| d.canonicalize().ok()).collect();
    roots.push(data_dir.join("uploads").canonicalize()?);
    let state = AppState {
        db,
        runs: runs.clone(),
        data_dir,
        dataset_roots: Arc::new(roots),
        token: opts.token.clone().map(Arc::new),
        allowed_hosts: Arc::new(opts.allowed_hosts.iter().map(|h| security::normalise_host(h)).collect()),
        live_clients: Arc::default(),
        uploads: Arc::new(tokio::sync::Semaphore::new(routes::datasets::MAX_UPLOADS_AT_ONCE)),
    };
    runs.recover().await?;
    // Uploads stream up to BODY_LIMIT to disk and then unpack: no 60 s timeout (a slow
    // client or a large archive would be cut off with its unpacking half done), and the
    // multipart extractor's own 2 MiB default lifted to the documented limit. Every other
    // route keeps axum's 2 MiB body default and the timeout.
    let timed = Router::new()
        .merge(routes::pages::router())
        .merge(routes::runs_api::router())
        .merge(routes::checkpoints::router())
        .merge(routes::snapshots::router())
        .merge(routes::live::router())
        .merge(routes::studies_api::router())
        .merge(routes::study_pages::router())
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, opts.request_timeout));
    let mut app = timed
        .merge(routes::datasets::router().layer(DefaultBodyLimit::max(BODY_LIMIT)))
        .nest_service("/static", ServeDir::new(&opts.static_dir))
        .layer(axum::middleware::from_fn_with_state(state.clone(), security::guard));
    for (name, value) in security::response_headers() {
        app = app.layer(SetResponseHeaderLayer::if_not_present(name, value));
    }
    let app = app
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        // Checkpoints are served with Content-Length, ranges and their SHA-256 as ETag, and
        // PNGs are compressed already: neither is worth gzipping (tower-http's default
        // predicate already skips images and event streams).
        .layer(CompressionLayer::new().compress_when(DefaultPredicate::new().and(NotForContentType::const_new("application/octet-stream"))))
        .layer(TraceLayer::new_for_http())
        .with_state(state.clone());
    Ok((app, state))
}

/// Serve until Ctrl-C; returns the bound address through `on_bound` (port 0 picks one).
pub async fn serve(opts: ServeOptions, on_bound: impl FnOnce(SocketAddr)) -> anyhow::Result<()> {
    let (app, _state) = build(&opts).await?;
    let listener = tokio::net::TcpListener::bind(opts.addr).await?;
    on_bound(listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
