//! rrae-runtime on a Cortex-M4F: load an embedded `.rrae` model, encode test
//! inputs to k coefficients, decode them (also progressively), sample and
//! interpolate, and check every result against the values the same runtime
//! computed on the host (`model/expected.rs`, written by `host-gen`).
//!
//! A second embedded model, a small CNN trained on the built-in 32x32
//! `2d_gaussian_shift_scale` images (`model/cnn.rrae`: Conv2d x 2 -> Dense ->
//! rank 2 -> Dense -> ConvTranspose2d x 2), is checked against the host's
//! `f64` reference (`model/cnn_expected.rs`).
//!
//! Prints by semihosting and ends QEMU with exit code 0 when every check
//! passes, 1 otherwise; a panic also exits with 1. It also measures the peak
//! stack of `encode` and `decode` (see [`stack`]) for `docs/FOOTPRINT.md`.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]

use core::hint::black_box;
use core::panic::PanicInfo;

use cortex_m_rt::entry;
use cortex_m_semihosting::hprintln;
use rrae_firmware_example::qemu::{exit, finish, on_panic};
use rrae_firmware_example::stack;
use rrae_runtime::{include_model, Model};

/// Values generated on the host by `host-gen` from `model/model.rrae`.
#[allow(clippy::excessive_precision, clippy::approx_constant)]
mod expected {
    include!("../model/expected.rs");
}
use expected::*;

/// The CNN example's test images and `f64` reference results (host-gen
/// `cnn-model`).
#[allow(clippy::excessive_precision, clippy::approx_constant)]
mod cnn_expected {
    include!("../model/cnn_expected.rs");
}
use cnn_expected::*;

/// The CNN model, embedded like [`MODEL`].
static CNN: &[u8] = include_model!("../model/cnn.rrae");

/// The model, embedded in flash, 16-byte aligned, read in place.
static MODEL: &[u8] = include_model!("../model/model.rrae");

/// Accepted difference between device and host results, relative to the
/// largest magnitude in the host vector: `max|dev - host| <= TOL * max|host|`.
///
/// Both sides run the same rrae-runtime source in IEEE-754 f32: Rust never
/// fuses a multiply and an add on its own, the transcendental functions come
/// from the same software `libm` on both, and the M4F's FPU runs with
/// flush-to-zero off. The results are therefore expected to be bit-identical
/// (the run prints how many are). The tolerance only leaves room for
/// legitimate reassociation/contraction in a future optimized kernel (a few
/// hundred ulps over a long dot product, ~1e-5); a real defect (wrong layer,
/// activation, index, normalization) shows up at 1e-2 or more.
///
/// The CNN's expected values come from the `f64` reference instead of the
/// host runtime, so they differ from the device's f32 results by rounding
/// (about 1e-6 relative; the host-gen check allows 1e-5 on the host).
const TOL: f32 = 1e-4;

/// Compares `dev` against `host`, prints the verdict, returns true when within [`TOL`].
fn check(label: &str, dev: &[f32], host: &[f32]) -> bool {
    let scale = host.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(f32::MIN_POSITIVE);
    let mut max_diff = 0.0f32;
    let mut exact = 0usize;
    for (d, h) in dev.iter().zip(host) {
        max_diff = max_diff.max((d - h).abs());
        exact += usize::from(d.to_bits() == h.to_bits());
    }
    let rel = max_diff / scale;
    // NaN compares false, so a NaN result fails.
    let ok = dev.len() == host.len() && rel <= TOL;
    hprintln!(
        "  check {:<22} {} (max rel. diff {:e}, {}/{} bit-exact)",
        label,
        if ok { "ok  " } else { "FAIL" },
        rel,
        exact,
        host.len()
    );
    ok
}

/// Relative L2 error `|x - x_hat| / |x|`.
fn rel_err(x: &[f32], x_hat: &[f32]) -> f32 {
    let num: f32 = x.iter().zip(x_hat).map(|(a, b)| (a - b) * (a - b)).sum();
    let den: f32 = x.iter().map(|a| a * a).sum();
    libm::sqrtf(num / den)
}

/// Prints a vector of coefficients on one line.
fn print_coeffs(label: &str, a: &[f32]) {
    hprintln!("  {} = [", label);
    for v in a {
        hprintln!("      {:+.6e},", v);
    }
    hprintln!("  ]");
}

