//! The `shift` model alone (f32, or its int8 copy with `--features int8`;
//! with `--features cnn8` the int8 CNN instead, M4F only),
//! small enough for a Cortex-M0 without FPU (the
//! micro:bit in QEMU: 256 kB flash, 16 kB RAM; `memory/microbit.x`), and
//! for the Cortex-M4F too.
//!
//! Encodes and decodes every test input of `model/expected.rs` and checks
//! the results against the host's bit for bit (both sides compute in IEEE
//! f32; on the M0 through compiler-builtins' soft-float routines), and
//! counts the instructions of the first `encode` and `decode`
//! ([`rrae_firmware_example::icount`]; `scripts/icount.sh` runs it under
//! `-icount shift=0`) and measures their peak stack (for
//! `scripts/footprint.sh`).
#![no_std]
#![no_main]

use core::hint::black_box;

use cortex_m_rt::entry;
use cortex_m_semihosting::hprintln;
use rrae_firmware_example::icount::Clock;
use rrae_firmware_example::macs::model_macs;
use rrae_firmware_example::qemu::{exit, finish, on_panic};
use rrae_firmware_example::{check_exact, stack};
use rrae_runtime::Model;

use rrae_firmware_example::shift_model::expected::*;
use rrae_firmware_example::shift_model::{MODEL, NAME};

#[entry]
fn main() -> ! {
    let Some(p) = cortex_m::Peripherals::take() else {
        exit(false)
    };
    let clock = Clock::start(p.SYST);
    let Ok(model) = Model::from_bytes(black_box(MODEL)) else {
        hprintln!("shift: Model::from_bytes failed");
        exit(false)
    };
    if MODEL.len() != MODEL_LEN || model.scratch_len() > SCRATCH_FLOATS {
        hprintln!("shift: model/model.rrae does not match model/expected.rs");
        exit(false)
    }
    let (enc_macs, dec_macs) = model_macs(&model);
    let mut scratch = [0.0f32; SCRATCH_FLOATS];
    let mut ok = true;
    for (i, x) in INPUTS.iter().enumerate() {
        let mut alpha = [0.0f32; RANK];
        let mut x_hat = [0.0f32; INPUT_DIM];
        let (r, t) = clock.ticks(&mut || model.encode(black_box(x), &mut alpha, &mut scratch));
        if i == 0 {
            clock.report(NAME, "encode", t, enc_macs);
        }
        ok &= r.is_ok();
        let (r, t) = clock.ticks(&mut || model.decode(black_box(&alpha), &mut x_hat, &mut scratch));
        if i == 0 {
            clock.report(NAME, "decode", t, dec_macs);
        }
        ok &= r.is_ok();
        hprintln!("case {}:", i);
        ok &= check_exact("alpha", &alpha, &ALPHA[i]);
        ok &= check_exact("x_hat", &x_hat, &X_HAT[i]);
    }
    // Peak stack of one encode and one decode (painting, outside the counts).
    let (mut alpha, mut x_hat) = ([0.0f32; RANK], [0.0f32; INPUT_DIM]);
    let (r, enc_stack) =
        stack::measure(&mut || model.encode(black_box(&INPUTS[0]), &mut alpha, &mut scratch));
    ok &= r.is_ok();
    let (r, dec_stack) =
        stack::measure(&mut || model.decode(black_box(&alpha), &mut x_hat, &mut scratch));
    ok &= r.is_ok();
    hprintln!(
        "{} ram: scratch {} B, peak stack encode {} B, decode {} B",
        NAME,
        4 * SCRATCH_FLOATS,
        enc_stack,
        dec_stack
    );
    finish(ok)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    on_panic(info)
}
