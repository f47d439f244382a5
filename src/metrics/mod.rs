//! Evaluation metrics, computed on the host from read-back predictions.

pub mod arbitration;
pub mod calibration;
pub mod mistakes;
pub mod ranking;
pub mod restoration;
pub mod saliency;
pub mod segmentation;
