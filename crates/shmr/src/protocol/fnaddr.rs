//! Functions named by their offset in the executable, so that a worker (the
//! same program, started again) can call what the coordinator names.

use serde::{Deserialize, Serialize};

/// A function's address as an offset from a fixed point in this executable,
/// which survives the re-execution of a worker (whose base address differs
/// under ASLR, but whose image has the same layout).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FnAddr(i64);

/// The fixed point. A static, not a function: a small function may be
/// copied into several codegen units, each copy at its own address, but a
/// static has exactly one.
static ANCHOR: u8 = 0;

fn anchor() -> usize {
    &ANCHOR as *const u8 as usize
}

impl FnAddr {
    pub(crate) fn of(addr: usize) -> FnAddr {
        FnAddr(addr.wrapping_sub(anchor()) as i64)
    }

    /// The function at this offset in this process.
    ///
    /// # Safety
    /// `self` must have been made by `FnAddr::of` from a function pointer of
    /// type `F` in a process running this same executable, and `F` must be a
    /// function pointer type.
    pub(crate) unsafe fn resolve<F: Copy>(self) -> F {
        const { assert!(size_of::<F>() == size_of::<usize>()) };
        let addr = anchor().wrapping_add(self.0 as usize);
        // SAFETY: by the caller's promise, `addr` is the address of a function
        // of type F in this executable's text, which the worker has mapped at
        // the same offset from `anchor` as the coordinator.
        unsafe { std::mem::transmute_copy::<usize, F>(&addr) }
    }
}
