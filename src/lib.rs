//! flawmap: Guided Collaborative Training (Ke et al., ECCV 2020) for pixel-wise
//! semi-supervised learning.
//!
//! The library is the training engine. It knows nothing of the web: a caller validates a
//! [`config::RunConfig`] into a [`config::ValidConfig`], hands it to [`engine::start`],
//! reads [`engine::Event`]s from a channel and may ask it to stop through an
//! [`engine::RunControl`]. The dashboard sits on top: `store` (SQLite), `runs` (the queue,
//! the recorder, studies; no HTTP) and `web` (axum).

pub mod config;
pub mod data;
pub mod device;
pub mod engine;
pub mod files;
pub mod gct;
pub mod host;
pub mod metrics;
pub mod models;
pub mod rng;
pub mod runs;
pub mod store;
pub mod study;
pub mod task;
pub mod web;
