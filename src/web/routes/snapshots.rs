//! Snapshot layers for the inspector: which steps and probes exist, each layer as a PNG
//! (continuous maps coloured by a colormap on a fixed 0-1 scale, class maps with the class
//! palette, masks as overlays) and every layer's value at one pixel.

use super::ids::RunId;
use crate::store::{self as db, LayerRow};
use crate::web::error::{AppError, AppResult};
use crate::web::state::AppState;
use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use image::{DynamicImage, ImageFormat, Rgba, RgbaImage};
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/runs/{id}/snapshots", get(index))
        .route("/api/runs/{id}/snapshots/{step}", get(at_step))
        .route("/api/runs/{id}/snapshots/{step}/{probe}/values", get(values))
        .route("/api/runs/{id}/snapshots/{step}/{probe}/{layer}", get(layer_png))
}

fn number(raw: &str, what: &str) -> AppResult<i64> {
    raw.parse::<i64>().ok().filter(|v| *v >= 0).ok_or_else(|| AppError::BadRequest(format!("'{raw}' is not a {what}")))
}

async fn index(State(s): State<AppState>, RunId(id): RunId) -> AppResult<Json<serde_json::Value>> {
    db::get_run(&s.db, id).await?;
    let classes: Vec<serde_json::Value> = db::run_info(&s.db, id)
        .await?
        .map(|info| info.class_names)
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let [r, g, b] = class_colour(k as u8);
            serde_json::json!({ "id": k, "name": name, "colour": format!("#{r:02x}{g:02x}{b:02x}") })
        })
        .collect();
    Ok(Json(serde_json::json!({
        "steps": db::snapshot_steps(&s.db, id).await?,
        "probes": db::probes(&s.db, id).await?,
        "classes": classes,
    })))
}

async fn at_step(State(s): State<AppState>, RunId(id): RunId, Path((_, step)): Path<(String, String)>) -> AppResult<Json<Vec<LayerRow>>> {
    let step = number(&step, "step")?;
    let rows = db::layers(&s.db, id, step).await?;
    if rows.is_empty() {
        return Err(AppError::NotFound(format!("run {id} has no snapshot at step {step}")));
    }
    Ok(Json(rows))
}

#[derive(Debug, Deserialize)]
pub struct Render {
    #[serde(default)]
    pub cmap: Option<String>,
    /// Masks as an overlay: a colour with the mask as alpha.
    #[serde(default)]
    pub overlay: Option<bool>,
}

/// The PASCAL VOC palette (bit-interleaved), the usual colours for class ids; 255 is white.
pub fn class_colour(c: u8) -> [u8; 3] {
    if c == 255 {
        return [255, 255, 255];
    }
    let (mut r, mut g, mut b) = (0u8, 0u8, 0u8);
    let mut id = c;
    for shift in (0..8).rev() {
        r |= (id & 1) << shift;
        g |= ((id >> 1) & 1) << shift;
        b |= ((id >> 2) & 1) << shift;
        id >>= 3;
        if id == 0 {
            break;
        }
    }
    [r, g, b]
}

fn colormap(name: Option<&str>) -> AppResult<Option<colorous::Gradient>> {
    match name.unwrap_or("viridis") {
        "viridis" => Ok(Some(colorous::VIRIDIS)),
        "inferno" => Ok(Some(colorous::INFERNO)),
        "grey" | "gray" => Ok(None),
        other => Err(AppError::BadRequest(format!("unknown colormap '{other}' (viridis, inferno, grey)"))),
    }
}

async fn load(s: &AppState, row: &LayerRow) -> AppResult<DynamicImage> {
    // Only files inside the data directory are served, whatever a row says (as checkpoints).
    let path = s.data_dir.join(&row.path).canonicalize()?;
    if !path.starts_with(s.data_dir.canonicalize()?) {
        return Err(AppError::Forbidden("this snapshot's file is outside the data directory".into()));
    }
    let bytes = tokio::fs::read(&path).await?;
    image::load_from_memory(&bytes).map_err(|e| AppError::Internal(format!("{}: {e}", path.display())))
}

/// Values of a layer in its own units (maps: decoded with vmin/vmax; classes: ids).
fn decode(row: &LayerRow, img: &DynamicImage) -> Vec<f64> {
    match row.kind.as_str() {
        "map" => {
            let (lo, hi) = (row.vmin.unwrap_or(0.0), row.vmax.unwrap_or(1.0));
            img.to_luma16().pixels().map(|p| lo + p.0[0] as f64 / 65535.0 * (hi - lo)).collect()
        }
        "classes" => img.to_luma8().pixels().map(|p| p.0[0] as f64).collect(),
        _ => img.to_luma8().pixels().map(|p| p.0[0] as f64 / 255.0).collect(),
    }
}

