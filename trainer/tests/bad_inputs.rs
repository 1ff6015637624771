//! Every bad input to the `trainer` binary gives exactly one `error:` line on
//! stderr naming the file (or option) and the problem, a non-zero exit and
//! no panic (issue #8). One test per case; all fail before training starts,
//! except divergence, which trains a few steps.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ndarray::{Array1, Array2, Array3, ArrayD, IxDyn};
use ndarray_npy::WriteNpyExt;
use rrae_trainer::train::checkpoint::{Checkpoint, FILE_NAME};

/// A tiny fit (fast, but a real model) as arguments after `fit`.
const TINY: [&str; 10] = [
    "--latent",
    "4",
    "--width",
    "8",
    "--dec-depth",
    "1",
    "--finetune-steps",
    "2",
    "--steps",
    "20",
];

fn trainer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(args)
        .output()
        .expect("run trainer")
}

/// Exit != 0, no panic, exactly one `error:` line, containing every needle.
fn assert_one_error(out: &Output, needles: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "expected failure: {stderr}");
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "expected one error line: {stderr}");
    for n in needles {
        assert!(errors[0].contains(n), "expected {n:?} in: {}", errors[0]);
    }
    errors[0].to_string()
}

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Self {
        Self(tempfile::tempdir().unwrap())
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }
    fn text(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }
    fn npy<T: WriteNpyExt>(&self, name: &str, a: &T) -> PathBuf {
        let p = self.path(name);
        a.write_npy(std::fs::File::create(&p).unwrap()).unwrap();
        p
    }
    fn out(&self) -> String {
        s(&self.path("out"))
    }
}

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

/// `trainer fit --data FILE` plus `extra`, output in the temp dir.
fn fit_data(d: &Dir, file: &Path, extra: &[&str]) -> Output {
    let (file, out) = (s(file), d.out());
    let mut args = vec!["fit", "--quiet", "--data", &file, "--out", &out];
    args.extend_from_slice(&TINY);
    args.extend_from_slice(extra);
    trainer(&args)
}

/// A valid `samples x features` CSV with varied columns.
fn good_csv(samples: usize, features: usize) -> String {
    (0..samples)
        .map(|i| {
            let row: Vec<String> = (0..features)
                .map(|j| format!("{}", ((i * 7 + j * 3) % 11) as f32 * 0.5 + j as f32))
                .collect();
            row.join(",") + "\n"
        })
        .collect()
}

#[test]
fn missing_data_file() {
    let d = Dir::new();
    let out = fit_data(&d, &d.path("absent.csv"), &[]);
    assert_one_error(&out, &["absent.csv", "file not found"]);
}

#[test]
fn unreadable_data_file() {
    // Root reads any file; a directory named like a data file cannot be read.
    let d = Dir::new();
    let p = d.path("dir.csv");
    std::fs::create_dir(&p).unwrap();
    let line = assert_one_error(&fit_data(&d, &p, &[]), &["dir.csv", "cannot read"]);
    assert_eq!(line.matches("Is a directory").count(), 1, "{line}");
}

#[test]
fn wrong_extension() {
    let d = Dir::new();
    let p = d.text("data.txt", &good_csv(10, 3));
    assert_one_error(&fit_data(&d, &p, &[]), &["data.txt", "unknown extension"]);
}

#[test]
fn npy_that_is_not_npy() {
    let d = Dir::new();
    let p = d.text("junk.npy", "this is not numpy");
    assert_one_error(&fit_data(&d, &p, &[]), &["junk.npy", "invalid .npy"]);
}

#[test]
fn ragged_csv() {
    let d = Dir::new();
    let p = d.text("ragged.csv", "1,2,3\n4,5,6\n7,8\n");
    assert_one_error(&fit_data(&d, &p, &[]), &["ragged.csv", "line 3 has 2 cell"]);
}

#[test]
fn non_numeric_cell() {
    let d = Dir::new();
    let p = d.text("words.csv", "1,2\n3,abc\n");
    assert_one_error(&fit_data(&d, &p, &[]), &["words.csv", "\"abc\"", "line 2"]);
}

