//! The run queue: at most `concurrency` trainings at once, each on its own engine thread,
//! their events recorded in order by one async task per run. Stop is graceful (the engine
//! finishes its iteration and checkpoints); a stopped, failed or interrupted run resumes
//! from its latest checkpoint.

use super::recorder::{LiveEvent, Recorder};
use super::{RunsError, RunsResult};
use crate::config::ValidConfig;
use crate::engine::{self, Event, RunControl, StartOptions};
use crate::runs::status::RunStatus;
use crate::store::{self as db, RunRow};
use sqlx::SqlitePool;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::{Semaphore, broadcast, mpsc};

pub struct RunManager {
    db: SqlitePool,
    data_dir: PathBuf,
    slots: Arc<Semaphore>,
    active: Mutex<HashMap<i64, RunControl>>,
    pub live: broadcast::Sender<LiveEvent>,
}

impl RunManager {
    pub fn new(db: SqlitePool, data_dir: PathBuf, concurrency: usize) -> Arc<Self> {
        let (live, _) = broadcast::channel(4096);
        Arc::new(Self { db, data_dir, slots: Arc::new(Semaphore::new(concurrency.max(1))), active: Mutex::new(HashMap::new()), live })
    }

    /// Mark runs a crash left running as interrupted and restart the queue.
    pub async fn recover(self: &Arc<Self>) -> RunsResult<()> {
        for id in db::recover(&self.db).await? {
            self.schedule(id);
        }
        Ok(())
    }

    /// Queue a new run.
    pub async fn create(self: &Arc<Self>, config: &ValidConfig, tags: &str, origin: db::Origin) -> RunsResult<i64> {
        let id = db::insert_run(&self.db, config, tags, origin).await?;
        db::add_event(&self.db, id, "queued", "queued").await?;
        self.schedule(id);
        Ok(id)
    }

