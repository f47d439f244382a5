//! The training engine behind a narrow interface: a config in, a stream of events out, a
//! stop signal. It runs on its own thread and never touches the web or the database.

pub mod checkpoint;
pub mod evaluate;
pub mod events;
pub mod nets;
pub mod snapshot;
pub mod step;
mod trainer;

pub use events::Event;

use crate::config::ValidConfig;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;

/// Where a run reads and writes.
#[derive(Debug, Clone)]
pub struct StartOptions {
    /// Relative dataset paths in the config resolve against this folder.
    pub data_root: PathBuf,
    /// Checkpoints go to `<out_dir>/checkpoints/`.
    pub out_dir: PathBuf,
    /// Continue from this checkpoint: same schedule, same batches from its step on.
    pub resume: Option<PathBuf>,
}

/// The signals a caller may send a running run: stop (it finishes the iteration in flight,
/// writes a checkpoint and reports `Event::Stopped`) and evaluate now (after the iteration
/// in flight, an extra `Event::Eval` on the validation split).
#[derive(Debug, Clone, Default)]
pub struct RunControl {
    stop: Arc<AtomicBool>,
    evaluate: Arc<AtomicBool>,
}

impl RunControl {
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    pub fn is_stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Whether `other` is a clone of this control (the same run start).
    pub fn same(&self, other: &RunControl) -> bool {
        Arc::ptr_eq(&self.stop, &other.stop)
    }

    /// Ask for an evaluation after the current iteration (requests made before it runs
    /// count once).
    pub fn request_evaluation(&self) {
        self.evaluate.store(true, Ordering::SeqCst);
    }

    /// Whether an evaluation was asked for since the last call (and clear the request).
    pub fn take_evaluation_request(&self) -> bool {
        self.evaluate.swap(false, Ordering::SeqCst)
    }
}

/// Events the engine may run ahead of its consumer.
pub const EVENT_BUFFER: usize = 64;

pub struct RunHandle {
    pub events: Receiver<Event>,
    pub control: RunControl,
    pub thread: JoinHandle<()>,
}

/// Start a run on a new thread. Everything that goes wrong (missing device, corrupt image,
/// ...) arrives as `Event::Failed` and never panics the caller. The last event is always one
/// of Finished, Stopped or Failed.
pub fn start(config: ValidConfig, options: StartOptions) -> RunHandle {
    start_with_control(config, options, RunControl::default())
}

/// [`start`] with a control the caller made beforehand, so that a stop asked for while
/// the run is being started is not lost.
pub fn start_with_control(config: ValidConfig, options: StartOptions, control: RunControl) -> RunHandle {
    let config = config.into_inner();
    // Bounded: a consumer that falls behind (a slow disk under the recorder) slows the
    // training down instead of letting the queue grow without limit.
    let (tx, rx) = sync_channel(EVENT_BUFFER);
    let for_thread = control.clone();
    let thread = std::thread::Builder::new()
        .name(format!("train-{}", config.name))
        .spawn(move || trainer::run(config, options, tx, for_thread))
        .expect("spawning a training thread");
    RunHandle { events: rx, control, thread }
}
