//! Functions named by their offset in the executable, so that a worker (the
//! same program, started again) can call what the coordinator names.

use serde::{Deserialize, Serialize};
use std::marker::PhantomData;

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
    /// The address of `f`, which only a function pointer can give.
    pub(crate) fn of<F: FnPtr>(f: F) -> FnAddr {
        FnAddr(f.addr().wrapping_sub(anchor()) as i64)
    }

    /// The function at this offset in this process.
    ///
    /// # Safety
    /// `self` must have been made by `FnAddr::of` from a function pointer of
    /// type `F` in a process running this same executable.
    pub(crate) unsafe fn resolve<F: FnPtr>(self) -> F {
        const { assert!(size_of::<F>() == size_of::<usize>()) };
        let addr = anchor().wrapping_add(self.0 as usize);
        // SAFETY: by the caller's promise, `addr` is the address of a function
        // of type F in this executable's text, which the worker has mapped at
        // the same offset from `anchor` as the coordinator.
        unsafe { std::mem::transmute_copy::<usize, F>(&addr) }
    }
}

/// A function pointer type: what may be named by address.
///
/// # Safety
/// Implement it only for function pointer types (`fn(..) -> ..`), whose
/// values are one code address, and return that address from `addr`.
pub(crate) unsafe trait FnPtr: Copy {
    /// The function's address.
    fn addr(self) -> usize;
}

/// Implements [`FnPtr`] for function pointer types, generic parameters
/// first: `fn_ptr!([A, D, T] fn(ArrayView<'_, A, D>) -> T);`.
macro_rules! fn_ptr {
    ($([$($g:ident),*] $t:ty;)*) => {$(
        // SAFETY: `$t` is a function pointer type, one code address.
        unsafe impl<$($g),*> $crate::protocol::FnPtr for $t {
            fn addr(self) -> usize {
                self as usize
            }
        }
    )*};
}
pub(crate) use fn_ptr;

/// A function of type `F`, named by its address, as a job's message
/// carries it. Only a function of type `F` makes one, so the worker that
/// receives it calls a function of the type its entry point expects.
#[derive(Serialize, Deserialize)]
#[serde(transparent, bound = "")]
pub(crate) struct Func<F> {
    addr: FnAddr,
    #[serde(skip)]
    _f: PhantomData<fn() -> F>,
}

impl<F: FnPtr> Func<F> {
    pub(crate) fn new(f: F) -> Func<F> {
        Func {
            addr: FnAddr::of(f),
            _f: PhantomData,
        }
    }

    /// The function, in this process.
    ///
    /// # Safety
    /// `self` was made by [`Func::new`] in a process running this same
    /// executable (the coordinator; a worker checks at start-up that it runs
    /// the same build), and travelled here intact (decoded from its
    /// message). Then its address is that of a function of type `F` here.
    pub(crate) unsafe fn get(&self) -> F {
        // SAFETY: forwarded from the caller; `Func::new` took an `F`.
        unsafe { self.addr.resolve() }
    }
}