async fn layer_png(
    State(s): State<AppState>,
    RunId(id): RunId,
    Path((_, step, probe, layer)): Path<(String, String, String, String)>,
    Query(r): Query<Render>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let (step, probe) = (number(&step, "step")?, number(&probe, "probe")?);
    if let Some(name) = layer.strip_suffix(".json") {
        return layer_values(&s, id, step, probe, name).await;
    }
    let layer = layer.strip_suffix(".png").unwrap_or(&layer);
    let row = db::layer(&s.db, id, step, probe, layer).await?;
    let cmap = colormap(r.cmap.as_deref())?;
    // A resumed run rewrites the snapshots after its checkpoint under the same URLs, so
    // browsers revalidate (no-cache) against an ETag of the file's version and the rendering.
    let meta = tokio::fs::metadata(s.data_dir.join(&row.path)).await?;
    let modified = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
    let etag = format!("\"{:x}-{modified:x}-{}-{}\"", meta.len(), r.cmap.as_deref().unwrap_or("viridis"), r.overlay.unwrap_or(false));
    let cache = [(header::ETAG, etag.clone()), (header::CACHE_CONTROL, "private, no-cache".to_string())];
    if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        return Ok((StatusCode::NOT_MODIFIED, cache).into_response());
    }
    let img = load(&s, &row).await?;
    let (w, h) = (img.width(), img.height());
    let out = match row.kind.as_str() {
        "rgb" => img.to_rgba8(),
        "classes" => {
            let ids = img.to_luma8();
            RgbaImage::from_fn(w, h, |x, y| {
                let [r, g, b] = class_colour(ids.get_pixel(x, y).0[0]);
                Rgba([r, g, b, 255])
            })
        }
        _ => {
            let values = decode(&row, &img);
            RgbaImage::from_fn(w, h, |x, y| {
                let v = values[(y * w + x) as usize].clamp(0.0, 1.0);
                if r.overlay.unwrap_or(false) {
                    Rgba([255, 64, 32, (v * 255.0).round() as u8])
                } else {
                    let c = match cmap {
                        Some(g) => g.eval_continuous(v),
                        None => colorous::Color { r: (v * 255.0) as u8, g: (v * 255.0) as u8, b: (v * 255.0) as u8 },
                    };
                    Rgba([c.r, c.g, c.b, 255])
                }
            })
        }
    };
    let mut png = Vec::new();
    out.write_to(&mut std::io::Cursor::new(&mut png), ImageFormat::Png).map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "image/png")], cache, png).into_response())
}

/// A continuous layer as data (`{layer}.json`): its values in their own units, row-major,
/// so the inspector can recompute the dc and fc masks at another threshold.
async fn layer_values(s: &AppState, id: i64, step: i64, probe: i64, layer: &str) -> AppResult<Response> {
    let row = db::layer(&s.db, id, step, probe, layer).await?;
    if row.kind != "map" {
        return Err(AppError::BadRequest(format!("{layer} is a picture, not a map of values: ask for {layer}.png")));
    }
    let img = load(s, &row).await?;
    let values: Vec<f32> = decode(&row, &img).into_iter().map(|v| v as f32).collect();
    Ok(Json(serde_json::json!({ "width": img.width(), "height": img.height(), "values": values })).into_response())
}

#[derive(Debug, Deserialize)]
pub struct Pixel {
    pub x: u32,
    pub y: u32,
}

/// Every layer's value at (x, y) of one probe at one step.
async fn values(
    State(s): State<AppState>,
    RunId(id): RunId,
    Path((_, step, probe)): Path<(String, String, String)>,
    Query(p): Query<Pixel>,
) -> AppResult<Json<serde_json::Value>> {
    let (step, probe) = (number(&step, "step")?, number(&probe, "probe")?);
    let rows: Vec<LayerRow> = db::layers(&s.db, id, step).await?.into_iter().filter(|r| r.probe == probe).collect();
    if rows.is_empty() {
        return Err(AppError::NotFound(format!("no snapshot of probe {probe} at step {step}")));
    }
    let mut out = serde_json::Map::new();
    for row in rows {
        let img = load(&s, &row).await?;
        if p.x >= img.width() || p.y >= img.height() {
            return Err(AppError::BadRequest(format!("pixel ({}, {}) is outside the {}x{} image", p.x, p.y, img.width(), img.height())));
        }
        let v = match row.kind.as_str() {
            "rgb" => serde_json::json!(img.to_rgb8().get_pixel(p.x, p.y).0),
            _ => serde_json::json!(decode(&row, &img)[(p.y * img.width() + p.x) as usize]),
        };
        out.insert(row.layer.clone(), v);
    }
    Ok(Json(serde_json::Value::Object(out)))
}
