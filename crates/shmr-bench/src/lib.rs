//! The shmr benchmark harness as a library: workloads written three ways
//! (single-process loop, rayon, shmr), the Python peer, overheads, the
//! report and its charts. `main.rs` drives a full run; the criterion benches
//! under `benches/` reuse the workloads.

pub mod chart;
pub mod data;
pub mod machine;
pub mod overheads;
pub mod phoenix;
pub mod python;
pub mod report;
pub mod text;
pub mod workloads;

/// A whole number of at least 1 from the command line, written plainly,
/// with underscores, or in exponent form (`1e8`, `100_000_000`).
pub fn whole_number(s: &str) -> Result<usize, String> {
    match s.replace('_', "").parse::<f64>() {
        Ok(v) if v >= 1.0 && v.fract() == 0.0 && v <= usize::MAX as f64 => Ok(v as usize),
        _ => Err(format!(
            "{s:?} is not a positive whole number (1e8 and 100_000_000 work)"
        )),
    }
}