#[test]
fn nan_in_csv() {
    let d = Dir::new();
    let p = d.text("nan.csv", "1,2\n3,NaN\n");
    assert_one_error(
        &fit_data(&d, &p, &[]),
        &["nan.csv", "line 2, column 2", "NaN"],
    );
}

#[test]
fn inf_in_npy() {
    let d = Dir::new();
    let mut a = Array2::<f64>::ones((12, 3));
    a[(4, 1)] = f64::INFINITY;
    let p = d.npy("inf.npy", &a);
    assert_one_error(&fit_data(&d, &p, &[]), &["inf.npy", "row 4, column 1"]);
}

#[test]
fn one_dimensional_npy() {
    let d = Dir::new();
    let p = d.npy("vec.npy", &Array1::<f32>::ones(10));
    assert_one_error(
        &fit_data(&d, &p, &[]),
        &["vec.npy", "expected a 2-D array", "found 1"],
    );
}

#[test]
fn npy_of_unsupported_dimensions() {
    // 3-D and 4-D arrays are image stacks (tests/image_data.rs); 1-D and
    // 5-D arrays are errors.
    let d = Dir::new();
    let p = d.npy("line.npy", &Array1::<f64>::ones(4));
    assert_one_error(&fit_data(&d, &p, &[]), &["line.npy", "found 1 dimension"]);
    let p = d.npy("cube5.npy", &ArrayD::<f64>::ones(IxDyn(&[4, 3, 2, 2, 2])));
    assert_one_error(&fit_data(&d, &p, &[]), &["cube5.npy", "found 5 dimension"]);
    // A constant 3-D stack is read as images, then refused by normalization.
    let p = d.npy("cube.npy", &Array3::<f64>::ones((4, 3, 2)));
    assert_one_error(&fit_data(&d, &p, &[]), &["cube.npy", "zero variance"]);
}

#[test]
fn fewer_samples_than_batch() {
    let d = Dir::new();
    let p = d.text("few.csv", &good_csv(10, 3));
    assert_one_error(
        &fit_data(&d, &p, &["--batch", "100"]),
        &["few.csv", "8 training samples", "--batch 100"],
    );
}

#[test]
fn zero_variance_feature_per_feature() {
    let d = Dir::new();
    let mut text = String::new();
    for i in 0..10 {
        text += &format!("1.5,{i},{}\n", i * i);
    }
    let p = d.text("flat.csv", &text);
    assert_one_error(
        &fit_data(&d, &p, &["--normalize", "per-feature"]),
        &["flat.csv", "feature 0 has zero variance"],
    );
}

#[test]
fn k_larger_than_latent_or_batch() {
    let d = Dir::new();
    let p = d.text("data.csv", &good_csv(20, 3));
    // latent 4 (TINY), batch 16: k = 5 > min(4, 16).
    assert_one_error(
        &fit_data(&d, &p, &["--k", "5"]),
        &["data.csv", "--k 5", "min(latent, batch) = 4"],
    );
}

#[test]
fn test_file_with_other_width() {
    let d = Dir::new();
    let p = d.text("train.csv", &good_csv(20, 3));
    let t = d.text("test.csv", &good_csv(5, 4));
    assert_one_error(
        &fit_data(&d, &p, &["--test", &s(&t)]),
        &["train.csv has 3 features", "test.csv", "has 4"],
    );
}

#[test]
fn output_dir_not_writable() {
    // Tests run as root, so permissions do not block: a path under a
    // regular file cannot be created by anyone.
    let d = Dir::new();
    let p = d.text("data.csv", &good_csv(20, 3));
    let blocker = s(&d.text("plain_file", "x"));
    let out = format!("{blocker}/sub");
    let (file, mut args) = (s(&p), vec!["fit", "--quiet"]);
    args.extend_from_slice(&["--data", &file, "--out", &out]);
    args.extend_from_slice(&TINY);
    assert_one_error(&trainer(&args), &["plain_file/sub", "Not a directory"]);
}

