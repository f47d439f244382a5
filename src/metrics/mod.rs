//! Evaluation metrics, computed on the host from read-back predictions.

pub mod auroc;
pub mod restoration;
pub mod segmentation;
