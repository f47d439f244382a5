//! The GCT algorithm as pure tensor code (spec sections 2-5): the flaw detector's target
//! C(.), the flaw-map handler H(.), the dynamic-consistency targets and masks, the flaw
//! correction mask, the losses and the schedules. No I/O, no models.

pub mod class_swaps;
pub mod kernels;
pub mod losses;
pub mod ops;
pub mod schedule;
pub mod targets;
