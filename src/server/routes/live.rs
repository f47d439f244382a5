//! Server-Sent Events: every recorded engine event, pushed as soon as it is stored.
//! `/api/live` carries all runs, `/api/runs/{id}/live` one run. Clients that fall behind
//! get a `lagged` event and re-read the metrics API (the polling fallback).

use super::runs_api::run_id;
use crate::server::error::AppResult;
use crate::server::state::AppState;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use std::convert::Infallible;
use std::time::Duration;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::{Stream, StreamExt};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/live", get(all)).route("/api/runs/{id}/live", get(one))
}

fn stream(s: &AppState, only: Option<i64>) -> impl Stream<Item = Result<Event, Infallible>> + use<> {
    BroadcastStream::new(s.runs.live.subscribe()).filter_map(move |item| match item {
        Ok(e) if only.is_none_or(|id| id == e.run_id) => {
            let data = serde_json::json!({ "run_id": e.run_id, "data": e.data });
            Some(Ok(Event::default().event(e.kind).data(data.to_string())))
        }
        Ok(_) => None,
        Err(BroadcastStreamRecvError::Lagged(n)) => Some(Ok(Event::default().event("lagged").data(n.to_string()))),
    })
}

async fn all(State(s): State<AppState>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    Sse::new(stream(&s, None)).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

async fn one(State(s): State<AppState>, Path(id): Path<String>) -> AppResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let id = run_id(&id)?;
    crate::server::db::get_run(&s.db, id).await?;
    Ok(Sse::new(stream(&s, Some(id))).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
