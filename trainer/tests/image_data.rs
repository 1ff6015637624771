//! Image data end to end: `trainer fit` on `.npy` image stacks, IDX files and
//! PNG directories (with `--limit`), the image figures it writes, `sample` /
//! `interpolate` with `--image-shape`, and the real Fashion-MNIST files when
//! they are installed (`scripts/get-fashion-mnist.sh`).

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use ndarray::Array3;
use ndarray_npy::WriteNpyExt;
use rrae_trainer::data::files::load_samples;

mod common;
use common::{fails, ok, s};

fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    let reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .unwrap();
    (reader.info().width, reader.info().height)
}

/// `n` 8 x 8 images of a bright square at varying positions, as `u8`.
fn squares(n: usize) -> Array3<u8> {
    Array3::from_shape_fn((n, 8, 8), |(i, y, x)| {
        let (cy, cx) = (1 + i % 5, 1 + (i / 5) % 5);
        if (cy..cy + 3).contains(&y) && (cx..cx + 3).contains(&x) {
            250
        } else {
            10
        }
    })
}

const TINY: &[&str] = &[
    "--k",
    "2",
    "--latent",
    "8",
    "--width",
    "16",
    "--dec-depth",
    "1",
    "--steps",
    "30",
    "--finetune-steps",
    "0",
    "--quiet",
];

/// `dir/sq.npy` holding `squares(n)`.
fn squares_npy(dir: &Path, n: usize) -> std::path::PathBuf {
    let data = dir.join("sq.npy");
    squares(n)
        .write_npy(std::fs::File::create(&data).unwrap())
        .unwrap();
    data
}

/// `run/metrics.json` as JSON.
fn read_metrics(run: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(run.join("metrics.json")).unwrap()).unwrap()
}

#[test]
fn fit_sample_interpolate_on_npy_images() {
    let dir = tempfile::tempdir().unwrap();
    let data = squares_npy(dir.path(), 40);
    let run = dir.path().join("run");
    let mut args = vec!["fit", "--data", s(&data), "--limit", "30", "--out", s(&run)];
    args.extend_from_slice(TINY);
    args.extend_from_slice(&["--samples", "4"]);
    ok(&args);
    let metrics = read_metrics(&run);
    assert_eq!(metrics["input_dim"], 64);
    assert_eq!(metrics["n_train"], 24); // 30 kept, 20 % held out
    assert_eq!(metrics["n_test"], 6);
    // An image figure: 6 test images (8 x 8 drawn 14x = 112 px) in two rows.
    let (_, h) = png_size(&run.join("reconstructions.png"));
    assert_eq!(h as usize, 50 + 2 * 12 + 2 * (112 + 6) + 2 * 24);
    assert!(run.join("samples.png").exists());

    let model = run.join("model.rrae");
    let out = dir.path().join("s.npy");
    let png = dir.path().join("s.png");
    ok(&[
        "sample",
        "--model",
        s(&model),
        "-n",
        "6",
        "--out",
        s(&out),
        "--png",
        s(&png),
        "--image-shape",
        "1,8,8",
    ]);
    assert!(png_size(&png).0 > 0);
    fails(
        &[
            "sample",
            "--model",
            s(&model),
            "--out",
            s(&out),
            "--png",
            s(&png),
            "--image-shape",
            "1,28,28",
        ],
        "takes 64 values per sample",
    );
    // The data file gives the image shape of the interpolation strip.
    let strip = dir.path().join("p.png");
    ok(&[
        "interpolate",
        "--model",
        s(&model),
        "--data",
        s(&data),
        "--from",
        "0",
        "--to",
        "7",
        "--out",
        s(&dir.path().join("p.csv")),
        "--png",
        s(&strip),
    ]);
    let (_, h) = png_size(&strip);
    assert_eq!(h as usize, 50 + 2 * 12 + 112 + 6 + 2 * 24);
    fails(&["fit", "--data", s(&data), "--limit", "0"], "--limit");
}

/// A coordinate decoder on images: trained on the image grid, and `sample
/// --png` draws an image grid without being told the shape (the decoder's
/// last 1 x 1 convolution carries it).
#[test]
fn coordinate_decoder_on_images_knows_its_image_shape() {
    let dir = tempfile::tempdir().unwrap();
    let data = squares_npy(dir.path(), 30);
    let run = dir.path().join("run");
    let mut args = vec![
        "fit",
        "--data",
        s(&data),
        "--arch",
        "coord",
        "--channels",
        "6,4",
    ];
    args.extend_from_slice(&[
        "--out",
        s(&run),
        "--k",
        "2",
        "--latent",
        "8",
        "--width",
        "16",
    ]);
    // (The RRAE: 30 steps lose to the linear model on validation.)
    args.extend_from_slice(&["--steps", "30", "--finetune-steps", "0", "--quiet"]);
    args.extend_from_slice(&["--model-kind", "rrae"]);
    ok(&args);
    let metrics = read_metrics(&run);
    assert_eq!(
        metrics["config"]["coord"]["grid"],
        serde_json::json!([8, 8])
    );
    let model = run.join("model.rrae");
    let sample_png = |name: &str, extra: &[&str]| {
        let png = dir.path().join(name);
        let out = dir.path().join("s.npy");
        let mut args = vec!["sample", "--model", s(&model), "-n", "6"];
        args.extend_from_slice(&["--out", s(&out), "--png", s(&png)]);
        args.extend_from_slice(extra);
        ok(&args);
        png_size(&png)
    };
    assert_eq!(
        sample_png("inferred.png", &[]),
        sample_png("told.png", &["--image-shape", "1,8,8"])
    );
}

