//! Instruction counts with SysTick under QEMU's `-icount shift=0`.
//!
//! With `-icount shift=0`, QEMU's virtual clock advances exactly 1 ns per
//! executed instruction, and SysTick counts the core clock (25 MHz on
//! `mps2-an386`: one tick is 40 instructions). [`Clock::calibrate`] measures
//! that ratio on a loop of known length ([`cortex_m::asm::delay`]: `subs;
//! bne` run `n + 1` times), and every figure is printed beside it. Without
//! `-icount` the counts mean nothing.
//!
//! [`Clock::report`] prints lines that start with `icount ` and have fixed
//! fields, for `scripts/icount.sh`. This module does not depend on the
//! runtime: `bench/microflow-ad01` measures another engine with it.

use core::hint::black_box;

use cortex_m::peripheral::{syst::SystClkSource, SYST};
use cortex_m_semihosting::hprintln;

/// Iterations of the calibration loop: `2 * (CALIB_LOOPS + 1)` = 2,000,000
/// instructions.
const CALIB_LOOPS: u32 = 999_999;
/// Instructions executed by the calibration loop.
pub const CALIB_INSTR: u64 = 2 * (CALIB_LOOPS as u64 + 1);

/// The free-running SysTick (24-bit down-counter, reload `0xFF_FFFF`),
/// owned so that nothing else reconfigures it, and its calibration.
pub struct Clock {
    _syst: SYST,
    /// Ticks the calibration loop took.
    calib: u32,
}

impl Clock {
    /// Starts SysTick from the core clock, calibrates it and prints the
    /// calibration line.
    pub fn start(mut syst: SYST) -> Self {
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(0x00FF_FFFF);
        syst.clear_current();
        syst.enable_counter();
        // Let it reach its first reload before the first read.
        cortex_m::asm::delay(1000);
        let mut clock = Clock {
            _syst: syst,
            calib: 1,
        };
        let ((), calib) = clock.ticks(&mut || cortex_m::asm::delay(black_box(CALIB_LOOPS)));
        clock.calib = calib.max(1);
        hprintln!(
            "icount calibration {} ticks for {} instructions",
            calib,
            CALIB_INSTR
        );
        clock
    }

    /// Ticks elapsed while `f` runs (at most 2^24 - 1).
    pub fn ticks<R>(&self, f: &mut dyn FnMut() -> R) -> (R, u32) {
        let f = black_box(f);
        let before = SYST::get_current();
        let r = f();
        let after = SYST::get_current();
        (r, before.wrapping_sub(after) & 0x00FF_FFFF)
    }

    /// Instructions executed in `ticks`, by the calibration.
    pub fn instructions(&self, ticks: u32) -> u64 {
        u64::from(ticks) * CALIB_INSTR / u64::from(self.calib)
    }

    /// Prints the `icount` line of one operation of model `name`: its
    /// instructions, MACs and instructions per MAC.
    pub fn report(&self, name: &str, op: &str, ticks: u32, macs: u64) {
        let n = self.instructions(ticks);
        // Hundredths of an instruction per MAC, printed as a decimal.
        let c = (n * 100 + macs / 2) / macs.max(1);
        hprintln!(
            "icount {:<6} {:<11} instructions {:>9}  macs {:>7}  per_mac {}.{:02}  (ticks {}, calibration {} ticks / {} instructions)",
            name, op, n, macs, c / 100, c % 100, ticks, self.calib, CALIB_INSTR
        );
    }
}
