//! Instruction counts of `encode`, `decode` and `reconstruct` on the
//! Cortex-M4F in QEMU (`scripts/icount.sh` builds, runs and tabulates it;
//! `scripts/firmware.sh` runs it as a regression check). The method is in
//! [`rrae_firmware_example::icount`]; run under `qemu-system-arm -machine
//! mps2-an386 -icount shift=0`, without `-icount` the counts mean nothing.
#![no_std]
#![no_main]

use core::hint::black_box;

use cortex_m_rt::entry;
use cortex_m_semihosting::hprintln;
use rrae_firmware_example::icount::Clock;
use rrae_firmware_example::macs::{model_macs, print_layers};
use rrae_firmware_example::qemu::exit;
use rrae_runtime::{include_model, Model};

#[allow(dead_code, clippy::excessive_precision, clippy::approx_constant)]
mod expected {
    include!("../../model/expected.rs");
}
#[allow(dead_code, clippy::excessive_precision, clippy::approx_constant)]
mod cnn_expected {
    include!("../../model/cnn_expected.rs");
}

static MODEL: &[u8] = include_model!("../../model/model.rrae");
static CNN: &[u8] = include_model!("../../model/cnn.rrae");

/// Measures `encode`, `decode` and `reconstruct` of `model` on `x` and
/// prints one `icount` line each; returns false on a runtime error.
fn measure(clock: &Clock, name: &str, model: &Model, x: &[f32], bufs: Buffers) -> bool {
    let Buffers {
        alpha,
        x_hat,
        scratch,
    } = bufs;
    let (enc_macs, dec_macs) = model_macs(model);
    print_layers(name, model);
    let (r, t) = clock.ticks(&mut || model.encode(black_box(x), alpha, scratch));
    clock.report(name, "encode", t, enc_macs);
    let mut ok = r.is_ok();
    let (r, t) = clock.ticks(&mut || model.decode(black_box(alpha), x_hat, scratch));
    clock.report(name, "decode", t, dec_macs);
    ok &= r.is_ok();
    let (r, t) = clock.ticks(&mut || model.reconstruct(black_box(x), x_hat, scratch));
    clock.report(name, "reconstruct", t, enc_macs + dec_macs);
    ok && r.is_ok()
}

/// Caller-owned buffers of one model.
struct Buffers<'b> {
    alpha: &'b mut [f32],
    x_hat: &'b mut [f32],
    scratch: &'b mut [f32],
}

#[entry]
fn main() -> ! {
    let Some(p) = cortex_m::Peripherals::take() else {
        exit(false)
    };
    let clock = Clock::start(p.SYST);

    let mut ok = true;
    let (Ok(shift), Ok(cnn)) = (
        Model::from_bytes(black_box(MODEL)),
        Model::from_bytes(black_box(CNN)),
    ) else {
        hprintln!("icount: a model does not load");
        exit(false)
    };
    let mut scratch = [0.0f32; expected::SCRATCH_FLOATS];
    let (mut alpha, mut x_hat) = ([0.0f32; expected::RANK], [0.0f32; expected::INPUT_DIM]);
    let bufs = Buffers {
        alpha: &mut alpha,
        x_hat: &mut x_hat,
        scratch: &mut scratch,
    };
    ok &= measure(&clock, "shift", &shift, &expected::INPUTS[0], bufs);

    let mut scratch = [0.0f32; cnn_expected::CNN_SCRATCH_FLOATS];
    let (mut alpha, mut x_hat) = (
        [0.0f32; cnn_expected::CNN_RANK],
        [0.0f32; cnn_expected::CNN_INPUT_DIM],
    );
    let bufs = Buffers {
        alpha: &mut alpha,
        x_hat: &mut x_hat,
        scratch: &mut scratch,
    };
    ok &= measure(&clock, "cnn", &cnn, &cnn_expected::CNN_INPUTS[0], bufs);
    exit(ok)
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    exit(false)
}