#[test]
fn fit_on_idx_and_png_directory() {
    let dir = tempfile::tempdir().unwrap();
    // IDX, gzipped, with a separate test file of a different size: an error.
    let imgs = squares(25);
    let mut idx = vec![0u8, 0, 8, 3];
    for d in [25u32, 8, 8] {
        idx.extend_from_slice(&d.to_be_bytes());
    }
    idx.extend(imgs.iter());
    let train = dir.path().join("train-images-idx3-ubyte.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&idx).unwrap();
    std::fs::write(&train, gz.finish().unwrap()).unwrap();
    let run = dir.path().join("run_idx");
    let mut args = vec!["fit", "--data", s(&train), "--out", s(&run)];
    args.extend_from_slice(TINY);
    ok(&args);
    assert!(run.join("reconstructions.png").exists());

    // A PNG directory: grey 8 x 8 files, sorted by name.
    let pngs = dir.path().join("pngs");
    std::fs::create_dir(&pngs).unwrap();
    for (i, img) in imgs.outer_iter().enumerate() {
        let mut bytes = Vec::new();
        {
            let mut e = png::Encoder::new(&mut bytes, 8, 8);
            e.set_color(png::ColorType::Grayscale);
            e.set_depth(png::BitDepth::Eight);
            let mut w = e.write_header().unwrap();
            w.write_image_data(&img.iter().copied().collect::<Vec<u8>>())
                .unwrap();
        }
        std::fs::write(pngs.join(format!("img{i:03}.png")), bytes).unwrap();
    }
    let from_png = load_samples(&pngs, None).unwrap();
    let from_idx = load_samples(&train, None).unwrap();
    assert_eq!(from_png, from_idx);
    let run = dir.path().join("run_png");
    let mut args = vec![
        "fit",
        "--data",
        s(&pngs),
        "--test",
        s(&train),
        "--limit",
        "20",
        "--out",
        s(&run),
    ];
    args.extend_from_slice(TINY);
    ok(&args);
    // Image and plain data cannot be mixed.
    let csv = dir.path().join("t.csv");
    std::fs::write(&csv, vec!["0.5"; 64].join(",") + "\n").unwrap();
    fails(
        &["fit", "--data", s(&pngs), "--test", s(&csv), "--steps", "1"],
        "1 x 8 x 8 images",
    );
    // A corrupt file is one clear error naming it.
    std::fs::write(pngs.join("img999.png"), b"junk").unwrap();
    fails(&["fit", "--data", s(&pngs), "--steps", "1"], "img999.png");
}

/// Where `scripts/get-fashion-mnist.sh` (Debian's `dataset-fashion-mnist`)
/// puts the files.
const FASHION: &str = "/usr/share/datasets/fashion-mnist";

#[test]
fn fashion_mnist_when_installed() {
    let train = Path::new(FASHION).join("train-images-idx3-ubyte.gz");
    let test = Path::new(FASHION).join("t10k-images-idx3-ubyte.gz");
    if !train.exists() || !test.exists() {
        eprintln!(
            "SKIPPED: Fashion-MNIST not installed at {FASHION} (run scripts/get-fashion-mnist.sh)"
        );
        return;
    }
    let start = Instant::now();
    let x = load_samples(&train, None).unwrap();
    eprintln!(
        "Fashion-MNIST train: {} x {} loaded in {:.2} s",
        x.x.nrows(),
        x.x.ncols(),
        start.elapsed().as_secs_f64()
    );
    assert_eq!(x.x.dim(), (60_000, 784));
    assert_eq!(x.image_shape, Some((1, 28, 28)));
    assert!(x.x.iter().all(|v| (0.0..=1.0).contains(v)));
    let mean = x.x.iter().map(|&v| f64::from(v)).sum::<f64>() / x.x.len() as f64;
    assert!((mean - 0.286).abs() < 0.01, "mean pixel {mean}");
    let t = load_samples(&test, Some(100)).unwrap();
    assert_eq!(t.x.dim(), (100, 784));
}
