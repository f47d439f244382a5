//! Writes a run's engine events into SQLite and files, and forwards them to live clients.
//! Snapshot layers are encoded here, once, as lossless PNGs: RGB and class maps as 8-bit,
//! continuous maps as 16-bit grey with their value range in the database.

use super::{RunsError, RunsResult};
use crate::engine::Event;
use crate::engine::events::{LayerData, Snapshot};
use crate::runs::status::RunStatus;
use crate::store::{self as db, NewCheckpoint, NewLayer};
use image::{GrayImage, ImageBuffer, Luma, RgbImage};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::SqlitePool;
use std::path::{Path, PathBuf};
use tokio::sync::broadcast;

/// What live clients (SSE) receive: the run, the event type and its JSON (snapshots are
/// announced by step only; clients fetch the layers they show).
#[derive(Debug, Clone, Serialize)]
pub struct LiveEvent {
    pub run_id: i64,
    pub kind: &'static str,
    pub data: serde_json::Value,
}

pub struct Recorder {
    pub db: SqlitePool,
    pub data_dir: PathBuf,
    pub live: broadcast::Sender<LiveEvent>,
    pub run_id: i64,
}

fn kind_of(e: &Event) -> &'static str {
    match e {
        Event::Started(_) => "started",
        Event::Step(_) => "step",
        Event::Eval(_) => "eval",
        Event::Snapshot(_) => "snapshot",
        Event::Checkpoint(_) => "checkpoint",
        Event::Finished { .. } => "finished",
        Event::Stopped { .. } => "stopped",
        Event::Failed { .. } => "failed",
    }
}

impl Recorder {
    pub fn run_dir(data_dir: &Path, run_id: i64) -> PathBuf {
        data_dir.join("runs").join(run_id.to_string())
    }

    pub async fn record(&self, event: Event) -> RunsResult<()> {
        let id = self.run_id;
        let kind = kind_of(&event);
        let live_data = match &event {
            Event::Snapshot(s) => serde_json::json!({ "step": s.step }),
            other => serde_json::to_value(other).unwrap_or_default(),
        };
        match event {
            Event::Started(info) => {
                // A resumed run replaces its history after the checkpoint's step, at once.
                db::restart(&self.db, id, &info).await?;
                let msg = format!(
                    "started on {} at step {} of {} ({} labelled / {} unlabelled images)",
                    info.device,
                    info.start_step,
                    info.total_iterations,
                    info.split.labeled.len(),
                    info.split.unlabeled.len()
                );
                db::add_event(&self.db, id, "started", &msg).await?;
            }
            Event::Step(m) => db::add_step(&self.db, id, &m).await?,
            Event::Eval(r) => db::add_evaluation(&self.db, id, &r).await?,
            Event::Snapshot(s) => self.record_snapshot(s).await?,
            Event::Checkpoint(c) => {
                let path = PathBuf::from(&c.path);
                let (sha256, bytes) = tokio::task::spawn_blocking(move || sha256_file(&path)).await.map_err(|e| RunsError::Internal(e.to_string()))??;
                let rel = Path::new(&c.path).strip_prefix(&self.data_dir).map(|p| p.display().to_string()).unwrap_or(c.path.clone());
                db::add_checkpoint(&self.db, id, &NewCheckpoint { step: c.step as i64, best: c.best, path: rel, bytes: bytes as i64, sha256 }).await?;
            }
            Event::Finished { step } => self.finish(RunStatus::Finished, step, None).await?,
            Event::Stopped { step } => self.finish(RunStatus::Stopped, step, None).await?,
            Event::Failed { step, message } => self.finish(RunStatus::Failed, step, Some(message)).await?,
        }
        let _ = self.live.send(LiveEvent { run_id: id, kind, data: live_data });
        Ok(())
    }

    async fn finish(&self, status: RunStatus, step: usize, error: Option<String>) -> RunsResult<()> {
        db::finish(&self.db, self.run_id, status, error.as_deref()).await?;
        let msg = match &error {
            Some(e) => format!("{status} at step {step}: {e}"),
            None => format!("{status} at step {step}"),
        };
        Ok(db::add_event(&self.db, self.run_id, status.as_str(), &msg).await?)
    }

    async fn record_snapshot(&self, s: Snapshot) -> RunsResult<()> {
        let dir = Self::run_dir(&self.data_dir, self.run_id).join("snapshots").join(format!("{:06}", s.step));
        let data_dir = self.data_dir.clone();
        let written = tokio::task::spawn_blocking(move || write_layers(&dir, &data_dir, &s)).await.map_err(|e| RunsError::Internal(e.to_string()))??;
        Ok(db::add_layers(&self.db, self.run_id, &written).await?)
    }
}

fn write_layers(dir: &Path, data_dir: &Path, s: &Snapshot) -> RunsResult<Vec<NewLayer>> {
    std::fs::create_dir_all(dir)?;
    let side = s.size as u32;
    let mut out = Vec::new();
    for p in &s.probes {
        for l in &p.layers {
            let file = dir.join(format!("p{}-{}.png", p.index, l.name));
            let (kind, vmin, vmax) = match &l.data {
                LayerData::Rgb { values } => {
                    let img = RgbImage::from_raw(side, side, values.clone()).ok_or_else(|| RunsError::Internal("rgb layer size".into()))?;
                    save_png(&file, &img)?;
                    ("rgb", None, None)
                }
                LayerData::Classes { values } => {
                    let img = GrayImage::from_raw(side, side, values.clone()).ok_or_else(|| RunsError::Internal("class layer size".into()))?;
                    save_png(&file, &img)?;
                    ("classes", None, None)
                }
                LayerData::Map { values } => {
                    let finite = values.iter().copied().filter(|v| v.is_finite());
                    let (lo, hi) = finite.fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
                    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 0.0) };
                    let span = (hi - lo).max(f32::MIN_POSITIVE);
                    let levels: Vec<u16> = values.iter().map(|v| (((v - lo) / span).clamp(0.0, 1.0) * 65535.0).round() as u16).collect();
                    let img = ImageBuffer::<Luma<u16>, Vec<u16>>::from_raw(side, side, levels).ok_or_else(|| RunsError::Internal("map layer size".into()))?;
                    save_png(&file, &img)?;
                    ("map", Some(lo as f64), Some(hi as f64))
                }
            };
            out.push(NewLayer {
                step: s.step as i64,
                probe: p.index as i64,
                layer: l.name.clone(),
                kind,
                path: file.strip_prefix(data_dir).unwrap_or(&file).display().to_string(),
                vmin,
                vmax,
                auroc: l.auroc,
            });
        }
    }
    Ok(out)
}

/// Encode to PNG and write atomically: a resumed run rewrites the steps after its
/// checkpoint while the inspector may be reading them.
fn save_png<P>(file: &Path, img: &ImageBuffer<P, Vec<P::Subpixel>>) -> RunsResult<()>
where
    P: image::PixelWithColorType,
    [P::Subpixel]: image::EncodableLayout,
{
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).map_err(|e| RunsError::Internal(format!("{}: {e}", file.display())))?;
    crate::files::write_atomic(file, &png, false)?;
    Ok(())
}

pub fn sha256_file(path: &Path) -> RunsResult<(String, u64)> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((format!("{:x}", hasher.finalize()), total))
}
