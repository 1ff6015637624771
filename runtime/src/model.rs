//! [`Model`]: a validated model borrowed from its file bytes, and the
//! operations on it (encode, decode, reconstruct, sample, interpolate).

use core::mem::swap;

use rrae_format::meta::{Basis, Layer, ModelMeta, Normalization, QParams};
use rrae_format::ModelFile;

use crate::error::Error;
use crate::int8;
use crate::kernels::{conv, dense, matvec, matvec_t};

/// A model read from a `.rrae` file, borrowing its weights in place.
///
/// Built by [`Model::from_bytes`], which validates the whole file once; after
/// that, operations fail only on caller mistakes (buffer lengths), reported
/// as [`Error`]s. All memory is the caller's: inputs, outputs, and a scratch
/// buffer of at least [`scratch_len`](Self::scratch_len) floats.
#[derive(Debug, Clone)]
pub struct Model<'a> {
    file: ModelFile<'a>,
}

/// `Ok` if `got == expected`.
/// Progressive decoding takes `1..=rank` coefficients.
impl Model<'_> {
    fn check_coefficients(&self, got: usize) -> Result<(), Error> {
        let rank = self.rank();
        if got == 0 || got > rank {
            Err(Error::BadCoefficients { rank, got })
        } else {
            Ok(())
        }
    }
}

fn check_len(what: &'static str, expected: usize, got: usize) -> Result<(), Error> {
    if got == expected {
        Ok(())
    } else {
        Err(Error::BadLength {
            what,
            expected,
            got,
        })
    }
}

/// The first `n` elements (all of `s` if shorter; never the case for a
/// validated model, whose widths fit the scratch).
fn head<T>(s: &[T], n: usize) -> &[T] {
    s.get(..n).unwrap_or(s)
}

/// Mutable [`head`].
fn head_mut<T>(s: &mut [T], n: usize) -> &mut [T] {
    let n = n.min(s.len());
    s.split_at_mut(n).0
}

