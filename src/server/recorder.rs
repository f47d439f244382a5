//! Writes a run's engine events into SQLite and files, and forwards them to live clients.
//! Snapshot layers are encoded here, once, as lossless PNGs: RGB and class maps as 8-bit,
//! continuous maps as 16-bit grey with their value range in the database.

use super::db::{self, now_ms};
use super::error::{AppError, AppResult};
use crate::engine::Event;
use crate::engine::events::{LayerData, Snapshot};
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

    pub async fn record(&self, event: Event) -> AppResult<()> {
        let id = self.run_id;
        let kind = kind_of(&event);
        let live_data = match &event {
            Event::Snapshot(s) => serde_json::json!({ "step": s.step }),
            other => serde_json::to_value(other).unwrap_or_default(),
        };
        match event {
            Event::Started(info) => {
                // A resumed run replaces its history after the checkpoint's step, at once.
                let from = info.start_step as i64;
                let mut tx = self.db.begin().await?;
                for table in ["step_metrics", "evaluations", "snapshot_layers"] {
                    sqlx::query(&format!("DELETE FROM {table} WHERE run_id = ? AND step > ?")).bind(id).bind(from).execute(&mut *tx).await?;
                }
                sqlx::query("DELETE FROM checkpoints WHERE run_id = ? AND step > ? AND best = 0").bind(id).bind(from).execute(&mut *tx).await?;
                sqlx::query("DELETE FROM probes WHERE run_id = ?").bind(id).execute(&mut *tx).await?;
                for (i, p) in info.probes.iter().enumerate() {
                    sqlx::query("INSERT INTO probes (run_id, idx, name, labeled) VALUES (?, ?, ?, ?)")
                        .bind(id)
                        .bind(i as i64)
                        .bind(&p.name)
                        .bind(p.labeled)
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query("UPDATE runs SET device = ?, total_iterations = ?, current_step = ?, info = ?, started_at = COALESCE(started_at, ?), error = NULL WHERE id = ?")
                    .bind(&info.device)
                    .bind(info.total_iterations as i64)
                    .bind(from)
                    .bind(serde_json::to_string(&info).unwrap_or_default())
                    .bind(now_ms())
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
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
            Event::Step(m) => {
                sqlx::query("INSERT OR REPLACE INTO step_metrics (run_id, step, data) VALUES (?, ?, ?)")
                    .bind(id)
                    .bind(m.step as i64)
                    .bind(serde_json::to_string(&m).unwrap_or_default())
                    .execute(&self.db)
                    .await?;
                sqlx::query("UPDATE runs SET current_step = ? WHERE id = ?").bind(m.step as i64).bind(id).execute(&self.db).await?;
            }
            Event::Eval(r) => {
                sqlx::query("INSERT OR REPLACE INTO evaluations (run_id, step, data) VALUES (?, ?, ?)")
                    .bind(id)
                    .bind(r.step as i64)
                    .bind(serde_json::to_string(&r).unwrap_or_default())
                    .execute(&self.db)
                    .await?;
                let score = |m: &str| r.models.iter().find(|x| x.model == m).map(|x| x.score).filter(|s| s.is_finite());
                sqlx::query("UPDATE runs SET best_t1 = MAX(COALESCE(best_t1, -1e300), COALESCE(?, -1e300)), best_t2 = CASE WHEN ? IS NULL THEN best_t2 ELSE MAX(COALESCE(best_t2, -1e300), ?) END WHERE id = ?")
                    .bind(score("T1"))
                    .bind(score("T2"))
                    .bind(score("T2"))
                    .bind(id)
                    .execute(&self.db)
                    .await?;
            }
            Event::Snapshot(s) => self.record_snapshot(s).await?,
            Event::Checkpoint(c) => {
                let path = PathBuf::from(&c.path);
                let (sha, bytes) = tokio::task::spawn_blocking(move || sha256_file(&path)).await.map_err(|e| AppError::Internal(e.to_string()))??;
                let rel = Path::new(&c.path).strip_prefix(&self.data_dir).map(|p| p.display().to_string()).unwrap_or(c.path.clone());
                let metrics: Option<String> = sqlx::query_scalar("SELECT data FROM evaluations WHERE run_id = ? AND step = ?")
                    .bind(id)
                    .bind(c.step as i64)
                    .fetch_optional(&self.db)
                    .await?;
                sqlx::query(
                    "INSERT OR REPLACE INTO checkpoints (run_id, step, best, path, bytes, sha256, metrics, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(id)
                .bind(c.step as i64)
                .bind(c.best)
                .bind(rel)
                .bind(bytes as i64)
                .bind(sha)
                .bind(metrics)
                .bind(now_ms())
                .execute(&self.db)
                .await?;
            }
            Event::Finished { step } => self.finish("finished", step, None).await?,
            Event::Stopped { step } => self.finish("stopped", step, None).await?,
            Event::Failed { step, message } => self.finish("failed", step, Some(message)).await?,
        }
        let _ = self.live.send(LiveEvent { run_id: id, kind, data: live_data });
        Ok(())
    }

    async fn finish(&self, status: &str, step: usize, error: Option<String>) -> AppResult<()> {
        sqlx::query("UPDATE runs SET status = ?, finished_at = ?, error = ? WHERE id = ?")
            .bind(status)
            .bind(now_ms())
            .bind(&error)
            .bind(self.run_id)
            .execute(&self.db)
            .await?;
        let msg = match &error {
            Some(e) => format!("{status} at step {step}: {e}"),
            None => format!("{status} at step {step}"),
        };
        db::add_event(&self.db, self.run_id, status, &msg).await
    }

    async fn record_snapshot(&self, s: Snapshot) -> AppResult<()> {
        let dir = Self::run_dir(&self.data_dir, self.run_id).join("snapshots").join(format!("{:06}", s.step));
        let data_dir = self.data_dir.clone();
        let written = tokio::task::spawn_blocking(move || write_layers(&dir, &data_dir, &s)).await.map_err(|e| AppError::Internal(e.to_string()))??;
        let mut tx = self.db.begin().await?;
        for w in written {
            sqlx::query(
                "INSERT OR REPLACE INTO snapshot_layers (run_id, step, probe, layer, kind, path, vmin, vmax, auroc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(self.run_id)
            .bind(w.step)
            .bind(w.probe)
            .bind(&w.layer)
            .bind(w.kind)
            .bind(&w.path)
            .bind(w.vmin)
            .bind(w.vmax)
            .bind(w.auroc)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

struct Written {
    step: i64,
    probe: i64,
    layer: String,
    kind: &'static str,
    path: String,
    vmin: Option<f64>,
    vmax: Option<f64>,
    auroc: Option<f64>,
}

fn write_layers(dir: &Path, data_dir: &Path, s: &Snapshot) -> AppResult<Vec<Written>> {
    std::fs::create_dir_all(dir)?;
    let side = s.size as u32;
    let mut out = Vec::new();
    for p in &s.probes {
        for l in &p.layers {
            let file = dir.join(format!("p{}-{}.png", p.index, l.name));
            let (kind, vmin, vmax) = match &l.data {
                LayerData::Rgb { values } => {
                    let img = RgbImage::from_raw(side, side, values.clone()).ok_or_else(|| AppError::Internal("rgb layer size".into()))?;
                    save_png(&file, &img)?;
                    ("rgb", None, None)
                }
                LayerData::Classes { values } => {
                    let img = GrayImage::from_raw(side, side, values.clone()).ok_or_else(|| AppError::Internal("class layer size".into()))?;
                    save_png(&file, &img)?;
                    ("classes", None, None)
                }
                LayerData::Map { values } => {
                    let finite = values.iter().copied().filter(|v| v.is_finite());
                    let (lo, hi) = finite.fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
                    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 0.0) };
                    let span = (hi - lo).max(f32::MIN_POSITIVE);
                    let levels: Vec<u16> = values.iter().map(|v| (((v - lo) / span).clamp(0.0, 1.0) * 65535.0).round() as u16).collect();
                    let img = ImageBuffer::<Luma<u16>, Vec<u16>>::from_raw(side, side, levels).ok_or_else(|| AppError::Internal("map layer size".into()))?;
                    save_png(&file, &img)?;
                    ("map", Some(lo as f64), Some(hi as f64))
                }
            };
            out.push(Written {
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
fn save_png<P>(file: &Path, img: &ImageBuffer<P, Vec<P::Subpixel>>) -> AppResult<()>
where
    P: image::PixelWithColorType,
    [P::Subpixel]: image::EncodableLayout,
{
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).map_err(|e| AppError::Internal(format!("{}: {e}", file.display())))?;
    crate::files::write_atomic(file, &png, false)?;
    Ok(())
}

pub fn sha256_file(path: &Path) -> AppResult<(String, u64)> {
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
