//! The shmr benchmark harness as a library: workloads written three ways
//! (single-process loop, rayon, shmr), the Python peer, overheads, the
//! report and its charts. `main.rs` drives a full run; the criterion benches
//! under `benches/` reuse the workloads.

pub mod chart;
pub mod data;
pub mod machine;
pub mod overheads;
pub mod python;
pub mod report;
pub mod workloads;
