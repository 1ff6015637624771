//! Instruction counts of `encode`, `decode` and `reconstruct` on the
//! Cortex-M4F in QEMU (`scripts/icount.sh` builds, runs and tabulates it;
//! `scripts/firmware.sh` runs it as a regression check).
//!
//! Run under `qemu-system-arm -machine mps2-an386 -icount shift=0`, QEMU's
//! virtual clock advances exactly 1 ns per executed instruction, and SysTick
//! runs from the 25 MHz core clock: one tick is 40 instructions. The program
//! calibrates that ratio with a loop of known length
//! ([`cortex_m::asm::delay`]: `subs; bne` run `n + 1` times) and prints it
//! beside every figure. Without `-icount` the counts mean nothing.
//!
//! Multiply-adds (MACs) per call come from the model's layer shapes
//! ([`layer_macs`]). Output lines start with `icount ` and have fixed
//! fields, for the script to parse.
#![no_std]
#![no_main]

use core::hint::black_box;

use cortex_m::peripheral::{syst::SystClkSource, SYST};
use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use rrae_runtime::format::meta::{Basis, Layer};
use rrae_runtime::{include_model, Error, Model};

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

/// Iterations of the calibration loop: `2 * (CALIB_LOOPS + 1)` = 2,000,000
/// instructions.
const CALIB_LOOPS: u32 = 999_999;
/// Instructions executed by the calibration loop.
const CALIB_INSTR: u64 = 2 * (CALIB_LOOPS as u64 + 1);

/// The free-running SysTick (24-bit down-counter, reload `0xFF_FFFF`),
/// owned so that nothing else reconfigures it.
struct Clock {
    _syst: SYST,
}

impl Clock {
    fn start(mut syst: SYST) -> Self {
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(0x00FF_FFFF);
        syst.clear_current();
        syst.enable_counter();
        // Let it reach its first reload before the first read.
        cortex_m::asm::delay(1000);
        Clock { _syst: syst }
    }

    /// Ticks elapsed while `f` runs (at most 2^24 - 1, i.e. 671 M instructions).
    fn ticks<R>(&self, f: &mut dyn FnMut() -> R) -> (R, u32) {
        let f = black_box(f);
        let before = SYST::get_current();
        let r = f();
        let after = SYST::get_current();
        (r, before.wrapping_sub(after) & 0x00FF_FFFF)
    }
}

/// Multiply-adds of one layer: `in x out` for a dense layer; weights x
/// positions for a convolution (output positions for `Conv2d`, input
/// positions for `ConvTranspose2d`), counting the taps that fall into the
/// padding, which the kernels skip: an upper bound for convolutions.
fn layer_macs(layer: &Layer) -> u64 {
    let (inp, out) = layer.dims();
    // Either precision (int8 layers since format 1.2).
    let Some(c) = layer.conv_geometry() else {
        return u64::from(inp) * u64::from(out);
    };
    let taps = u64::from(c.kernel[0] * c.kernel[1]);
    match layer {
        Layer::ConvTranspose2d { .. } | Layer::QConvTranspose2d { .. } => {
            u64::from(inp) * u64::from(c.out_channels) * taps
        }
        _ => u64::from(out) * u64::from(c.in_channels) * taps,
    }
}

/// Multiply-adds of `encode` and `decode` with all `rank` coefficients
/// (plus `rank x latent` each for a basis stored separately).
fn model_macs(model: &Model) -> (u64, u64) {
    let meta = model.meta();
    let basis = match meta.basis {
        Basis::Separate { .. } => (model.rank() * model.latent_dim()) as u64,
        Basis::Folded { .. } => 0,
    };
    let sum = |ls: &[Layer]| ls.iter().map(layer_macs).sum::<u64>() + basis;
    (sum(&meta.encoder), sum(&meta.decoder))
}

/// Measures `encode`, `decode` and `reconstruct` of `model` on `x` and
/// prints one `icount` line each; returns false on a runtime error.
fn measure(clock: &Clock, calib: u32, name: &str, model: &Model, x: &[f32], bufs: Buffers) -> bool {
    let Buffers {
        alpha,
        x_hat,
        scratch,
    } = bufs;
    let (enc_macs, dec_macs) = model_macs(model);
    let meta = model.meta();
    for (part, layers) in [("encoder", &meta.encoder), ("decoder", &meta.decoder)] {
        for l in layers.iter() {
            let (i, o) = l.dims();
            let kind = if l.is_conv() { "conv" } else { "dense" };
            hprintln!(
                "icount {:<6} {} {} {} -> {}, {} MACs, {:?}",
                name,
                part,
                kind,
                i,
                o,
                layer_macs(l),
                l.activation()
            );
        }
    }
    let instr = |ticks: u32| u64::from(ticks) * CALIB_INSTR / u64::from(calib.max(1));
    let report = |op: &str, r: Result<(), Error>, ticks: u32, macs: u64| {
        let n = instr(ticks);
        // Hundredths of an instruction per MAC, printed as a decimal.
        let c = (n * 100 + macs / 2) / macs.max(1);
        hprintln!(
            "icount {:<6} {:<11} instructions {:>9}  macs {:>7}  per_mac {}.{:02}  (ticks {}, calibration {} ticks / {} instructions)",
            name, op, n, macs, c / 100, c % 100, ticks, calib, CALIB_INSTR
        );
        r.is_ok()
    };
    let (r, t) = clock.ticks(&mut || model.encode(black_box(x), alpha, scratch));
    let mut ok = report("encode", r, t, enc_macs);
    let (r, t) = clock.ticks(&mut || model.decode(black_box(alpha), x_hat, scratch));
    ok &= report("decode", r, t, dec_macs);
    let (r, t) = clock.ticks(&mut || model.reconstruct(black_box(x), x_hat, scratch));
    ok &= report("reconstruct", r, t, enc_macs + dec_macs);
    ok
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
    let (_, calib) = clock.ticks(&mut || cortex_m::asm::delay(black_box(CALIB_LOOPS)));
    hprintln!(
        "icount calibration {} ticks for {} instructions",
        calib,
        CALIB_INSTR
    );

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
    ok &= measure(&clock, calib, "shift", &shift, &expected::INPUTS[0], bufs);

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
    ok &= measure(
        &clock,
        calib,
        "cnn",
        &cnn,
        &cnn_expected::CNN_INPUTS[0],
        bufs,
    );
    exit(ok)
}

/// Ends the QEMU session (exit code 0 on success, 1 otherwise).
fn exit(success: bool) -> ! {
    debug::exit(if success {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    exit(false)
}
