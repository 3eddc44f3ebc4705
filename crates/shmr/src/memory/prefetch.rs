//! A hint to the processor to bring a value's cache line in, for tables
//! probed at random: a lookup issues it some work ahead of the probe, so
//! the line arrives while other work runs instead of stalling the probe.

/// Asks the processor to load the cache line holding `value` into all
/// cache levels; does nothing on processors without the instruction.
#[inline(always)]
pub(crate) fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `prefetch` is a hint: it never faults, reads nothing
    // architecturally and writes nothing, and SSE (its target feature) is
    // part of every x86_64 processor. The pointer comes from a reference,
    // so it is valid anyway.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(value).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}
