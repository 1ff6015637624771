//! `host-gen quantize`: a hand-quantized int8 copy of an f32 dense model for
//! the firmware's int8 runs (plumbing until `trainer quantize` lands here).
//!
//! Post-training quantization with `rrae_format::testing::quantize_meta`
//! (per-channel symmetric weights, TFLite-style asymmetric activations,
//! lookup tables for activations other than identity/ReLU). Activation
//! ranges are the min/max of an f32 forward pass over calibration rows
//! (the `shift` data set's test split, the only one host-gen replicates):
//! fine for checking the device against the host, not a recipe for
//! accuracy. The file is then checked like any model by `host-gen
//! expected`.


use rrae_format::meta::{Layer, Normalization, QParams};
use rrae_format::testing::{activate_f64, qparams_for_range, quantize_meta};
use rrae_format::{AlignedBytes, ModelWriter};

use crate::Res;

/// Per layer: the range of its input (after normalization for layer 0)
/// and of its pre-activation output, widened over every row.
struct Ranges {
    /// `boundaries[i]`: input of layer `i`; the last one is the model's output.
    boundaries: Vec<(f32, f32)>,
    /// `pre[i]`: layer `i`'s affine output before its activation.
    pre: Vec<(f32, f32)>,
}

fn widen(r: &mut (f32, f32), v: &[f32]) {
    for &x in v {
        *r = (r.0.min(x), r.1.max(x));
    }
}

/// Runs the f32 dense layers on `rows` and records the ranges.
fn calibrate(file: &rrae_format::ModelFile<'_>, rows: &[Vec<f32>]) -> Res<Ranges> {
    let layers: Vec<&Layer> = file.meta.encoder.iter().chain(&file.meta.decoder).collect();
    let empty = (f32::INFINITY, f32::NEG_INFINITY);
    let mut r = Ranges {
        boundaries: vec![empty; layers.len() + 1],
        pre: vec![empty; layers.len()],
    };
    for x in rows {
        let mut a: Vec<f32> = match file.meta.normalization {
            Normalization::None => x.clone(),
            Normalization::Global { shift, scale } => {
                x.iter().map(|v| (v - shift) / scale).collect()
            }
            Normalization::PerFeature { shift, scale } => {
                let (s, c) = (file.tensor(shift), file.tensor(scale));
                x.iter()
                    .zip(s)
                    .zip(c)
                    .map(|((v, s), c)| (v - s) / c)
                    .collect()
            }
        };
        for (i, l) in layers.iter().enumerate() {
            widen(&mut r.boundaries[i], &a);
            let Layer::Dense {
                in_dim,
                out_dim,
                weight,
                bias,
                activation,
            } = l
            else {
                return Err(format!(
                    "layer {i} is not an f32 dense layer (host-gen quantize takes MLPs)"
                ));
            };
            let (w, b) = (file.tensor(*weight), file.tensor(*bias));
            let n = *in_dim as usize;
            let z: Vec<f32> = (0..*out_dim as usize)
                .map(|o| {
                    b[o] + w[o * n..(o + 1) * n]
                        .iter()
                        .zip(&a)
                        .map(|(w, a)| w * a)
                        .sum::<f32>()
                })
                .collect();
            widen(&mut r.pre[i], &z);
            a = z
                .iter()
                .map(|&v| activate_f64(*activation, f64::from(v)) as f32)
                .collect();
        }
        widen(&mut r.boundaries[layers.len()], &a);
    }
    Ok(r)
}

/// `host-gen quantize <f32.rrae> <out.rrae>`: calibrated on the `shift`
/// test split.
pub fn quantize(args: &[String]) -> Res<()> {
    let [input, out] = args else {
        return Err(crate::USAGE.into());
    };
    let raw = std::fs::read(input).map_err(|e| format!("{input}: {e}"))?;
    let bytes = AlignedBytes::new(&raw);
    let file = rrae_format::read(&bytes).map_err(|e| format!("{input}: {e:?}"))?;
    let rows = crate::dataset_test_rows("shift")?;
    if rows.first().map(Vec::len) != Some(file.meta.input_dim as usize) {
        return Err(format!(
            "{input}: input_dim {} is not the shift data set's 200",
            file.meta.input_dim
        ));
    }
    let ranges = calibrate(&file, &rows)?;
    let q = |v: &[(f32, f32)]| -> Vec<QParams> {
        v.iter()
            .map(|&(lo, hi)| qparams_for_range(lo, hi))
            .collect()
    };
    let mut w = ModelWriter::new();
    let mut meta = quantize_meta(
        &file,
        &mut w,
        &q(&ranges.boundaries),
        &q(&ranges.pre),
        |_| true,
    );
    meta.name = "shift-int8";
    let out_bytes = w
        .finish(&meta)
        .map_err(|e| format!("ModelWriter::finish: {e:?}"))?;
    std::fs::write(out, &out_bytes).map_err(|e| format!("{out}: {e}"))?;
    eprintln!(
        "host-gen: {out} ({} bytes, from {} bytes of f32; {} calibration rows)",
        out_bytes.len(),
        raw.len(),
        rows.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widen_keeps_min_and_max() {
        let mut r = (f32::INFINITY, f32::NEG_INFINITY);
        widen(&mut r, &[1.0, -2.0, 0.5]);
        assert_eq!(r, (-2.0, 1.0));
    }
}