#[entry]
fn main() -> ! {
    stack::paint();
    let mut ok = true;

    // The scratch buffer lives in main's frame, sized at compile time from the
    // model header's scratch value (written by host-gen into expected.rs).
    let mut scratch = [0.0f32; SCRATCH_FLOATS];

    // Peak stack of loading (validation, CRC, metadata decoding), measured once.
    let (_, peak_load) = stack::measure(&mut || Model::from_bytes(black_box(MODEL)).is_ok());
    let model = match Model::from_bytes(MODEL) {
        Ok(m) => m,
        Err(e) => {
            hprintln!("Model::from_bytes failed: {:?}", e);
            exit(false)
        }
    };
    let crc = u32::from_le_bytes([MODEL[40], MODEL[41], MODEL[42], MODEL[43]]);
    hprintln!(
        "model '{}': {} bytes, input_dim {}, latent_dim {}, rank {}, scratch {} floats",
        model.name(),
        MODEL.len(),
        model.input_dim(),
        model.latent_dim(),
        model.rank(),
        model.scratch_len()
    );
    if MODEL.len() != MODEL_LEN || crc != MODEL_BODY_CRC || model.name() != MODEL_NAME {
        hprintln!("model/model.rrae does not match model/expected.rs: run scripts/firmware.sh --regen");
        exit(false);
    }
    if model.scratch_len() > SCRATCH_FLOATS || model.input_dim() != INPUT_DIM || model.rank() != RANK {
        hprintln!("model shape does not match expected.rs");
        exit(false);
    }

    // ---- encode / decode every test input --------------------------------
    let mut peak_encode = 0usize;
    let mut peak_decode = 0usize;
    for (i, x) in INPUTS.iter().enumerate() {
        hprintln!("case {}:", i);
        let mut alpha = [0.0f32; RANK];
        let mut x_hat = [0.0f32; INPUT_DIM];

        let (r, used) = stack::measure(&mut || model.encode(black_box(x), &mut alpha, &mut scratch));
        peak_encode = peak_encode.max(used);
        if let Err(e) = r {
            hprintln!("  encode failed: {:?}", e);
            exit(false);
        }
        if cfg!(feature = "selftest-mismatch") && i == 0 {
            alpha[0] += 1e-2 * (1.0 + alpha[0].abs()); // must make the check fail
        }
        print_coeffs("alpha", &alpha);
        ok &= check("alpha", &alpha, &ALPHA[i]);

        let (r, used) = stack::measure(&mut || model.decode(black_box(&alpha), &mut x_hat, &mut scratch));
        peak_decode = peak_decode.max(used);
        if let Err(e) = r {
            hprintln!("  decode failed: {:?}", e);
            exit(false);
        }
        let err = rel_err(x, &x_hat);
        hprintln!("  relative error |x - x_hat| / |x| = {:.6} (host {:.6})", err, REL_ERR[i]);
        ok &= check("x_hat", &x_hat, &X_HAT[i]);
    }

    // ---- progressive decoding: the first j coefficients only -------------
    hprintln!("progressive decoding of case 0:");
    let mut alpha0 = [0.0f32; RANK];
    if model.encode(&INPUTS[0], &mut alpha0, &mut scratch).is_err() {
        exit(false);
    }
    for j in 1..=RANK {
        let mut x_hat = [0.0f32; INPUT_DIM];
        if let Err(e) = model.decode(&alpha0[..j], &mut x_hat, &mut scratch) {
            hprintln!("  decode(k' = {}) failed: {:?}", j, e);
            exit(false);
        }
        hprintln!(
            "  k' = {}: relative error {:.6} (host {:.6})",
            j,
            rel_err(&INPUTS[0], &x_hat),
            PROGRESSIVE_ERR[j - 1]
        );
        ok &= check("progressive x_hat", &x_hat, &PROGRESSIVE[j - 1]);
    }

    // ---- sampling: alpha = mean + chol z ----------------------------------
    if HAS_SAMPLER {
        hprintln!("sample:");
        let mut alpha = [0.0f32; RANK];
        let mut x_hat = [0.0f32; INPUT_DIM];
        if let Err(e) = model.sample(&Z, &mut alpha) {
            hprintln!("  sample failed: {:?}", e);
            exit(false);
        }
        print_coeffs("alpha", &alpha);
        ok &= check("sample alpha", &alpha, &SAMPLE_ALPHA);
        if model.decode(&alpha, &mut x_hat, &mut scratch).is_err() {
            exit(false);
        }
        ok &= check("sample x_hat", &x_hat, &SAMPLE_X_HAT);
    } else {
        hprintln!("sample: model has no sampler, skipped");
    }

    // ---- interpolation halfway between cases 0 and 1 ----------------------
    hprintln!("interpolate(case 0, case 1, 0.5):");
    let mut alpha = [0.0f32; RANK];
    let mut x_hat = [0.0f32; INPUT_DIM];
    if Model::interpolate(&ALPHA[0], &ALPHA[1], 0.5, &mut alpha).is_err()
        || model.decode(&alpha, &mut x_hat, &mut scratch).is_err()
    {
        exit(false);
    }
    ok &= check("interpolated alpha", &alpha, &INTERP_ALPHA);
    ok &= check("interpolated x_hat", &x_hat, &INTERP_X_HAT);

    // ---- the CNN: convolution layers against the f64 reference -------------
    ok &= run_cnn();

    // ---- footprint ----------------------------------------------------------
    hprintln!("stack: peak encode {} B, peak decode {} B (painted region {} B)", peak_encode, peak_decode, stack::painted_bytes());
    hprintln!("stack: peak from_bytes {} B (size of Model {} B)", peak_load, core::mem::size_of::<Model>());
    hprintln!("ram: scratch {} B ({} floats)", SCRATCH_FLOATS * 4, SCRATCH_FLOATS);

    if cfg!(feature = "selftest-panic") {
        panic!("selftest panic");
    }
    finish(ok)
}