impl<'a> Model<'a> {
    /// Reads and validates a model file (see [`rrae_format::read`]).
    ///
    /// `bytes` must be exactly the file, 4-byte aligned: embed it with
    /// [`include_model!`](crate::include_model) or copy it into an aligned
    /// buffer. Any defect gives [`Error::Format`].
    /// A model of a kind whose cargo feature is off (`f32`, `int8`) gives
    /// [`Error::Disabled`].
    ///
    /// The metadata (4 kB) is decoded straight into the returned value
    /// ([`ModelFile::read_into`]), so loading needs about that much stack
    /// besides the result.
    // Inlined so that `out` is the caller's own result: a call would build
    // `out` in this frame and copy it to the caller's (rustc does not
    // construct a returned `Result` in place), another 4 kB of stack.
    #[inline(always)]
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Model<'a>, Error> {
        // Filled where it is returned: building a `Model` and then wrapping
        // it in `Ok` would put one more copy of it on the stack.
        let mut out = Ok(Model {
            file: ModelFile::empty(),
        });
        if let Ok(model) = &mut out {
            if let Err(e) = model.load(bytes) {
                out = Err(e);
            }
        }
        out
    }

    /// Reads `bytes` into `self` ([`ModelFile::read_into`]) and refuses a
    /// model whose kind's feature is off. Not inlined: its callees' frames
    /// stay out of the caller of [`from_bytes`](Self::from_bytes).
    #[inline(never)]
    fn load(&mut self, bytes: &'a [u8]) -> Result<(), Error> {
        self.file.read_into(bytes)?;
        match self.file.meta.is_quantized() {
            true if !cfg!(feature = "int8") => Err(Error::Disabled { feature: "int8" }),
            false if !cfg!(feature = "f32") => Err(Error::Disabled { feature: "f32" }),
            _ => Ok(()),
        }
    }

    /// Features per sample (length of `x` and `x_hat`).
    pub fn input_dim(&self) -> usize {
        self.file.meta.input_dim as usize
    }

    /// Width of the latent space before truncation.
    pub fn latent_dim(&self) -> usize {
        self.file.meta.latent_dim as usize
    }

    /// Number of coefficients (length of `alpha`).
    pub fn rank(&self) -> usize {
        self.file.meta.rank as usize
    }

    /// Floats of scratch every operation needs (a longer buffer is fine);
    /// an int8 model uses them as bytes.
    pub fn scratch_len(&self) -> usize {
        self.file.header.scratch as usize
    }

    /// The model's name.
    pub fn name(&self) -> &'a str {
        self.file.meta.name
    }

    /// All metadata, for inspection.
    pub fn meta(&self) -> &ModelMeta<'a> {
        &self.file.meta
    }

    /// `U_k` (`latent_dim x rank`, row-major), if the file stores it.
    pub fn basis(&self) -> Option<&'a [f32]> {
        self.file.meta.basis_tensor().map(|u| self.file.tensor(u))
    }

    /// Encodes `x` (`input_dim`) into its `rank` coefficients `alpha`:
    /// normalize, run the encoder, then `alpha = U_k^T y` for a separate basis.
    ///
    /// On an int8 model: normalize and quantize `x` (TFLite's `QUANTIZE`),
    /// run the int8 encoder, dequantize the code.
    pub fn encode(&self, x: &[f32], alpha: &mut [f32], scratch: &mut [f32]) -> Result<(), Error> {
        check_len("x", self.input_dim(), x.len())?;
        check_len("alpha", self.rank(), alpha.len())?;
        if let Some(p) = self.int8_code() {
            let (a, b) = self.split_i8(scratch)?;
            self.quantize_input(x, a);
            let (code, _) = self.q_encoder(a, b);
            for (d, &q) in alpha.iter_mut().zip(code.iter()) {
                *d = int8::dequantize(q, p);
            }
            return Ok(());
        }
        let (a, b) = self.split(scratch)?;
        let (y, _, len) = self.encoder(x, a, b);
        self.coefficients(head(y, len), alpha);
        Ok(())
    }

    /// Decodes `alpha` into `x_hat` (`input_dim`): `y = U_k alpha` for a
    /// separate basis, run the decoder, de-normalize.
    ///
    /// Progressive decoding: `alpha` may hold only the first `k' <= rank`
    /// coefficients (at least one); the missing ones count as zero (on an
    /// int8 model: the code's zero point, which stands for zero).
    ///
    /// On an int8 model: quantize `alpha` with [`code_qparams`](Self::code_qparams),
    /// run the int8 decoder, dequantize and de-normalize.
    pub fn decode(
        &self,
        alpha: &[f32],
        x_hat: &mut [f32],
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        self.check_coefficients(alpha.len())?;
        check_len("x_hat", self.input_dim(), x_hat.len())?;
        if let Some(p) = self.int8_code() {
            let (a, b) = self.split_i8(scratch)?;
            for (i, d) in head_mut(a, self.rank()).iter_mut().enumerate() {
                *d = alpha
                    .get(i)
                    .map_or(p.zero_point as i8, |&v| int8::quantize(v, p));
            }
            let out = self.q_decoder(a, b);
            self.dequantize_output(out, x_hat);
            return Ok(());
        }
        let (a, b) = self.split(scratch)?;
        a.iter_mut().zip(alpha).for_each(|(d, s)| *d = *s);
        self.decoder(a, b, alpha.len(), x_hat);
        Ok(())
    }

    /// `decode(encode(x))` without a caller buffer for the coefficients
    /// (an int8 model keeps the code in int8 between the two).
    pub fn reconstruct(
        &self,
        x: &[f32],
        x_hat: &mut [f32],
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        check_len("x", self.input_dim(), x.len())?;
        check_len("x_hat", self.input_dim(), x_hat.len())?;
        if self.int8_code().is_some() {
            let (a, b) = self.split_i8(scratch)?;
            self.quantize_input(x, a);
            let (code, free) = self.q_encoder(a, b);
            let out = self.q_decoder(code, free);
            self.dequantize_output(out, x_hat);
            return Ok(());
        }
        let (a, b) = self.split(scratch)?;
        let (y, free, len) = self.encoder(x, a, b);
        self.coefficients(head(y, len), head_mut(free, self.rank()));
        self.decoder(free, y, self.rank(), x_hat);
        Ok(())
    }

    /// Maps standard-normal draws `z` to coefficients of the training
    /// distribution: `alpha = mean + L z` (both of length `rank`).
    pub fn sample(&self, z: &[f32], alpha: &mut [f32]) -> Result<(), Error> {
        let sampler = self.file.meta.sampler.ok_or(Error::NoSampler)?;
        check_len("z", self.rank(), z.len())?;
        check_len("alpha", self.rank(), alpha.len())?;
        matvec(self.file.tensor(sampler.chol), self.rank(), z, &[], alpha);
        for (a, m) in alpha.iter_mut().zip(self.file.tensor(sampler.mean)) {
            *a += m;
        }
        Ok(())
    }

    /// Linear interpolation in coefficient space: `out = a + t (b - a)`
    /// (`t` outside `[0, 1]` extrapolates). All three slices have one length.
    ///
    /// ```
    /// let mut out = [0.0; 2];
    /// rrae_runtime::Model::interpolate(&[0.0, 2.0], &[1.0, 4.0], 0.5, &mut out)?;
    /// assert_eq!(out, [0.5, 3.0]);
    /// # Ok::<(), rrae_runtime::Error>(())
    /// ```
    pub fn interpolate(a: &[f32], b: &[f32], t: f32, out: &mut [f32]) -> Result<(), Error> {
        check_len("b", a.len(), b.len())?;
        check_len("out", a.len(), out.len())?;
        for ((o, a), b) in out.iter_mut().zip(a).zip(b) {
            *o = a + t * (b - a);
        }
        Ok(())
    }

    /// Whether the model's layers are int8 (format 1.2).
    pub fn is_quantized(&self) -> bool {
        self.file.meta.is_quantized()
    }

    /// Quantization of the int8 input `x` (that of the first encoder
    /// layer), `None` for an f32 model.
    pub fn input_qparams(&self) -> Option<QParams> {
        self.file.meta.encoder.first()?.quant().map(|q| q.input)
    }

    /// Quantization of the int8 code (the coefficients: the last encoder
    /// layer's output), `None` for an f32 model.
    pub fn code_qparams(&self) -> Option<QParams> {
        let q = self.file.meta.encoder.last()?.quant()?;
        Some(q.output_qparams())
    }

    /// Quantization of the int8 output `x_hat` (the last decoder layer's
    /// output), `None` for an f32 model.
    pub fn output_qparams(&self) -> Option<QParams> {
        let q = self.file.meta.decoder.last()?.quant()?;
        Some(q.output_qparams())
    }

    /// Int8 [`encode`](Self::encode): `x` (`input_dim`, quantized with
    /// [`input_qparams`](Self::input_qparams)) to the `rank` int8
    /// coefficients `code` ([`code_qparams`](Self::code_qparams)). No
    /// normalization (it is f32): `x` is what the first layer sees.
    /// [`Error::NotQuantized`] on an f32 model.
    pub fn encode_i8(&self, x: &[i8], code: &mut [i8], scratch: &mut [f32]) -> Result<(), Error> {
        self.check_quantized()?;
        check_len("x", self.input_dim(), x.len())?;
        check_len("code", self.rank(), code.len())?;
        let (a, b) = self.split_i8(scratch)?;
        a.iter_mut().zip(x).for_each(|(d, s)| *d = *s);
        let (out, _) = self.q_encoder(a, b);
        code.iter_mut().zip(out.iter()).for_each(|(d, s)| *d = *s);
        Ok(())
    }

    /// Int8 [`decode`](Self::decode): the first `k' <= rank` int8
    /// coefficients (the rest: the code's zero point) to `x_hat`
    /// (`input_dim`, [`output_qparams`](Self::output_qparams), not
    /// de-normalized). [`Error::NotQuantized`] on an f32 model.
    pub fn decode_i8(
        &self,
        code: &[i8],
        x_hat: &mut [i8],
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        let p = self.check_quantized()?;
        self.check_coefficients(code.len())?;
        check_len("x_hat", self.input_dim(), x_hat.len())?;
        let (a, b) = self.split_i8(scratch)?;
        for (i, d) in head_mut(a, self.rank()).iter_mut().enumerate() {
            *d = code.get(i).copied().unwrap_or(p.zero_point as i8);
        }
        let out = self.q_decoder(a, b);
        x_hat.iter_mut().zip(out.iter()).for_each(|(d, s)| *d = *s);
        Ok(())
    }

    /// Int8 [`reconstruct`](Self::reconstruct): `decode_i8(encode_i8(x))`.
    pub fn reconstruct_i8(
        &self,
        x: &[i8],
        x_hat: &mut [i8],
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        self.check_quantized()?;
        check_len("x", self.input_dim(), x.len())?;
        check_len("x_hat", self.input_dim(), x_hat.len())?;
        let (a, b) = self.split_i8(scratch)?;
        a.iter_mut().zip(x).for_each(|(d, s)| *d = *s);
        let (code, free) = self.q_encoder(a, b);
        let out = self.q_decoder(code, free);
        x_hat.iter_mut().zip(out.iter()).for_each(|(d, s)| *d = *s);
        Ok(())
    }

    /// The code's parameters, or [`Error::NotQuantized`] (also when the
    /// `int8` feature is off).
    fn check_quantized(&self) -> Result<QParams, Error> {
        if !cfg!(feature = "int8") {
            return Err(Error::NotQuantized);
        }
        self.code_qparams().ok_or(Error::NotQuantized)
    }

    /// Which path the f32 API takes: `Some(code parameters)` for the int8
    /// one. Constant when only one kind's feature is on, so that the other
    /// kind's code is not linked (`from_bytes` refused its models).
    fn int8_code(&self) -> Option<QParams> {
        match (cfg!(feature = "f32"), cfg!(feature = "int8")) {
            (_, false) => None,
            (false, true) => Some(self.code_qparams().unwrap_or(QParams {
                scale: 1.0,
                zero_point: 0,
            })),
            (true, true) => self.code_qparams(),
        }
    }

    /// [`split`](Self::split), each half viewed as bytes (int8 models).
    fn split_i8<'s>(&self, scratch: &'s mut [f32]) -> Result<(&'s mut [i8], &'s mut [i8]), Error> {
        let (a, b) = self.split(scratch)?;
        Ok((
            bytemuck::try_cast_slice_mut(a).unwrap_or_default(),
            bytemuck::try_cast_slice_mut(b).unwrap_or_default(),
        ))
    }

    /// The normalization of feature `i`: `(shift, scale)`.
    fn norm_at(&self, i: usize) -> (f32, f32) {
        match self.file.meta.normalization {
            Normalization::None => (0.0, 1.0),
            Normalization::Global { shift, scale } => (shift, scale),
            Normalization::PerFeature { shift, scale } => (
                self.file.tensor(shift).get(i).copied().unwrap_or(0.0),
                self.file.tensor(scale).get(i).copied().unwrap_or(1.0),
            ),
        }
    }

    /// `a[i] = quantize((x[i] - shift) / scale)` with the input's parameters.
    fn quantize_input(&self, x: &[f32], a: &mut [i8]) {
        let Some(p) = self.input_qparams() else {
            return;
        };
        for (i, (d, &v)) in a.iter_mut().zip(x).enumerate() {
            let (shift, scale) = self.norm_at(i);
            *d = int8::quantize((v - shift) / scale, p);
        }
    }

    /// `x_hat[i] = dequantize(out[i]) * scale + shift` with the output's
    /// parameters.
    fn dequantize_output(&self, out: &[i8], x_hat: &mut [f32]) {
        let Some(p) = self.output_qparams() else {
            return;
        };
        for (i, (d, &q)) in x_hat.iter_mut().zip(out).enumerate() {
            let (shift, scale) = self.norm_at(i);
            *d = int8::dequantize(q, p) * scale + shift;
        }
    }

    /// Runs the int8 encoder on `a[..input_dim]`: the buffer starting with
    /// the code (`rank`) and the free one.
    fn q_encoder<'s>(&self, a: &'s mut [i8], b: &'s mut [i8]) -> (&'s mut [i8], &'s mut [i8]) {
        let (code, free, _) = self.q_layers(&self.file.meta.encoder, a, b, self.input_dim());
        (code, free)
    }

    /// Runs the int8 decoder on `a[..rank]`: its output (`input_dim`).
    fn q_decoder<'s>(&self, a: &'s mut [i8], b: &'s mut [i8]) -> &'s mut [i8] {
        let (out, _, len) = self.q_layers(&self.file.meta.decoder, a, b, self.rank());
        head_mut(out, len)
    }

    /// Runs int8 `layers` on `src[..len]`, ping-ponging with `dst`: the
    /// buffer holding the output, the free one, and the output width.
    fn q_layers<'s>(
        &self,
        layers: &[Layer],
        mut src: &'s mut [i8],
        mut dst: &'s mut [i8],
        mut len: usize,
    ) -> (&'s mut [i8], &'s mut [i8], usize) {
        for layer in layers {
            len = int8::layer(&self.file, layer, head(src, len), dst);
            swap(&mut src, &mut dst);
        }
        (src, dst, len)
    }

    /// The two ping-pong halves of `scratch`.
    ///
    /// Uses the checked split (not `split_at_mut`): the optimizer does not
    /// infer `needed / 2 <= len` from `needed <= len`, and panic-check/ fails
    /// on the panic branch it would leave.
    fn split<'s>(&self, scratch: &'s mut [f32]) -> Result<(&'s mut [f32], &'s mut [f32]), Error> {
        let (needed, got) = (self.scratch_len(), scratch.len());
        match scratch.split_at_mut_checked(needed / 2) {
            Some((a, rest)) if got >= needed => Ok((a, head_mut(rest, needed / 2))),
            _ => Err(Error::ScratchTooSmall { needed, got }),
        }
    }

    /// Runs the encoder on `x`; returns the buffer holding its output, the
    /// free buffer, and the output width.
    ///
    /// Without normalization the first layer reads `x` in place; otherwise
    /// `x` is normalized into `a` first (which is why `scratch_floats` counts
    /// `input_dim` only for normalized models).
    fn encoder<'s>(
        &self,
        x: &[f32],
        a: &'s mut [f32],
        b: &'s mut [f32],
    ) -> (&'s mut [f32], &'s mut [f32], usize) {
        let layers: &[Layer] = &self.file.meta.encoder;
        match self.file.meta.normalization {
            Normalization::None => {
                return match layers.split_first() {
                    Some((first, rest)) => {
                        let len = self.layer(first, x, a);
                        self.layers(rest, a, b, len)
                    }
                    None => (a, b, 0), // a validated model has layers
                };
            }
            Normalization::Global { shift, scale } => head_mut(a, x.len())
                .iter_mut()
                .zip(x)
                .for_each(|(d, s)| *d = (s - shift) / scale),
            Normalization::PerFeature { shift, scale } => {
                let (shift, scale) = (self.file.tensor(shift), self.file.tensor(scale));
                let xn = head_mut(a, x.len());
                for (((d, s), sh), sc) in xn.iter_mut().zip(x).zip(shift).zip(scale) {
                    *d = (s - sh) / sc;
                }
            }
        }
        self.layers(layers, a, b, x.len())
    }

    /// Coefficients from the encoder output: a copy if the basis is folded,
    /// `U_k^T y` if separate.
    fn coefficients(&self, y: &[f32], alpha: &mut [f32]) {
        match self.file.meta.basis {
            Basis::Folded { .. } => alpha.iter_mut().zip(y).for_each(|(d, s)| *d = *s),
            Basis::Separate { u } => matvec_t(self.file.tensor(u), y, alpha),
        }
    }

    /// Runs the decoder on the first `k` coefficients held in `a`: the last
    /// layer writes straight into `x_hat`, which is then de-normalized in
    /// place (so the decoder never needs `input_dim` floats of scratch).
    fn decoder(&self, a: &mut [f32], b: &mut [f32], k: usize, x_hat: &mut [f32]) {
        let (src, dst, len) = match self.file.meta.basis {
            Basis::Folded { .. } => (a, b, k),
            Basis::Separate { u } => {
                let latent = self.latent_dim();
                matvec(
                    self.file.tensor(u),
                    self.rank(),
                    head(a, k),
                    &[],
                    head_mut(b, latent),
                );
                (b, a, latent)
            }
        };
        let layers: &[Layer] = &self.file.meta.decoder;
        if let Some((last, rest)) = layers.split_last() {
            let (out, _, len) = self.layers(rest, src, dst, len);
            self.layer(last, head(out, len), x_hat);
        }
        self.denormalize(x_hat);
    }

    /// One layer from `src` into the head of `dst`; returns its width.
    fn layer(&self, layer: &Layer, src: &[f32], dst: &mut [f32]) -> usize {
        let (w, b) = (
            self.file.tensor(layer.weight()),
            self.file.tensor(layer.bias()),
        );
        let out_dim = layer.dims().1 as usize;
        let out = head_mut(dst, out_dim);
        match *layer {
            Layer::Dense {
                in_dim, activation, ..
            } => dense(w, in_dim as usize, b, src, out, activation),
            // Int8 layers never get here (`q_layers` runs them).
            _ => conv(layer, w, b, src, out),
        }
        out_dim
    }

    /// Runs `layers` on `src[..len]`, ping-ponging with `dst`.
    fn layers<'s>(
        &self,
        layers: &[Layer],
        mut src: &'s mut [f32],
        mut dst: &'s mut [f32],
        mut len: usize,
    ) -> (&'s mut [f32], &'s mut [f32], usize) {
        for layer in layers {
            len = self.layer(layer, head(src, len), dst);
            swap(&mut src, &mut dst);
        }
        (src, dst, len)
    }

    /// `x_hat = x_hat * scale + shift`, in place.
    fn denormalize(&self, x_hat: &mut [f32]) {
        match self.file.meta.normalization {
            Normalization::None => {}
            Normalization::Global { shift, scale } => {
                x_hat.iter_mut().for_each(|v| *v = *v * scale + shift)
            }
            Normalization::PerFeature { shift, scale } => {
                let (shift, scale) = (self.file.tensor(shift), self.file.tensor(scale));
                for ((v, sh), sc) in x_hat.iter_mut().zip(shift).zip(scale) {
                    *v = *v * sc + sh;
                }
            }
        }
    }
}
