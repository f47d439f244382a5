//! Server-Sent Events: every recorded engine event, pushed as soon as it is stored.
//! `/api/live` carries all runs, `/api/runs/{id}/live` one run. Clients that fall behind
//! get a `lagged` event and re-read the metrics API (the polling fallback).

use super::ids::RunId;
use crate::runs::recorder::LiveEvent;
use crate::web::error::{AppError, AppResult};
use crate::web::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::{Stream, StreamExt};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/live", get(all)).route("/api/runs/{id}/live", get(one))
}

/// Most event streams open at once (each holds a connection and a broadcast receiver).
pub const MAX_LIVE_CLIENTS: usize = 256;

/// One open stream; counted until the client goes away and the stream is dropped.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(open: &Arc<AtomicUsize>) -> AppResult<Self> {
        let prev = open.fetch_add(1, Ordering::SeqCst);
        if prev >= MAX_LIVE_CLIENTS {
            open.fetch_sub(1, Ordering::SeqCst);
            return Err(AppError::Unavailable(format!("{MAX_LIVE_CLIENTS} live streams are open: close some tabs, or poll the metrics API")));
        }
        Ok(Slot(Arc::clone(open)))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn stream(s: &AppState, only: Option<i64>) -> AppResult<impl Stream<Item = Result<Event, Infallible>> + use<>> {
    let slot = Slot::take(&s.live_clients)?;
    Ok(BroadcastStream::new(s.runs.live.subscribe()).filter_map(move |item| {
        let _held = &slot;
        to_sse(item, only).map(|(kind, data)| Ok(Event::default().event(kind).data(data)))
    }))
}

/// What one broadcast item becomes on a stream: its event name and data, a `lagged` event
/// with how many were missed when the client fell behind, or nothing (another run's).
fn to_sse(item: Result<LiveEvent, BroadcastStreamRecvError>, only: Option<i64>) -> Option<(&'static str, String)> {
    match item {
        Ok(e) if only.is_none_or(|id| id == e.run_id) => Some((e.kind, serde_json::json!({ "run_id": e.run_id, "data": e.data }).to_string())),
        Ok(_) => None,
        Err(BroadcastStreamRecvError::Lagged(n)) => Some(("lagged", n.to_string())),
    }
}

async fn all(State(s): State<AppState>) -> AppResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    Ok(Sse::new(stream(&s, None)?).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

async fn one(State(s): State<AppState>, RunId(id): RunId) -> AppResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    crate::store::get_run(&s.db, id).await?;
    Ok(Sse::new(stream(&s, Some(id))?).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::broadcast;

    fn event(run_id: i64, i: i64) -> LiveEvent {
        LiveEvent { run_id, kind: "step", data: serde_json::json!(i) }
    }

    #[tokio::test]
    async fn a_client_that_falls_behind_is_told_how_far_and_sees_only_its_run() {
        let (tx, rx) = broadcast::channel(2);
        for i in 0..5 {
            tx.send(event(1, i)).unwrap();
        }
        let mut s = BroadcastStream::new(rx);
        assert_eq!(to_sse(s.next().await.unwrap(), None), Some(("lagged", "3".to_string())));
        let (kind, data) = to_sse(s.next().await.unwrap(), None).unwrap();
        assert_eq!((kind, data.as_str()), ("step", r#"{"data":3,"run_id":1}"#));
        assert_eq!(to_sse(Ok(event(2, 0)), Some(1)), None);
        assert!(to_sse(Ok(event(1, 0)), Some(1)).is_some());
    }
}
