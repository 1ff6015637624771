//! MLPerf Tiny AD01 (int8) run by the MicroFlow crate on the Cortex-M4F in
//! QEMU, measured like rrae-runtime: SysTick under `-icount shift=0`, with
//! the firmware example's own [`icount`] module (shared source), on the same
//! real input windows.
//!
//! MicroFlow compiles `tests/data/ad01/ad01_int8.tflite` into Rust at build
//! time (`#[model(..)]`); `predict` quantizes the f32 input with the model's
//! input scale, runs the int8 layers and dequantizes the output. Its outputs
//! are compared with rrae-runtime's f32 results of the f32 model (host-gen
//! `ad01`, `firmware-example/model/ad01_expected.rs`): a sanity check of the
//! int8 model's quantization error, not a bit-exact one (MicroFlow
//! requantizes in f32, not as TFLite's integer reference kernels). Also
//! measures the peak stack of `predict` with the firmware's [`stack`]
//! module: MicroFlow keeps every tensor on the stack.
//!
//! Run: `bash scripts/icount.sh --microflow` (builds this project with its
//! own lockfile and target dir, Debian rustc 1.96 + build-std as the
//! firmware example). MicroFlow 0.1.3 takes int8/uint8 models only: with
//! `ad01_fp32.tflite` its macro fails with "custom attribute panicked ...
//! message: not implemented".
#![no_std]
#![no_main]

use core::hint::black_box;

use cortex_m_rt::entry;
use cortex_m_semihosting::hprintln;
use microflow::buffer::Buffer2D;
use microflow::model;
use qemu::{exit, on_panic};

#[path = "../../../firmware-example/src/icount.rs"]
mod icount;
#[allow(dead_code)] // the firmware's module; `finish` is not used here
#[path = "../../../firmware-example/src/qemu.rs"]
mod qemu;
#[allow(unsafe_code, dead_code)] // the firmware's module; only `measure` is used here
#[path = "../../../firmware-example/src/stack.rs"]
mod stack;

#[allow(dead_code, clippy::excessive_precision)]
mod expected {
    include!("../../../firmware-example/model/ad01_expected.rs");
}

#[model("../../tests/data/ad01/ad01_int8.tflite")]
struct Ad01;

/// The real input: 200 frames x 128 log-mel bins, f32 little-endian.
static INPUT: &[u8] =
    include_bytes!("../../../tests/data/ad01/normal_id_01_00000000_hist_librosa.bin");
/// Floats per window (5 frames x 128 mel bins).
const DIM: usize = 640;
/// Multiply-adds of one AD01 inference.
const MACS: u64 = 264_192;
/// Largest accepted |int8 model - f32 model| relative to the window's
/// output scale: catches a broken engine, not quantization error.
const TOL: f32 = 0.1;

/// Window `i` of [`INPUT`]: floats `[128 i, 128 i + 640)`.
fn window(i: usize) -> Option<Buffer2D<f32, 1, DIM>> {
    let bytes = INPUT.get(4 * 128 * i..4 * (128 * i + DIM))?;
    Some(Buffer2D::from_fn(|_, j| {
        let c = &bytes[4 * j..4 * j + 4];
        f32::from_le_bytes([c[0], c[1], c[2], c[3]])
    }))
}

#[entry]
fn main() -> ! {
    let Some(p) = cortex_m::Peripherals::take() else {
        exit(false)
    };
    let clock = icount::Clock::start(p.SYST);
    let mut ok = true;
    for (k, &i) in expected::WINDOWS.iter().enumerate() {
        let Some(x) = window(i) else { exit(false) };
        let (y, t) = clock.ticks(&mut || Ad01::predict(black_box(x)));
        if k == 0 {
            clock.report("mflow", "reconstruct", t, MACS);
            let (_, used) = stack::measure(&mut || Ad01::predict(black_box(x)));
            hprintln!(
                "mflow ram: peak stack of predict {} B (no other buffer)",
                used
            );
        }
        let host = &expected::X_HAT[k];
        let scale = host.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let diff = y
            .iter()
            .zip(host)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        let rel = diff / scale;
        hprintln!(
            "window {}: max |microflow int8 - rrae f32| / max |rrae f32| = {}",
            i,
            rel
        );
        ok &= rel <= TOL;
    }
    hprintln!("{}", if ok { "RESULT: PASS" } else { "RESULT: FAIL" });
    exit(ok)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    on_panic(info)
}
