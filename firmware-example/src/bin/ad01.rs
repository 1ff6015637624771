//! MLPerf Tiny AD01 (the anomaly-detection autoencoder, 640 -> 128 x 4 -> 8
//! -> 128 x 4 -> 640, 264,192 MACs) on the Cortex-M4F in QEMU, f32 or (with
//! `--features int8`) int8.
//!
//! The model is `trainer import tests/data/ad01/ad01_fp32.tflite` (or
//! `ad01_int8.tflite`), generated into `model/ad01.rrae` (`model/ad01-int8.rrae`)
//! by `scripts/firmware.sh` (not committed: 1.06 MB / 272 kB, made in a
//! second from the vendored `.tflite`); the f32 one needs the 4 MiB memory
//! layout (`memory/mps2-an386-4m.x`, chosen by `build.rs`), the int8 one fits
//! the 1 MiB part. The input is the real log-mel clip of `tests/data/ad01/`,
//! embedded as it is.
//!
//! Checks, against `model/ad01_expected.rs` (`model/ad01_int8_expected.rs`;
//! host-gen `ad01`: the same runtime on the host): the code and the
//! reconstruction of a few windows, bit for bit, and the anomaly score over
//! all 196 windows (bit for bit); int8: also the int8 reconstructions
//! (`reconstruct_i8`) of those windows, which the host test
//! `trainer/tests/tflite_import.rs` ties to TFLite Micro's. Counts the
//! instructions of `encode`, `decode` and `reconstruct` (the f32 API: int8
//! models quantize the input and dequantize the output, as MicroFlow's
//! `predict` does) and, int8, of `reconstruct_i8` of the first checked window
//! ([`rrae_firmware_example::icount`]; run under `-icount shift=0`, as
//! `scripts/icount.sh` does). Built only with `--features ad01`.
#![no_std]
#![no_main]

use core::hint::black_box;

use cortex_m_rt::entry;
use cortex_m_semihosting::hprintln;
use rrae_firmware_example::icount::Clock;
use rrae_firmware_example::macs::{model_macs, print_layers};
use rrae_firmware_example::qemu::{exit, finish, on_panic};
use rrae_firmware_example::{check_exact, stack};
use rrae_runtime::{include_model, Model};

#[allow(clippy::excessive_precision, clippy::approx_constant)]
mod expected {
    #[cfg(not(feature = "int8"))]
    include!("../../model/ad01_expected.rs");
    #[cfg(feature = "int8")]
    include!("../../model/ad01_int8_expected.rs");
}
use expected::*;

/// The imported AD01 model, 16-byte aligned, read in place.
#[cfg(not(feature = "int8"))]
static MODEL: &[u8] = include_model!("../../model/ad01.rrae");
/// The imported int8 AD01 model, 16-byte aligned, read in place.
#[cfg(feature = "int8")]
static MODEL: &[u8] = include_model!("../../model/ad01-int8.rrae");
/// The name in the printed rows.
const NAME: &str = if cfg!(feature = "int8") {
    "ad01i8"
} else {
    "ad01"
};
/// The real input: 200 frames x 128 log-mel bins, f32 little-endian.
static INPUT: &[u8] =
    include_bytes!("../../../tests/data/ad01/normal_id_01_00000000_hist_librosa.bin");
/// Mel bins per frame: window `i` starts at float `MELS * i`.
const MELS: usize = 128;

/// Window `i` of [`INPUT`] (None when out of range).
fn window(i: usize, out: &mut [f32; INPUT_DIM]) -> Option<()> {
    let bytes = INPUT.get(4 * MELS * i..4 * (MELS * i + INPUT_DIM))?;
    for (o, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
        *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    }
    Some(())
}

/// Mean squared error of one window, summed in index order as host-gen does.
fn mse(x: &[f32], x_hat: &[f32]) -> f32 {
    x.iter()
        .zip(x_hat)
        .fold(0.0f32, |s, (a, b)| s + (a - b) * (a - b))
        / x.len() as f32
}

