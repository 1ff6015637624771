//! Shared logic of the fuzz targets in `fuzz_targets/`.
//!
//! An input of the `model` targets is a `.rrae` file followed by a *tail* of
//! operation parameters: the file is the first `file_len` bytes (the header
//! field, when the input is that long), the tail is the rest. The tail picks
//! buffer lengths (right or wrong) and input values (finite, raw bit
//! patterns, or NaN/Inf), so one input both corrupts the model and drives
//! every [`Model`] operation. An empty tail means "right sizes, finite
//! inputs", which is what the seed corpus (`examples/seeds.rs`) holds.
//!
//! Besides "never panics", [`exercise`] checks the documented contract: an
//! operation fails exactly when a buffer length is wrong, and `reconstruct`
//! equals `decode(encode(x))` bit for bit.

use rrae_format::header::{crc32, HEADER_LEN};
use rrae_format::{read, AlignedBytes, FormatError};
use rrae_runtime::{Error, Model};

/// Byte range of the header's `file_len` field.
const FILE_LEN: core::ops::Range<usize> = 32..36;
/// Byte range of the body CRC in the header.
const BODY_CRC: core::ops::Range<usize> = 40..44;
/// Byte range of the header CRC.
const HEADER_CRC: core::ops::Range<usize> = 44..48;

/// Splits an input into the file and the operation tail.
pub fn split(data: &[u8]) -> (&[u8], &[u8]) {
    let file_len = data
        .get(FILE_LEN)
        .and_then(|b| b.try_into().ok())
        .map_or(data.len(), |b| u32::from_le_bytes(b) as usize);
    data.split_at(file_len.min(data.len()))
}

/// Rewrites both CRCs of `file` (body first: it is part of the header) so
/// that mutations of the metadata and weights get past the checksums.
pub fn fix_crcs(file: &mut [u8]) {
    if file.len() < HEADER_LEN {
        return;
    }
    let body = crc32(&file[HEADER_LEN..]);
    file[BODY_CRC].copy_from_slice(&body.to_le_bytes());
    let header = crc32(&file[..HEADER_CRC.start]);
    file[HEADER_CRC].copy_from_slice(&header.to_le_bytes());
}

/// Reads `bytes` with the format reader and checks what a successful read
/// promises: the header re-encodes to the same bytes, the scratch size is the
/// computed one, every tensor is in bounds, and a misaligned copy is refused.
pub fn check_read(bytes: &[u8]) {
    let aligned = AlignedBytes::new(bytes);
    let Ok(file) = read(&aligned) else {
        return;
    };
    assert_eq!(file.header.encode()[..], aligned[..HEADER_LEN]);
    assert_eq!(
        rrae_format::scratch_floats(&file.meta),
        Ok(file.header.scratch)
    );
    if let Some(u) = file.meta.basis_tensor() {
        assert_eq!(file.tensor(u).len(), u.len as usize);
    }
    for layer in file.meta.encoder.iter().chain(&file.meta.decoder) {
        let (weight, bias) = (layer.weight(), layer.bias());
        assert_eq!(file.tensor(weight).len(), weight.len as usize);
        assert_eq!(file.tensor(bias).len(), bias.len as usize);
        assert!(layer.checked_dims().is_ok());
    }
    let shifted = AlignedBytes::new(&[&[0u8][..], bytes].concat());
    assert_eq!(read(&shifted[1..]).err(), Some(FormatError::Misaligned));
}

/// Operation parameters read from the tail; zeros once it is exhausted.
pub struct Params<'a> {
    tail: &'a [u8],
}

impl<'a> Params<'a> {
    /// Parameters from `tail`.
    pub fn new(tail: &'a [u8]) -> Self {
        Self { tail }
    }

    fn byte(&mut self) -> u8 {
        let (&b, rest) = self.tail.split_first().unwrap_or((&0, &[]));
        self.tail = rest;
        b
    }

    /// A buffer length near `exact`: mostly `exact`, sometimes one off,
    /// zero, or much longer.
    fn len(&mut self, exact: usize) -> usize {
        match self.byte() {
            0..=191 => exact,
            b => match b % 4 {
                0 => exact.saturating_sub(1),
                1 => exact + 1,
                2 => 0,
                _ => 2 * exact + 3,
            },
        }
    }

    /// A float from the next four tail bytes (any bit pattern).
    fn raw(&mut self) -> f32 {
        f32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }

    /// `n` values: finite and moderate, raw bit patterns, NaN/Inf and other
    /// extremes, or huge (overflowing) ones.
    fn values(&mut self, n: usize) -> Vec<f32> {
        const SPECIAL: [f32; 8] = [
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            -0.0,
            f32::MAX,
            f32::MIN,
            f32::MIN_POSITIVE,
            1e-45,
        ];
        let moderate = |i: usize| (i % 13) as f32 * 0.25 - 1.5;
        match self.byte() % 4 {
            0 => (0..n).map(moderate).collect(),
            1 => (0..n).map(|_| self.raw()).collect(),
            2 => (0..n).map(|i| SPECIAL[i % SPECIAL.len()]).collect(),
            _ => (0..n).map(|i| moderate(i) * 1e30).collect(),
        }
    }
}

/// Bit equality, with every NaN equal to every other.
fn same(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
}

/// `Ok` exactly when `sizes_ok`; any error is a length error.
fn expect(result: Result<(), Error>, sizes_ok: bool) {
    match result {
        Ok(()) => assert!(sizes_ok, "accepted a wrong buffer length"),
        Err(Error::BadLength { .. } | Error::BadCoefficients { .. })
        | Err(Error::ScratchTooSmall { .. })
            if !sizes_ok => {}
        Err(e) => panic!("unexpected error {e:?} (sizes ok: {sizes_ok})"),
    }
}

