//! [`Model`]: a validated model borrowed from its file bytes, and the
//! operations on it (encode, decode, reconstruct, sample, interpolate).

use core::mem::swap;

use rrae_format::meta::{Basis, Layer, ModelMeta, Normalization};
use rrae_format::{read, ModelFile};

use crate::error::Error;
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
fn head(s: &[f32], n: usize) -> &[f32] {
    s.get(..n).unwrap_or(s)
}

/// Mutable [`head`].
fn head_mut(s: &mut [f32], n: usize) -> &mut [f32] {
    let n = n.min(s.len());
    s.split_at_mut(n).0
}

impl<'a> Model<'a> {
    /// Reads and validates a model file (see [`rrae_format::read`]).
    ///
    /// `bytes` must be exactly the file, 4-byte aligned: embed it with
    /// [`include_model!`](crate::include_model) or copy it into an aligned
    /// buffer. Any defect gives [`Error::Format`].
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Model<'a>, Error> {
        let file = read(bytes)?;
        if file.meta.is_quantized() {
            // Int8 kernels are not in this runtime yet: refuse format 1.2
            // models rather than misread them.
            return Err(Error::Format(
                rrae_format::FormatError::UnsupportedVersion {
                    major: file.header.major,
                    minor: file.header.minor,
                },
            ));
        }
        Ok(Model { file })
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

    /// Floats of scratch every operation needs (a longer buffer is fine).
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
    pub fn encode(&self, x: &[f32], alpha: &mut [f32], scratch: &mut [f32]) -> Result<(), Error> {
        check_len("x", self.input_dim(), x.len())?;
        check_len("alpha", self.rank(), alpha.len())?;
        let (a, b) = self.split(scratch)?;
        let (y, _, len) = self.encoder(x, a, b);
        self.coefficients(head(y, len), alpha);
        Ok(())
    }

    /// Decodes `alpha` into `x_hat` (`input_dim`): `y = U_k alpha` for a
    /// separate basis, run the decoder, de-normalize.
    ///
    /// Progressive decoding: `alpha` may hold only the first `k' <= rank`
    /// coefficients (at least one); the missing ones count as zero.
    pub fn decode(
        &self,
        alpha: &[f32],
        x_hat: &mut [f32],
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        if alpha.is_empty() || alpha.len() > self.rank() {
            return Err(Error::BadCoefficients {
                rank: self.rank(),
                got: alpha.len(),
            });
        }
        check_len("x_hat", self.input_dim(), x_hat.len())?;
        let (a, b) = self.split(scratch)?;
        a.iter_mut().zip(alpha).for_each(|(d, s)| *d = *s);
        self.decoder(a, b, alpha.len(), x_hat);
        Ok(())
    }

    /// `decode(encode(x))` without a caller buffer for the coefficients.
    pub fn reconstruct(
        &self,
        x: &[f32],
        x_hat: &mut [f32],
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        check_len("x", self.input_dim(), x.len())?;
        check_len("x_hat", self.input_dim(), x_hat.len())?;
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
            // Int8 layers: `from_bytes` rejects their models (for now).
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
