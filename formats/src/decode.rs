//! A hand-written postcard decoder for [`ModelMeta`]: the same bytes, the same
//! results and the same [`postcard::Error`]s as
//! `postcard::take_from_bytes::<ModelMeta>`, without serde's generic visitor
//! code (about 3 kB less flash on Cortex-M, docs/FOOTPRINT.md).
//!
//! The rules it mirrors (postcard 1.x wire format, serde derive semantics):
//! unsigned integers and lengths are varints (at most 5 bytes for `u32`,
//! `usize::BITS` worth for lengths, excess bits in the last byte rejected);
//! `f32` is 4 bytes little-endian; a string is a length and UTF-8 bytes; an
//! `Option` is a 0/1 byte; an enum is a varint variant index then its
//! fields; a struct is its fields in order; a list is a length then its
//! elements. Running out of bytes is `DeserializeUnexpectedEnd`; an unknown
//! variant and a list longer than its capacity are `SerdeDeCustom` (serde's
//! `invalid_value` / `invalid_length`). `tests/decode.rs` checks the
//! equivalence against postcard itself on valid and corrupted inputs.

use heapless::Vec;
use postcard::Error;

use crate::meta::{
    Activation, Basis, Conv, ConvGeometry, Layer, ModelMeta, Normalization, ParamTable,
    QActivation, QParams, Quant, Sampler, TensorRef, MAX_LAYERS,
};

type Result<T> = core::result::Result<T, Error>;

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.bytes.len() {
            return Err(Error::DeserializeUnexpectedEnd);
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8> {
        let (&b, rest) = self
            .bytes
            .split_first()
            .ok_or(Error::DeserializeUnexpectedEnd)?;
        self.bytes = rest;
        Ok(b)
    }

    /// A varint of an integer `bits` wide (32 or `usize::BITS`).
    fn varint(&mut self, bits: u32) -> Result<usize> {
        let max_bytes = bits.div_ceil(7);
        let max_last = (1u8 << (bits % 7)).wrapping_sub(1);
        let mut out = 0usize;
        let mut i = 0;
        while i < max_bytes {
            let b = self.byte()?;
            out |= usize::from(b & 0x7F).wrapping_shl(7 * i);
            if b & 0x80 == 0 {
                if i == max_bytes - 1 && b > max_last {
                    break;
                }
                return Ok(out);
            }
            i += 1;
        }
        Err(Error::DeserializeBadVarint)
    }

    fn u32(&mut self) -> Result<u32> {
        // Fits: a 32-bit varint has at most 32 significant bits.
        self.varint(32).map(|v| v as u32)
    }

    /// An `i32`: a zigzag-encoded 32-bit varint.
    fn i32(&mut self) -> Result<i32> {
        let n = self.u32()?;
        Ok((n >> 1) as i32 ^ -((n & 1) as i32))
    }

    /// An `i8`: one byte, two's complement.
    fn i8(&mut self) -> Result<i8> {
        Ok(self.byte()? as i8)
    }

    fn len(&mut self) -> Result<usize> {
        self.varint(usize::BITS)
    }

    fn f32(&mut self) -> Result<f32> {
        let b = self.take(4)?;
        let b: [u8; 4] = b.try_into().map_err(|_| Error::DeserializeUnexpectedEnd)?;
        Ok(f32::from_le_bytes(b))
    }

    fn flag(&mut self) -> Result<bool> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(Error::DeserializeBadOption),
        }
    }

    /// A variant index below `count`.
    fn variant(&mut self, count: u32) -> Result<u32> {
        let v = self.u32()?;
        if v < count {
            Ok(v)
        } else {
            Err(Error::SerdeDeCustom)
        }
    }

    fn tensor(&mut self) -> Result<TensorRef> {
        Ok(TensorRef {
            offset: self.u32()?,
            len: self.u32()?,
        })
    }

    fn opt_tensor(&mut self) -> Result<Option<TensorRef>> {
        Ok(if self.flag()? {
            Some(self.tensor()?)
        } else {
            None
        })
    }

    fn activation(&mut self) -> Result<Activation> {
        Ok(match self.variant(7)? {
            0 => Activation::Identity,
            1 => Activation::Relu,
            2 => Activation::LeakyRelu { slope: self.f32()? },
            3 => Activation::Tanh,
            4 => Activation::Sigmoid,
            5 => Activation::Elu { alpha: self.f32()? },
            _ => Activation::Softplus,
        })
    }

    /// A `[u32; 2]` (a serde tuple: two varints, no length).
    fn pair(&mut self) -> Result<[u32; 2]> {
        Ok([self.u32()?, self.u32()?])
    }

    fn geometry(&mut self) -> Result<ConvGeometry> {
        Ok(ConvGeometry {
            in_channels: self.u32()?,
            in_height: self.u32()?,
            in_width: self.u32()?,
            out_channels: self.u32()?,
            kernel: self.pair()?,
            stride: self.pair()?,
            padding: self.pair()?,
        })
    }

    fn conv(&mut self) -> Result<Conv> {
        let g = self.geometry()?;
        let (weight, bias) = (self.tensor()?, self.tensor()?);
        Ok(Conv::new(g, weight, bias, self.activation()?))
    }

    fn qparams(&mut self) -> Result<QParams> {
        Ok(QParams {
            scale: self.f32()?,
            zero_point: self.i32()?,
        })
    }

    fn quant(&mut self) -> Result<Quant> {
        Ok(Quant {
            input: self.qparams()?,
            weight: self.tensor()?,
            weight_scale: self.tensor()?,
            bias: self.tensor()?,
            multiplier: self.tensor()?,
            shift: self.tensor()?,
            output: self.qparams()?,
            activation: match self.variant(2)? {
                0 => QActivation::Clamp {
                    min: self.i8()?,
                    max: self.i8()?,
                },
                _ => QActivation::Table {
                    table: self.tensor()?,
                    output: self.qparams()?,
                    source: self.activation()?,
                },
            },
        })
    }

    fn layer(&mut self) -> Result<Layer> {
        Ok(match self.variant(6)? {
            0 => Layer::Dense {
                in_dim: self.u32()?,
                out_dim: self.u32()?,
                weight: self.tensor()?,
                bias: self.tensor()?,
                activation: self.activation()?,
            },
            1 => Layer::Conv2d(self.conv()?),
            2 => Layer::ConvTranspose2d {
                conv: self.conv()?,
                output_padding: self.pair()?,
            },
            3 => Layer::QDense {
                in_dim: self.u32()?,
                out_dim: self.u32()?,
                q: self.quant()?,
            },
            4 => Layer::QConv2d {
                conv: self.geometry()?,
                q: self.quant()?,
            },
            _ => Layer::QConvTranspose2d {
                conv: self.geometry()?,
                output_padding: self.pair()?,
                q: self.quant()?,
            },
        })
    }

    /// A list of layers, decoded in place (no copy of the whole list) over
    /// whatever `layers` held.
    fn layers(&mut self, layers: &mut Vec<Layer, MAX_LAYERS>) -> Result<()> {
        layers.clear();
        let n = self.len()?;
        for _ in 0..n {
            let layer = self.layer()?;
            // As heapless: the element is decoded before the capacity check.
            layers.push(layer).map_err(|_| Error::SerdeDeCustom)?;
        }
        Ok(())
    }

    /// Fills `meta` field by field, in wire order, overwriting every field.
    fn meta(&mut self, meta: &mut ModelMeta<'a>) -> Result<()> {
        let n = self.len()?;
        meta.name = core::str::from_utf8(self.take(n)?).map_err(|_| Error::DeserializeBadUtf8)?;
        meta.input_dim = self.u32()?;
        meta.latent_dim = self.u32()?;
        meta.rank = self.u32()?;
        meta.normalization = match self.variant(3)? {
            0 => Normalization::None,
            1 => Normalization::Global {
                shift: self.f32()?,
                scale: self.f32()?,
            },
            _ => Normalization::PerFeature {
                shift: self.tensor()?,
                scale: self.tensor()?,
            },
        };
        self.layers(&mut meta.encoder)?;
        self.layers(&mut meta.decoder)?;
        meta.basis = match self.variant(2)? {
            0 => Basis::Folded {
                stored: self.opt_tensor()?,
            },
            _ => Basis::Separate { u: self.tensor()? },
        };
        meta.sampler = match self.flag()? {
            true => Some(Sampler {
                mean: self.tensor()?,
                chol: self.tensor()?,
            }),
            false => None,
        };
        meta.params = match self.flag()? {
            true => Some(ParamTable {
                param_dim: self.u32()?,
                count: self.u32()?,
                params: self.tensor()?,
                coeffs: self.tensor()?,
            }),
            false => None,
        };
        meta.singular_values = self.opt_tensor()?;
        Ok(())
    }
}