#[entry]
fn main() -> ! {
    let Some(p) = cortex_m::Peripherals::take() else {
        exit(false)
    };
    let clock = Clock::start(p.SYST);
    let model = match Model::from_bytes(black_box(MODEL)) {
        Ok(m) => m,
        Err(e) => {
            hprintln!("{}: Model::from_bytes failed: {:?}", NAME, e);
            exit(false)
        }
    };
    let crc = u32::from_le_bytes([MODEL[40], MODEL[41], MODEL[42], MODEL[43]]);
    hprintln!(
        "{}: {} bytes, input_dim {}, rank {}, scratch {} floats ({} B)",
        NAME,
        MODEL.len(),
        model.input_dim(),
        model.rank(),
        model.scratch_len(),
        4 * model.scratch_len()
    );
    if MODEL.len() != MODEL_LEN || crc != MODEL_BODY_CRC || model.scratch_len() > SCRATCH_FLOATS {
        hprintln!(
            "{}: the model does not match its expected results: run scripts/firmware.sh --regen",
            NAME
        );
        exit(false)
    }
    let mut scratch = [0.0f32; SCRATCH_FLOATS];
    let mut x = [0.0f32; INPUT_DIM];
    let mut x_hat = [0.0f32; INPUT_DIM];
    let mut alpha = [0.0f32; RANK];
    let mut ok = true;

    // Instructions of one inference, on the first checked window.
    let (enc_macs, dec_macs) = model_macs(&model);
    print_layers(NAME, &model);
    if window(WINDOWS[0], &mut x).is_none() {
        exit(false)
    }
    let (r, t) = clock.ticks(&mut || model.encode(black_box(&x), &mut alpha, &mut scratch));
    clock.report(NAME, "encode", t, enc_macs);
    ok &= r.is_ok();
    let (r, t) = clock.ticks(&mut || model.decode(black_box(&alpha), &mut x_hat, &mut scratch));
    clock.report(NAME, "decode", t, dec_macs);
    ok &= r.is_ok();
    let (r, t) = clock.ticks(&mut || model.reconstruct(black_box(&x), &mut x_hat, &mut scratch));
    clock.report(NAME, "reconstruct", t, enc_macs + dec_macs);
    ok &= r.is_ok();

    // Peak stack of one encode and one decode (painting, outside the counts).
    let (_, enc_stack) =
        stack::measure(&mut || model.encode(black_box(&x), &mut alpha, &mut scratch));
    let (_, dec_stack) =
        stack::measure(&mut || model.decode(black_box(&alpha), &mut x_hat, &mut scratch));
    let (_, load_stack) = stack::measure(&mut || Model::from_bytes(black_box(MODEL)).is_ok());
    hprintln!(
        "{} ram: scratch {} B, peak stack encode {} B, decode {} B, from_bytes {} B",
        NAME,
        4 * SCRATCH_FLOATS,
        enc_stack,
        dec_stack,
        load_stack
    );

    #[cfg(feature = "int8")]
    {
        ok &= int8_checks(&model, &clock, &mut scratch, enc_macs + dec_macs);
    }

    // Values of the checked windows, bit for bit.
    for (k, &i) in WINDOWS.iter().enumerate() {
        hprintln!("window {}:", i);
        if window(i, &mut x).is_none()
            || model.encode(&x, &mut alpha, &mut scratch).is_err()
            || model.decode(&alpha, &mut x_hat, &mut scratch).is_err()
        {
            exit(false)
        }
        ok &= check_exact("alpha", &alpha, &ALPHA[k]);
        ok &= check_exact("x_hat", &x_hat, &X_HAT[k]);
    }

    // The anomaly score of the clip: every window.
    let mut sum = 0.0f32;
    for i in 0..N_WINDOWS {
        if window(i, &mut x).is_none() || model.reconstruct(&x, &mut x_hat, &mut scratch).is_err() {
            exit(false)
        }
        sum += mse(&x, &x_hat);
    }
    let score = sum / N_WINDOWS as f32;
    ok &= check_exact("anomaly score", &[score], &[SCORE]);
    hprintln!(
        "{}: anomaly score {} over {} windows (host {})",
        NAME,
        score,
        N_WINDOWS,
        SCORE
    );
    finish(ok)
}

/// Int8 only: counts `reconstruct_i8` of the first quantized window, measures
/// its peak stack and checks the int8 reconstructions of every checked
/// window against the host's, value for value.
#[cfg(feature = "int8")]
fn int8_checks(model: &Model<'_>, clock: &Clock, scratch: &mut [f32], macs: u64) -> bool {
    let mut y = [0i8; INPUT_DIM];
    let (r, t) = clock.ticks(&mut || model.reconstruct_i8(black_box(&XQ[0]), &mut y, scratch));
    clock.report(NAME, "reconstruct_i8", t, macs);
    let mut ok = r.is_ok();
    let (_, peak) =
        stack::measure(&mut || model.reconstruct_i8(black_box(&XQ[0]), &mut y, scratch));
    hprintln!("{} ram: peak stack reconstruct_i8 {} B", NAME, peak);
    let as_f32 = |q: &[i8; INPUT_DIM]| q.map(f32::from);
    for (k, xq) in XQ.iter().enumerate() {
        hprintln!("window {} (int8):", WINDOWS[k]);
        ok &= model.reconstruct_i8(xq, &mut y, scratch).is_ok();
        ok &= check_exact("x_hat int8", &as_f32(&y), &as_f32(&QX_HAT[k]));
    }
    ok
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    on_panic(info)
}