/// Runs every operation of `model` with buffers and inputs from `p`.
pub fn exercise(model: &Model<'_>, mut p: Params<'_>) {
    let (n, r, s) = (model.input_dim(), model.rank(), model.scratch_len());
    assert!(model.latent_dim() >= r && r >= 1 && n >= 1);
    let _ = (model.name(), model.meta());
    if let Some(u) = model.basis() {
        assert_eq!(u.len(), model.latent_dim() * r);
    }

    let x_len = p.len(n);
    let x = p.values(x_len);
    let mut scratch = vec![0.0; p.len(s)];
    let scratch_ok = scratch.len() >= s;

    let mut alpha = vec![0.0; p.len(r)];
    let encoded = x.len() == n && alpha.len() == r && scratch_ok;
    expect(model.encode(&x, &mut alpha, &mut scratch), encoded);

    let k = p.len(r);
    let coeffs = match alpha.get(..k) {
        Some(head) if encoded => head.to_vec(),
        _ => p.values(k),
    };
    let mut x_hat = vec![0.0; p.len(n)];
    let decode_ok = (1..=r).contains(&k) && x_hat.len() == n && scratch_ok;
    expect(model.decode(&coeffs, &mut x_hat, &mut scratch), decode_ok);

    let mut rec = vec![0.0; p.len(n)];
    let rec_ok = x.len() == n && rec.len() == n && scratch_ok;
    expect(model.reconstruct(&x, &mut rec, &mut scratch), rec_ok);
    // An int8 model keeps the code in int8 inside `reconstruct`; the round
    // trip through f32 is exact unless dequantizing the code overflows.
    let code_finite = model
        .code_qparams()
        .is_none_or(|c| (c.scale * 256.0).is_finite());
    if rec_ok && encoded && decode_ok && k == r && code_finite {
        assert!(same(&rec, &x_hat), "reconstruct != decode(encode(x))");
    }
    exercise_i8(model, &mut p, scratch_ok, &mut scratch);

    let z_len = p.len(r);
    let z = p.values(z_len);
    let mut drawn = vec![0.0; p.len(r)];
    match model.sample(&z, &mut drawn) {
        Err(Error::NoSampler) => assert!(model.meta().sampler.is_none()),
        result => expect(result, z.len() == r && drawn.len() == r),
    }

    let t = p.raw();
    let mut out = vec![0.0; p.len(alpha.len())];
    let lens_ok = z.len() == alpha.len() && out.len() == alpha.len();
    expect(Model::interpolate(&alpha, &z, t, &mut out), lens_ok);
}

/// The int8 entry points: length errors exactly when a length is wrong,
/// `reconstruct_i8 == decode_i8(encode_i8)`, and `NotQuantized` on f32 models.
fn exercise_i8(model: &Model<'_>, p: &mut Params<'_>, scratch_ok: bool, scratch: &mut [f32]) {
    let (n, r) = (model.input_dim(), model.rank());
    let x_len = p.len(n);
    let x: Vec<i8> = (0..x_len).map(|_| p.byte() as i8).collect();
    let mut code = vec![0i8; p.len(r)];
    let result = model.encode_i8(&x, &mut code, scratch);
    if model.code_qparams().is_none() {
        assert_eq!(result, Err(Error::NotQuantized));
        return;
    }
    let encoded = x.len() == n && code.len() == r && scratch_ok;
    expect(result, encoded);
    let k = p.len(r);
    let coeffs: Vec<i8> = match code.get(..k) {
        Some(head) if encoded => head.to_vec(),
        _ => (0..k).map(|_| p.byte() as i8).collect(),
    };
    let mut x_hat = vec![0i8; p.len(n)];
    let decode_ok = (1..=r).contains(&k) && x_hat.len() == n && scratch_ok;
    expect(model.decode_i8(&coeffs, &mut x_hat, scratch), decode_ok);
    let mut rec = vec![0i8; p.len(n)];
    let rec_ok = x.len() == n && rec.len() == n && scratch_ok;
    expect(model.reconstruct_i8(&x, &mut rec, scratch), rec_ok);
    if rec_ok && encoded && decode_ok && k == r {
        assert_eq!(rec, x_hat, "reconstruct_i8 != decode_i8(encode_i8(x))");
    }
}

/// The `model` targets: read the file part of `data` (after `prepare`, e.g.
/// fixing CRCs) and, if it loads, [`exercise`] it with the tail.
pub fn run_model(data: &[u8], prepare: impl FnOnce(&mut [u8])) {
    let (file, tail) = split(data);
    let mut bytes = AlignedBytes::new(file);
    prepare(&mut bytes);
    if let Ok(model) = Model::from_bytes(&bytes) {
        exercise(&model, Params::new(tail));
    }
}

/// `rrae_trainer::tflite::import` on arbitrary bytes: never panics, and an
/// imported model passes the reader and reconstructs a zero input.
pub fn check_import(bytes: &[u8]) {
    let Ok(m) = rrae_trainer::tflite::import(bytes, &Default::default()) else {
        return;
    };
    let file = AlignedBytes::new(&m.bytes);
    let model = Model::from_bytes(&file).expect("an imported model reads back");
    let mut scratch = vec![0.0; model.scratch_len()];
    let x = vec![0.0; model.input_dim()];
    let mut y = vec![0.0; model.input_dim()];
    model
        .reconstruct(&x, &mut y, &mut scratch)
        .expect("right buffer sizes");
}