impl<'a> ModelMeta<'a> {
    /// Metadata of no model (no name, zero widths, no layers), to be
    /// overwritten by [`decode_into`](Self::decode_into) or
    /// [`ModelFile::read_into`](crate::ModelFile::read_into).
    pub fn empty() -> ModelMeta<'a> {
        ModelMeta {
            name: "",
            input_dim: 0,
            latent_dim: 0,
            rank: 0,
            normalization: Normalization::None,
            encoder: Vec::new(),
            decoder: Vec::new(),
            basis: Basis::Folded { stored: None },
            sampler: None,
            params: None,
            singular_values: None,
        }
    }

    /// Decodes postcard-encoded metadata from the front of `bytes` and returns
    /// it with the bytes after it: exactly what
    /// `postcard::take_from_bytes::<ModelMeta>(bytes)` returns (same values,
    /// same errors), with a fraction of its code size.
    ///
    /// This returns a [`ModelMeta`] (4 kB) by value: where stack is short
    /// (a Cortex-M0), decode into existing storage with
    /// [`decode_into`](Self::decode_into).
    pub fn decode(bytes: &'a [u8]) -> core::result::Result<(ModelMeta<'a>, &'a [u8]), Error> {
        let mut meta = ModelMeta::empty();
        let rest = meta.decode_into(bytes)?;
        Ok((meta, rest))
    }

    /// [`decode`](Self::decode) in place: overwrites `self` with the
    /// metadata at the front of `bytes` and returns the bytes after it, with
    /// no `ModelMeta`-sized temporary. On an error `self` holds what was
    /// decoded before it (use it only to overwrite it again).
    ///
    /// ```
    /// use rrae_format::ModelMeta;
    /// let mut meta = ModelMeta::empty();
    /// // Truncated: a name of 3 bytes, then nothing.
    /// assert!(meta.decode_into(&[3, b'a', b'b', b'c']).is_err());
    /// ```
    pub fn decode_into(&mut self, bytes: &'a [u8]) -> core::result::Result<&'a [u8], Error> {
        let mut r = Reader { bytes };
        r.meta(self)?;
        Ok(r.bytes)
    }
}