/// Runs the CNN example: encode and decode every test image (and decode
/// from the first coefficient only), each checked against the host's `f64`
/// reference within [`TOL`]; prints its stack peaks and scratch.
#[inline(never)]
fn run_cnn() -> bool {
    let mut ok = true;
    let mut scratch = [0.0f32; CNN_SCRATCH_FLOATS];
    let model = match Model::from_bytes(CNN) {
        Ok(m) => m,
        Err(e) => {
            hprintln!("cnn: Model::from_bytes failed: {:?}", e);
            return false;
        }
    };
    let crc = u32::from_le_bytes([CNN[40], CNN[41], CNN[42], CNN[43]]);
    hprintln!(
        "cnn model '{}' ({}): {} bytes, format 1.{}, input_dim {} (1x{}x{}), rank {}, scratch {} floats",
        model.name(),
        CNN_SOURCE,
        CNN.len(),
        CNN[6],
        model.input_dim(),
        CNN_SIDE,
        CNN_SIDE,
        model.rank(),
        model.scratch_len()
    );
    if CNN.len() != CNN_LEN
        || crc != CNN_BODY_CRC
        || model.name() != CNN_NAME
        || model.scratch_len() > CNN_SCRATCH_FLOATS
        || model.input_dim() != CNN_INPUT_DIM
        || model.rank() != CNN_RANK
    {
        hprintln!("model/cnn.rrae does not match model/cnn_expected.rs: run scripts/firmware.sh --regen");
        return false;
    }
    let (mut peak_encode, mut peak_decode) = (0usize, 0usize);
    for (i, x) in CNN_INPUTS.iter().enumerate() {
        hprintln!("cnn case {}:", i);
        let mut alpha = [0.0f32; CNN_RANK];
        let mut x_hat = [0.0f32; CNN_INPUT_DIM];
        let (r, used) = stack::measure(&mut || model.encode(black_box(x), &mut alpha, &mut scratch));
        peak_encode = peak_encode.max(used);
        if r.is_err() {
            return false;
        }
        print_coeffs("alpha", &alpha);
        ok &= check("cnn alpha", &alpha, &CNN_ALPHA[i]);
        let (r, used) = stack::measure(&mut || model.decode(black_box(&alpha), &mut x_hat, &mut scratch));
        peak_decode = peak_decode.max(used);
        if r.is_err() {
            return false;
        }
        hprintln!("  relative error |x - x_hat| / |x| = {:.6}", rel_err(x, &x_hat));
        ok &= check("cnn x_hat", &x_hat, &CNN_X_HAT[i]);
        if model.decode(&alpha[..1], &mut x_hat, &mut scratch).is_err() {
            return false;
        }
        ok &= check("cnn x_hat (k' = 1)", &x_hat, &CNN_X_HAT_K1[i]);
    }
    hprintln!("cnn stack: encode {} B, decode {} B; cnn scratch {} B", peak_encode, peak_decode, CNN_SCRATCH_FLOATS * 4);
    ok
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    on_panic(info)
}
