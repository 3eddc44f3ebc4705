//! Functions named by their offset in the executable, so that a worker (the
//! same program, started again) can call what the coordinator names.

use crate::error::{Error, Result};
use serde::{Deserialize, Deserializer, Serialize, de::Error as _};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};

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
    unsafe fn resolve<F: FnPtr>(self) -> F {
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
/// first: `fn_ptr!([A, D, T] fn(ArrayView<'_, A, D>) -> T);`. Only the
/// `fn(..) -> ..` form is accepted, so that whatever a caller writes, the
/// type is a function pointer; the layers above may then deny unsafe code.
macro_rules! fn_ptr {
    ($([$($g:ident),*] $(for<$($l:lifetime),*>)? fn($($a:ty),*) $(-> $r:ty)?;)*) => {$(
        // SAFETY: `fn(..) -> ..` is a function pointer type, one code address.
        #[allow(unsafe_code)]
        unsafe impl<$($g),*> $crate::protocol::FnPtr for $(for<$($l),*>)? fn($($a),*) $(-> $r)? {
            fn addr(self) -> usize {
                self as usize
            }
        }
    )*};
}
pub(crate) use fn_ptr;

/// Whether this process may decode function addresses: it is a worker
/// that has checked its coordinator runs the same build ([`trust`]).
static TRUSTED: AtomicBool = AtomicBool::new(false);

fn_ptr! {
    // The probe's type among them; a fold's start, bare and with
    // parameters.
    [T] fn() -> T;
    [P, T] fn(&P) -> T;
}

/// A function whose offset both sides compare: equal offsets mean the same
/// build (the same layout of the executable). Never inlined, so that it
/// has one address.
#[inline(never)]
pub(crate) fn probe() -> FnAddr {
    FnAddr::of(probe as fn() -> FnAddr)
}

/// Lets this process decode [`Func`]s if `theirs` (the coordinator's
/// [`probe`]) is ours: only a worker calls it, with its coordinator's.
pub(super) fn trust(theirs: FnAddr) -> Result<()> {
    if theirs != probe() {
        return Err(Error::Protocol(
            "the coordinator runs a different build of this program (was the executable replaced?)"
                .into(),
        ));
    }
    TRUSTED.store(true, Ordering::Release);
    Ok(())
}

/// A function of type `F`, named by its address, as a job's message
/// carries it. Only a function of type `F` makes one ([`Func::new`]), and
/// only a worker that has checked its coordinator runs the same build
/// decodes one, so [`Func::get`] always gives a function of type `F`.
#[derive(Serialize)]
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
    pub(crate) fn get(&self) -> F {
        // SAFETY: a `Func<F>` is made by `Func::new` from an F, or decoded,
        // which only succeeds in a worker that has checked (`trust`) that
        // its coordinator runs this same executable. The coordinator
        // encodes only `Func<F>`s it made, and the worker decodes each with
        // the type it was encoded with: the job's entry point, itself a
        // `Func`, is monomorphized for the message type the coordinator
        // encoded. So the address is that of a function of type F here.
        unsafe { self.addr.resolve() }
    }
}

impl<F> Clone for Func<F> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<F> Copy for Func<F> {}

impl<F> std::fmt::Debug for Func<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Func({:?})", self.addr)
    }
}

impl<'de, F> Deserialize<'de> for Func<F> {
    fn deserialize<De: Deserializer<'de>>(d: De) -> std::result::Result<Self, De::Error> {
        let addr = FnAddr::deserialize(d)?;
        if !TRUSTED.load(Ordering::Acquire) {
            return Err(De::Error::custom(
                "a function address reached a process that has not checked its sender's build",
            ));
        }
        Ok(Func {
            addr,
            _f: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn double(x: u64) -> u64 {
        2 * x
    }
    fn_ptr! {
        [] fn(u64) -> u64;
    }

    #[test]
    fn a_func_made_here_calls_its_function() {
        let f = Func::new(double as fn(u64) -> u64);
        assert_eq!(f.get()(21), 42);
    }

    /// Decoding is what a forged address would need: a process that has not
    /// checked its sender (this test binary, not a worker) refuses it.
    #[test]
    fn an_untrusted_process_refuses_to_decode_a_func() {
        let bytes = postcard::to_allocvec(&Func::new(double as fn(u64) -> u64)).unwrap();
        let err = postcard::from_bytes::<Func<fn(u64) -> u64>>(&bytes).unwrap_err();
        assert!(!TRUSTED.load(Ordering::Relaxed));
        assert_eq!(err, postcard::Error::SerdeDeCustom);
    }

    #[test]
    fn another_builds_probe_is_not_trusted() {
        let other = FnAddr(probe().0.wrapping_add(16));
        let err = trust(other).unwrap_err().to_string();
        assert!(err.contains("different build"), "{err}");
        assert!(!TRUSTED.load(Ordering::Relaxed));
    }
}