/// A valid model file (a tiny fit on a small CSV) and its directory.
fn tiny_model(d: &Dir) -> PathBuf {
    let p = d.text("data.csv", &good_csv(20, 3));
    let out = fit_data(d, &p, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    d.path("out").join("model.rrae")
}

#[test]
fn newer_model_format_version() {
    let d = Dir::new();
    let model = tiny_model(&d);
    let mut bytes = std::fs::read(&model).unwrap();
    // The next minor version (offset 6), header CRC (offset 44) over bytes
    // [0, 44) recomputed: a well-formed file of a newer minor version.
    let newer = rrae_format::header::MINOR + 1;
    bytes[6..8].copy_from_slice(&newer.to_le_bytes());
    let crc = rrae_format::header::crc32(&bytes[..44]);
    bytes[44..48].copy_from_slice(&crc.to_le_bytes());
    let newer = d.path("newer.rrae");
    std::fs::write(&newer, &bytes).unwrap();
    let f = s(&newer);
    let line = assert_one_error(&trainer(&["inspect", &f]), &["newer.rrae"]);
    assert!(line.to_lowercase().contains("version"), "{line}");
    let line = assert_one_error(
        &trainer(&["eval", "--model", &f, "--dataset", "shift"]),
        &["newer.rrae"],
    );
    assert!(line.to_lowercase().contains("version"), "{line}");
}

#[test]
fn corrupt_model_file() {
    let d = Dir::new();
    let model = tiny_model(&d);
    let mut bytes = std::fs::read(&model).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    let bad = d.path("corrupt.rrae");
    std::fs::write(&bad, &bytes).unwrap();
    let f = s(&bad);
    assert_one_error(
        &trainer(&["inspect", &f]),
        &["corrupt.rrae", "checksum mismatch"],
    );
    assert_one_error(
        &trainer(&["eval", "--model", &f, "--dataset", "shift"]),
        &["corrupt.rrae", "checksum mismatch"],
    );
    let truncated = d.path("short.rrae");
    std::fs::write(&truncated, &bytes[..mid]).unwrap();
    assert_one_error(&trainer(&["inspect", &s(&truncated)]), &["short.rrae"]);
    // A data file given as a model names the file once, without repeats.
    let line = assert_one_error(
        &trainer(&[
            "eval",
            "--model",
            &s(&d.path("data.csv")),
            "--dataset",
            "shift",
        ]),
        &["data.csv", "not an .rrae file"],
    );
    assert_eq!(line.matches("invalid model file").count(), 1, "{line}");
}

#[test]
fn eval_data_of_other_width() {
    let d = Dir::new();
    let model = tiny_model(&d);
    let wide = d.text("wide.csv", &good_csv(4, 5));
    assert_one_error(
        &trainer(&["eval", "--model", &s(&model), "--data", &s(&wide)]),
        &["wide.csv", "5"],
    );
}

#[test]
fn divergence_stops_and_keeps_last_good_checkpoint() {
    let d = Dir::new();
    let p = d.text("data.csv", &good_csv(20, 3));
    // With the recipe search, every trial diverges: one error naming the
    // first, and no checkpoint (trials are never checkpointed).
    let searched = fit_data(&d, &p, &["--lr", "1e6", "--checkpoint-every", "1"]);
    assert_one_error(
        &searched,
        &[
            "recipe trial mlp-8",
            "training diverged at step",
            "try a smaller --lr",
        ],
    );
    // The main phase keeps its last good checkpoint.
    let out = fit_data(
        &d,
        &p,
        &[
            "--lr",
            "1e6",
            "--checkpoint-every",
            "1",
            "--recipe",
            "fixed",
        ],
    );
    assert_one_error(
        &out,
        &["training diverged at step", "try a smaller --lr", FILE_NAME],
    );
    let dir = d.path("out");
    assert!(!dir.join("model.rrae").exists());
    let ck = Checkpoint::load(&dir.join(FILE_NAME)).unwrap();
    assert!(ck.state.step >= 1);
    let finite = |m: &rrae_trainer::nn::Network<f32>| m.tensors().flatten().all(|v| v.is_finite());
    assert!(finite(&ck.state.encoder) && finite(&ck.state.decoder));
}

#[test]
fn resume_with_other_config_or_data_or_nothing() {
    let d = Dir::new();
    let p = d.text("data.csv", &good_csv(20, 3));
    assert_one_error(
        &fit_data(&d, &p, &["--resume"]),
        &[FILE_NAME, "no checkpoint to resume from"],
    );
    assert!(fit_data(&d, &p, &[]).status.success());
    assert_one_error(
        &fit_data(&d, &p, &["--resume", "--seed", "7"]),
        &[FILE_NAME, "different configuration", "seed: 0 -> 7"],
    );
    // Same shape (so the same resolved config), other values.
    let other = d.text("other.csv", &good_csv(20, 3).replace('5', "6"));
    assert_one_error(
        &fit_data(&d, &other, &["--resume"]),
        &[FILE_NAME, "different training data"],
    );
    // A corrupt checkpoint is named, not trusted.
    let ck = d.path("out").join(FILE_NAME);
    let mut bytes = std::fs::read(&ck).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&ck, &bytes).unwrap();
    assert_one_error(
        &fit_data(&d, &p, &["--resume"]),
        &[FILE_NAME, "CRC mismatch"],
    );
}

