//! The f32 layers of a `.rrae` file as trainer networks (the weight
//! layouts of the trainer and the format are the same): what post-training
//! quantization calibrates and fine-tunes, and what the Python package's
//! batched host path runs.

use anyhow::{anyhow, Context, Result};
use ndarray::{Array1, Array2, Array4};
use rrae_format::meta::{Conv, Layer as FileLayer};
use rrae_format::ModelFile;

use crate::nn::conv::{Conv2d, Conv2dSpec, ConvTranspose2d, ConvTranspose2dSpec};
use crate::nn::{Dense, Layer, Network};

fn usize2([a, b]: [u32; 2]) -> (usize, usize) {
    (a as usize, b as usize)
}

fn array4(v: &[f32], shape: [u32; 4]) -> Result<Array4<f32>> {
    let s = shape.map(|d| d as usize);
    Array4::from_shape_vec(s, v.to_vec()).map_err(|e| anyhow!("a weight tensor: {e}"))
}

/// The trainer's geometry of a file convolution, its weights (of `shape`)
/// and its bias.
fn conv_parts(
    file: &ModelFile<'_>,
    c: &Conv,
    shape: [u32; 4],
) -> Result<(Conv2dSpec, Array4<f32>, Array1<f32>)> {
    let spec = Conv2dSpec {
        in_channels: c.in_channels as usize,
        out_channels: c.out_channels as usize,
        kernel: usize2(c.kernel),
        stride: usize2(c.stride),
        padding: usize2(c.padding),
        input: (c.in_height as usize, c.in_width as usize),
    };
    let w = array4(file.tensor(c.weight), shape)?;
    Ok((spec, w, Array1::from(file.tensor(c.bias).to_vec())))
}

/// The f32 `layers` of a validated file as a trainer network (`what`
/// names them in errors, e.g. "encoder").
///
/// # Errors
/// A quantized layer ("the model is already quantized"), or tensors that do
/// not fit their layer.
///
/// ```
/// use rrae_trainer::nn::from_file::file_network;
///
/// let (_, bytes) = rrae_format::testing::tiny_model();
/// let bytes = rrae_format::AlignedBytes::new(&bytes);
/// let file = rrae_format::read(&bytes).unwrap();
/// let encoder = file_network(&file, &file.meta.encoder, "encoder").unwrap();
/// assert_eq!(encoder.in_dim(), file.meta.input_dim as usize);
/// ```
pub fn file_network(
    file: &ModelFile<'_>,
    layers: &[FileLayer],
    what: &str,
) -> Result<Network<f32>> {
    let mut out = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let context = || format!("{what} layer {i}");
        out.push(match *l {
            FileLayer::Dense {
                in_dim,
                out_dim,
                weight,
                bias,
                activation,
            } => Layer::Dense(Dense {
                w: Array2::from_shape_vec(
                    (out_dim as usize, in_dim as usize),
                    file.tensor(weight).to_vec(),
                )
                .with_context(context)?,
                b: Array1::from(file.tensor(bias).to_vec()),
                act: activation,
            }),
            FileLayer::Conv2d(c) => {
                let shape = [c.out_channels, c.in_channels, c.kernel[0], c.kernel[1]];
                let (spec, w, b) = conv_parts(file, &c, shape).with_context(context)?;
                Layer::Conv2d {
                    conv: Conv2d::new(spec, w, b).with_context(context)?,
                    act: c.activation,
                }
            }
            FileLayer::ConvTranspose2d {
                conv: c,
                output_padding,
            } => {
                let shape = [c.in_channels, c.out_channels, c.kernel[0], c.kernel[1]];
                let (s, w, b) = conv_parts(file, &c, shape).with_context(context)?;
                let spec = ConvTranspose2dSpec {
                    in_channels: s.in_channels,
                    out_channels: s.out_channels,
                    kernel: s.kernel,
                    stride: s.stride,
                    padding: s.padding,
                    output_padding: usize2(output_padding),
                    input: s.input,
                };
                Layer::ConvTranspose2d {
                    conv: ConvTranspose2d::new(spec, w, b).with_context(context)?,
                    act: c.activation,
                }
            }
            _ => return Err(anyhow!("the model is already quantized")),
        });
    }
    Network::new(out).map_err(|e| anyhow!("the {what}: {e}"))
}