    fn schedule(self: &Arc<Self>, id: i64) {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            let Ok(_permit) = me.slots.clone().acquire_owned().await else {
                return;
            };
            if let Err(e) = me.run(id).await {
                tracing::error!("run {id}: {e}");
                let _ = db::mark_failed(&me.db, id, &e.to_string()).await;
            }
        });
    }

    async fn run(self: &Arc<Self>, id: i64) -> RunsResult<()> {
        let row = db::get_run(&self.db, id).await?;
        // Read back from the database: checked again, as anything entering from storage
        // (a config stored by an older version may no longer pass).
        let config = row.config()?.validated()?;
        let out_dir = Recorder::run_dir(&self.data_dir, id);
        let resume = row.resume_from.as_ref().map(|p| self.data_dir.join(p));
        // Dataset paths were made absolute (and confined) when the run was created.
        let options = StartOptions { data_root: self.data_dir.clone(), out_dir, resume };
        // The control is visible before the run counts as running, and the move from
        // queued to running is atomic: a stop at any moment reaches the run.
        let control = RunControl::default();
        self.active.lock().expect("active runs lock").insert(id, control.clone());
        if !db::start_queued(&self.db, id).await? {
            self.release(id, &control);
            return Ok(()); // stopped while it waited
        }
        let handle = engine::start_with_control(config, options, control.clone());
        // The engine's channel is blocking: a blocking task forwards it to the async side,
        // through a bounded queue (the engine waits when the recorder falls behind).
        let (tx, mut rx) = mpsc::channel::<Event>(engine::EVENT_BUFFER);
        let events = handle.events;
        tokio::task::spawn_blocking(move || {
            for e in events.iter() {
                if tx.blocking_send(e).is_err() {
                    break;
                }
            }
        });
        let recorder = Recorder { db: self.db.clone(), data_dir: self.data_dir.clone(), live: self.live.clone(), run_id: id };
        let (mut last_failure, mut settled) = (None, false);
        while let Some(event) = rx.recv().await {
            let terminal = matches!(event, Event::Finished { .. } | Event::Stopped { .. } | Event::Failed { .. });
            match recorder.record(event).await {
                Ok(()) => settled |= terminal,
                Err(e) => {
                    tracing::error!("run {id}: recording an event failed: {e}");
                    last_failure = Some(e.to_string());
                }
            }
        }
        self.release(id, &control);
        let joined = tokio::task::spawn_blocking(move || handle.thread.join()).await;
        // Only a run whose final state never reached the database needs settling; once it
        // has (stopped, say), a resume may already have started it again.
        if !settled {
            self.settle(id, !matches!(joined, Ok(Ok(()))), last_failure).await;
        }
        Ok(())
    }

    /// After the engine's last event: a run the database still shows as running or
    /// stopping (its final event could not be recorded, or the engine thread died) is
    /// marked failed, so the UI can resume or delete it. Retried a few times, because the
    /// write that failed may have met a busy or briefly full disk.
    async fn settle(&self, id: i64, crashed: bool, last_failure: Option<String>) {
        let why = match (crashed, last_failure) {
            (true, _) => "the training thread ended without a final state (see the server log)".to_string(),
            (false, Some(e)) => format!("the run's final state could not be recorded: {e}"),
            (false, None) => "the training ended without a final state (see the server log)".to_string(),
        };
        for attempt in 0..5u32 {
            match db::fail_if_active(&self.db, id, &why).await {
                Ok(done) => {
                    if done {
                        tracing::warn!("run {id}: marked failed: {why}");
                        let _ = db::add_event(&self.db, id, "failed", &why).await;
                        let _ = self.live.send(LiveEvent { run_id: id, kind: "failed", data: serde_json::json!({ "type": "failed", "message": why }) });
                    }
                    return;
                }
                Err(e) => {
                    tracing::error!("run {id}: settling its state failed (attempt {}): {e}", attempt + 1);
                    tokio::time::sleep(std::time::Duration::from_millis(200 << attempt)).await;
                }
            }
        }
    }

    /// Forget a run's control, unless a later start of the same run (a quick stop and
    /// resume) has already put its own in place.
    fn release(&self, id: i64, control: &RunControl) {
        let mut active = self.active.lock().expect("active runs lock");
        if active.get(&id).is_some_and(|c| c.same(control)) {
            active.remove(&id);
        }
    }

    /// Ask a run to stop. A queued run is stopped at once; a running one after its
    /// current iteration and a checkpoint.
    pub async fn stop(&self, id: i64) -> RunsResult<RunRow> {
        if db::stop_queued(&self.db, id).await? {
            db::add_event(&self.db, id, "stopped", "stopped before it started").await?;
            return Ok(db::get_run(&self.db, id).await?);
        }
        let row = db::get_run(&self.db, id).await?;
        match row.status {
            RunStatus::Running => {
                let handle = self.active.lock().expect("active runs lock").get(&id).cloned();
                if let Some(h) = handle {
                    h.stop();
                }
                // Only a run still running becomes stopping (it may have just finished).
                db::mark_stopping(&self.db, id).await?;
                db::add_event(&self.db, id, "stopping", "stop requested").await?;
            }
            RunStatus::Stopping => {}
            other => {
                return Err(RunsError::Conflict(format!("run {id} is {other}: only queued or running runs can be stopped")));
            }
        }
        Ok(db::get_run(&self.db, id).await?)
    }

    /// Delete a run that is not queued, running or stopping: its rows (metrics,
    /// evaluations, snapshots, checkpoints, events cascade) and its files. A study cell that
    /// loses its run is queued again by the study's resume.
    pub async fn delete(&self, id: i64) -> RunsResult<()> {
        let row = db::get_run(&self.db, id).await?;
        if row.status.is_active() {
            return Err(RunsError::Conflict(format!("run {id} is {}: stop it before deleting it", row.status)));
        }
        if !db::delete_inactive(&self.db, id).await? {
            return Err(RunsError::Conflict(format!("run {id} started again meanwhile")));
        }
        let dir = Recorder::run_dir(&self.data_dir, id);
        if let Err(e) = tokio::fs::remove_dir_all(&dir).await
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!("run {id} deleted, but its folder {} stays: {e}", dir.display());
        }
        Ok(())
    }

    /// Ask a running run for an evaluation on its validation split after its current
    /// iteration (it arrives like the scheduled ones).
    pub async fn evaluate(&self, id: i64) -> RunsResult<RunRow> {
        let row = db::get_run(&self.db, id).await?;
        let handle = self.active.lock().expect("active runs lock").get(&id).cloned();
        match (row.status, handle) {
            (RunStatus::Running, Some(h)) => {
                h.request_evaluation();
                db::add_event(&self.db, id, "evaluate", "evaluation requested").await?;
                Ok(row)
            }
            (status, _) => Err(RunsError::Conflict(format!("run {id} is {status}: only a running run can be evaluated now"))),
        }
    }

    /// Continue a stopped, failed or interrupted run from its latest checkpoint.
    pub async fn resume(self: &Arc<Self>, id: i64) -> RunsResult<RunRow> {
        let row = db::get_run(&self.db, id).await?;
        if !row.status.is_resumable() {
            return Err(RunsError::Conflict(format!("run {id} is {}: only stopped, failed or interrupted runs can be resumed", row.status)));
        }
        let ckpt = db::latest_checkpoint(&self.db, id).await?;
        let from = ckpt.as_ref().map(|c| c.path.clone());
        // Conditional, so two resumes at once (a double click) queue the run once.
        if !db::requeue(&self.db, id, from.as_deref()).await? {
            return Err(RunsError::Conflict(format!("run {id} was resumed or changed meanwhile")));
        }
        let msg = match &ckpt {
            Some(c) => format!("resume queued from the checkpoint at step {}", c.step),
            None => "no checkpoint yet: restarting from step 0".to_string(),
        };
        db::add_event(&self.db, id, "queued", &msg).await?;
        self.schedule(id);
        Ok(db::get_run(&self.db, id).await?)
    }
}
