//! Writes the seed corpus: `cargo run --example seeds -- <dir>` fills
//! `<dir>/{read,model,model_crc_fixed}/` with valid models — the golden tiny
//! models (dense, CNN and int8), 64 random dense, 32 random convolutional and
//! 32 random int8 models covering every optional part of the format, and
//! the firmware example's model if present — plus, for the `model` targets,
//! copies with operation tails (wrong lengths, raw and NaN/Inf inputs); and
//! `<dir>/import/` with the small `.tflite` fixtures of `tests/data/tflite/`
//! (f32 and int8) and the int8 AD01 model.

use std::{env, fs, path::PathBuf};

use rrae_format::testing::{
    random_conv_model, random_int8_model, random_model, tiny_cnn_model, tiny_int8_model, tiny_model,
};

/// Tails for the `model` targets (see `rrae_fuzz::Params`; the first byte
/// is the length of `x`, the second its value mode): raw bit patterns,
/// NaN/Inf and extremes, huge values, and every length wrong.
const TAILS: [&[u8]; 4] = [
    &[
        0, 1, 0x00, 0x00, 0xc0, 0x7f, 0x00, 0x00, 0x80, 0x7f, 0x12, 0x34, 0x56, 0x78,
    ],
    &[0, 2],
    &[0, 3],
    &[
        0xc0, 0xc1, 0xc2, 0xc3, 0xc0, 0xc1, 0xc2, 0xc3, 0xc0, 0xc1, 0xc2, 0xc3,
    ],
];

fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(env::args().nth(1).unwrap_or_else(|| "corpus".into()));
    let mut models = vec![
        ("tiny".to_string(), tiny_model().1),
        ("tiny-cnn".to_string(), tiny_cnn_model().1),
        ("tiny-int8".to_string(), tiny_int8_model().1),
    ];
    models.extend((0..64).map(|s| (format!("random{s}"), random_model(s).1)));
    models.extend((0..32).map(|s| (format!("random-cnn{s}"), random_conv_model(s).1)));
    models.extend((0..32).map(|s| (format!("random-int8-{s}"), random_int8_model(s).1)));
    let firmware =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../firmware-example/model/model.rrae");
    if let Ok(bytes) = fs::read(firmware) {
        models.push(("firmware".into(), bytes));
    }
    for target in ["read", "model", "model_crc_fixed"] {
        let out = dir.join(target);
        fs::create_dir_all(&out)?;
        for (name, bytes) in &models {
            fs::write(out.join(format!("{name}.rrae")), bytes)?;
            if target == "read" {
                continue;
            }
            for (i, tail) in TAILS.iter().enumerate() {
                fs::write(
                    out.join(format!("{name}.tail{i}")),
                    [&bytes[..], tail].concat(),
                )?;
            }
        }
    }
    // The importer's seeds: the small .tflite fixtures of the tests.
    let tflite = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/tflite");
    let out = dir.join("import");
    fs::create_dir_all(&out)?;
    for name in [
        "bench-ae",
        "conv",
        "conv-int8",
        "int8-tanh",
        "unsupported-op",
    ] {
        let file = format!("{name}.tflite");
        fs::copy(tflite.join(&file), out.join(&file))?;
    }
    // The int8 AD01 model (277 kB, per-tensor int8 dense layers).
    let ad01 = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/ad01");
    fs::copy(ad01.join("ad01_int8.tflite"), out.join("ad01_int8.tflite"))?;
    println!("wrote {} models to {}", models.len(), dir.display());
    Ok(())
}
