//! Link-time proof that `rrae-runtime` and the `rrae-format` reader contain no
//! reachable panic.
//!
//! The program feeds every public operation inputs the optimizer cannot know
//! (model bytes, buffer lengths and values all pass through
//! [`core::hint::black_box`]), and its `#[panic_handler]` calls
//! `rrae_panic_is_reachable`, a function that is declared but defined
//! nowhere. If any panic path survives release optimization (LTO, one codegen
//! unit, `panic = "abort"`), the handler is referenced and **linking fails**
//! with `undefined symbol: rrae_panic_is_reachable`. A successful link is the
//! proof; the binary is never run.
//!
//! With `--features selftest-panic` one deliberate out-of-bounds index is
//! added, so the link must fail: `scripts/panic-check.sh` checks both.
#![no_std]
#![no_main]

use core::hint::black_box;
use core::panic::PanicInfo;

use cortex_m_rt::entry;
use rrae_runtime::format::meta::TensorRef;
use rrae_runtime::format::{self, Aligned, Header};
use rrae_runtime::Model;

/// Stand-in for a model in flash. Its content and length reach the code only
/// through `black_box`, so nothing about them is known at compile time.
static MODEL: Aligned<[u8; 1024]> = Aligned([0; 1024]);

/// Buffer capacity; the lengths actually passed are opaque.
const CAP: usize = 64;

/// `s` with a length (and contents) the optimizer cannot see.
fn opaque(s: &mut [f32]) -> &mut [f32] {
    black_box(s)
}

/// Keeps `v` alive: the optimizer must assume it is used.
fn keep<T>(v: T) {
    black_box(v);
}

/// Every public operation on `bytes`, each result kept alive with `black_box`.
fn exercise(bytes: &[u8]) {
    keep(Header::parse(bytes));
    if let Ok(file) = black_box(format::read(bytes)) {
        keep(format::scratch_floats(&file.meta));
        let (offset, len) = black_box((16, 4));
        keep(file.tensor(TensorRef { offset, len }));
        keep(file.tensor_i8(TensorRef { offset, len }));
        keep(file.tensor_i32(TensorRef { offset, len }));
        keep(file.weights());
    }
    let Ok(model) = Model::from_bytes(bytes) else {
        return;
    };
    keep((model.input_dim(), model.latent_dim(), model.rank()));
    keep((model.scratch_len(), model.name()));
    keep((model.meta(), model.basis()));

    let (mut x, mut alpha, mut x_hat) = ([0.0f32; CAP], [0.0f32; CAP], [0.0f32; CAP]);
    let (mut z, mut scratch, mut out) = ([0.0f32; CAP], [0.0f32; 4 * CAP], [0.0f32; CAP]);
    let (x, alpha, x_hat) = (opaque(&mut x), opaque(&mut alpha), opaque(&mut x_hat));
    let (z, scratch, out) = (opaque(&mut z), opaque(&mut scratch), opaque(&mut out));

    keep(model.encode(x, alpha, scratch));
    keep(model.decode(alpha, x_hat, scratch));
    keep(model.reconstruct(x, x_hat, scratch));
    keep(model.sample(z, alpha));
    keep(Model::interpolate(alpha, z, black_box(0.5), out));
    keep((&*alpha, &*x_hat, &*out));

    // The int8 entry points (the f32 ones above also reach the int8 kernels
    // when the opaque bytes hold an int8 model).
    keep((model.input_qparams(), model.code_qparams(), model.output_qparams()));
    let (mut xq, mut code, mut outq) = ([0i8; CAP], [0i8; CAP], [0i8; CAP]);
    let (xq, code, outq) = (black_box(&mut xq[..]), black_box(&mut code[..]), black_box(&mut outq[..]));
    keep(model.encode_i8(xq, code, scratch));
    keep(model.decode_i8(code, outq, scratch));
    keep(model.reconstruct_i8(xq, outq, scratch));
    keep((&*code, &*outq));
}

#[entry]
fn main() -> ! {
    loop {
        exercise(black_box(&MODEL.0[..]));
        #[cfg(feature = "selftest-panic")]
        keep([0u8][black_box(1)]);
    }
}

extern "C" {
    /// Deliberately never defined: referencing it fails the link.
    fn rrae_panic_is_reachable() -> !;
}

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    // SAFETY: never executed; the program links only if this is unreachable.
    unsafe { rrae_panic_is_reachable() }
}