/// The reference rule's tracker is not checkpointed (the staged rule's
/// search is, and resumes: crash_safety.rs).
#[test]
fn resume_refused_for_the_reference_adaptive_rule() {
    let d = Dir::new();
    let p = d.text("data.csv", &good_csv(20, 3));
    assert_one_error(
        &fit_data(
            &d,
            &p,
            &["--adaptive", "--adaptive-rule", "reference", "--resume"],
        ),
        &["--resume is not supported for --adaptive-rule reference"],
    );
}

#[test]
fn resume_of_an_adaptive_run_without_a_checkpoint() {
    let d = Dir::new();
    let p = d.text("data.csv", &good_csv(20, 3));
    assert_one_error(
        &fit_data(&d, &p, &["--adaptive", "--resume"]),
        &[FILE_NAME, "no checkpoint to resume from"],
    );
}

/// `trainer fit --data FILE --quiet` plus `extra` (no MLP options).
fn fit_cnn(d: &Dir, file: &Path, extra: &[&str]) -> Output {
    let (file, out) = (s(file), d.out());
    let mut args = vec!["fit", "--quiet", "--data", &file, "--out", &out];
    args.extend_from_slice(&["--steps", "2", "--finetune-steps", "0"]);
    args.extend_from_slice(extra);
    trainer(&args)
}

#[test]
fn cnn_without_image_shape() {
    let d = Dir::new();
    let p = d.text("data.csv", &good_csv(20, 16));
    assert_one_error(
        &fit_cnn(&d, &p, &["--arch", "cnn"]),
        &["--arch cnn needs image data", "--image-shape C,H,W"],
    );
}

#[test]
fn image_shape_that_does_not_fit_the_data() {
    let d = Dir::new();
    let p = d.text("data.csv", &good_csv(20, 16));
    assert_one_error(
        &fit_cnn(&d, &p, &["--arch", "cnn", "--image-shape", "1,3,3"]),
        &["--image-shape 1,3,3", "16 features"],
    );
    assert_one_error(
        &fit_cnn(&d, &p, &["--image-shape", "4,4"]),
        &["--image-shape needs three values"],
    );
}

#[test]
fn impossible_cnn_geometry() {
    let d = Dir::new();
    let p = d.text("data.csv", &good_csv(20, 16));
    let shape = ["--arch", "cnn", "--image-shape", "1,4,4"];
    fn with<'a>(shape: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
        [shape, extra].concat()
    }
    assert_one_error(
        &fit_cnn(&d, &p, &with(&shape, &["--kernel", "9", "--padding", "0"])),
        &["encoder convolution 1 on 1 x 4 x 4", "kernel 9"],
    );
    assert_one_error(
        &fit_cnn(&d, &p, &with(&shape, &["--channels", "8,0"])),
        &["--channels entry 0"],
    );
    assert_one_error(
        &fit_cnn(&d, &p, &with(&shape, &["--stride", "0"])),
        &["stride 0"],
    );
    assert_one_error(
        &fit_cnn(&d, &p, &with(&shape, &["--width", "8"])),
        &["--arch mlp only"],
    );
    assert_one_error(&fit_cnn(&d, &p, &["--channels", "8"]), &["need --arch cnn"]);
}
