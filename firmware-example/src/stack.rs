//! Stack high-water measurement by painting.
//!
//! cortex-m-rt places the stack at the top of RAM, growing down from
//! `_stack_start` to `_stack_end` (the end of `.bss`/`.uninit`). [`paint`]
//! fills the free part of that region — everything below the current stack
//! pointer — with [`PATTERN`]; [`measure`] runs a closure and finds the
//! lowest word no longer holding the pattern: the distance from the stack
//! pointer at the call to that word is the closure's peak stack use
//! (including the call itself and a few words of this module's own frames).
//!
//! This is the only `unsafe` in the firmware: volatile reads and writes of
//! RAM words that lie strictly below the live stack pointer, i.e. memory no
//! Rust object occupies. It is sound here because nothing else runs
//! concurrently (no interrupt handlers are enabled in this program).

use core::hint::black_box;

/// Fill value for unused stack words.
const PATTERN: u32 = 0xDEAD_BEEF;

extern "C" {
    /// Lowest address of the stack region (provided by cortex-m-rt's link.x).
    static _stack_end: u32;
    /// Highest address of the stack region (initial stack pointer).
    static _stack_start: u32;
}

fn stack_end() -> usize {
    (&raw const _stack_end) as usize
}

fn stack_start() -> usize {
    (&raw const _stack_start) as usize
}

/// Bytes left unpainted just below the stack pointer read at entry to
/// [`paint`]: the function's own prologue pushes registers (its return
/// address among them) there *after* that read.
const GUARD: usize = 64;

/// Paints every word from `_stack_end` up to `GUARD` bytes below the
/// stack pointer.
#[inline(never)]
pub fn paint() {
    let sp = (cortex_m::register::msp::read() as usize & !3) - GUARD;
    let mut p = stack_end();
    while p < sp {
        // SAFETY: `p` is word aligned and in [_stack_end, sp - GUARD): RAM
        // below the live stack (and below this function's own saved
        // registers) that no object occupies; no interrupts run.
        unsafe { core::ptr::write_volatile(p as *mut u32, PATTERN) };
        p += 4;
    }
}

/// Lowest address whose word no longer holds the pattern.
#[inline(never)]
fn low_water() -> usize {
    let sp = cortex_m::register::msp::read() as usize;
    let mut p = stack_end();
    // SAFETY: as in `paint`: aligned words in [_stack_end, sp), read only.
    while p < sp && unsafe { core::ptr::read_volatile(p as *const u32) } == PATTERN {
        p += 4;
    }
    p
}

/// Bytes between `_stack_end` and `_stack_start` (the whole stack region).
pub fn painted_bytes() -> usize {
    stack_start() - stack_end()
}

/// Runs `f` and returns its result with its peak stack use in bytes.
///
/// `f` is called through an opaque `dyn` pointer so that it cannot be
/// inlined into this frame (which would hide its locals from the count).
#[inline(never)]
pub fn measure<R>(f: &mut dyn FnMut() -> R) -> (R, usize) {
    let sp = cortex_m::register::msp::read() as usize;
    paint();
    let f = black_box(f);
    let r = f();
    let used = sp.saturating_sub(low_water());
    (r, used)
}
