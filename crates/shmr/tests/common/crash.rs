//! Mappers that crash their worker on purpose, for the fault tests.

use ndarray::ArrayView1;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The value that makes `crashing_sum` crash when a chunk holds it.
pub const TRIGGER: f64 = -7.25;

/// How a mapper brings its worker down.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub enum How {
    Abort,
    Segfault,
    /// A Rust allocation that fails aborts the process, as when the
    /// system is out of memory.
    OutOfMemory,
    StackOverflow,
    Exit,
    /// Never returns.
    Hang,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Crash {
    pub how: How,
    /// With a marker path, only the first worker to reach the trigger
    /// crashes (it creates the file, holding its pid); without, every one.
    pub once: Option<String>,
}

pub fn crash(how: How) -> ! {
    match how {
        How::Abort => std::process::abort(),
        How::Segfault => {
            // SAFETY: none; this is the point. A write through a null pointer
            // is the archetypal crash of native code called from a mapper.
            unsafe { std::ptr::null_mut::<u64>().write_volatile(1) };
            unreachable!()
        }
        How::OutOfMemory => {
            let v = vec![1u8; 1 << 40];
            std::hint::black_box(&v);
            unreachable!()
        }
        How::StackOverflow => {
            #[allow(unconditional_recursion)] // until the stack runs out
            fn deeper(n: u64) -> u64 {
                let pad = std::hint::black_box([n; 64]);
                deeper(pad[3] + 1) + pad[7]
            }
            deeper(0);
            unreachable!()
        }
        How::Exit => std::process::exit(7),
        How::Hang => loop {
            std::thread::sleep(Duration::from_secs(1));
        },
    }
}

pub fn crashing_sum(p: &Crash, c: ArrayView1<'_, f64>) -> f64 {
    if c.iter().any(|&x| x == TRIGGER) {
        let first = match &p.once {
            None => true,
            Some(path) => std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .and_then(|mut f| {
                    use std::io::Write;
                    writeln!(f, "{}", std::process::id())
                })
                .is_ok(),
        };
        if first {
            crash(p.how);
        }
    }
    c.sum()
}
