//! Flash-cost probe for `scripts/footprint.sh`: the smallest program that
//! loads the embedded model, encodes one input and decodes it, with no
//! formatting at all (the exit code is the only output).
//!
//! Built twice: as is, and with feature `footprint-baseline`, which keeps the
//! same skeleton (input, exit) but never touches the runtime or the model.
//! `(text + rodata)` of the first minus the second, minus the model bytes, is
//! what the runtime adds to a firmware's flash: its code, its constant
//! tables, and the glue to call it. With `--features int8` it runs the int8
//! copy of the model through the same f32 API (int8 kernels linked).
#![no_std]
#![no_main]

use core::hint::black_box;

use cortex_m_rt::entry;
use cortex_m_semihosting::debug;

use rrae_firmware_example::shift_model::expected;
#[cfg(not(feature = "footprint-baseline"))]
use rrae_firmware_example::shift_model::MODEL;

#[cfg(not(feature = "footprint-baseline"))]
fn run(x: &[f32; expected::INPUT_DIM]) -> bool {
    let mut scratch = [0.0f32; expected::SCRATCH_FLOATS];
    let mut alpha = [0.0f32; expected::RANK];
    let mut x_hat = [0.0f32; expected::INPUT_DIM];
    let Ok(model) = rrae_runtime::Model::from_bytes(black_box(MODEL)) else { return false };
    model.encode(x, &mut alpha, &mut scratch).is_ok()
        && model.decode(&alpha, &mut x_hat, &mut scratch).is_ok()
        && x_hat.iter().all(|v| v.is_finite())
}

#[cfg(feature = "footprint-baseline")]
fn run(x: &[f32; expected::INPUT_DIM]) -> bool {
    x.iter().sum::<f32>().is_finite()
}

#[entry]
fn main() -> ! {
    let ok = run(black_box(&expected::INPUTS[0]));
    debug::exit(if ok { debug::EXIT_SUCCESS } else { debug::EXIT_FAILURE });
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}
