//! Crash safety of `trainer fit` (issue #8): a run killed with SIGKILL at
//! random moments never leaves a half-written file (every file present
//! parses; only temporary files with the documented prefix may remain, and
//! the next run removes them), and `--resume` then finishes with a model
//! bit-identical to an uninterrupted run. Ctrl-C (SIGINT) checkpoints, exits
//! non-zero saying how to resume, and the resumed model is bit-identical too.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rrae_format::AlignedBytes;
use rrae_trainer::atomic::TEMP_PREFIX;
use rrae_trainer::cli::fit_search::{SearchRecord, SEARCH_FILE};
use rrae_trainer::train::checkpoint::{Checkpoint, FILE_NAME};

/// A small run lasting a few seconds, checkpointing often so that kills
/// often land during a write.
const ARGS: [&str; 15] = [
    "fit",
    "--quiet",
    "--latent",
    "8",
    "--width",
    "16",
    "--dec-depth",
    "2",
    "--steps",
    "1200",
    "--finetune-steps",
    "40",
    "--checkpoint-every",
    "20",
    "--seed=3",
];

/// Added to [`ARGS`]: a short staged adaptive search (k_max 4: the k_max
/// stage, two bisection stages, each maybe with a fresh restart, then the
/// 1,200-step final schedule), with validation.
const ADAPTIVE_EXTRA: [&str; 12] = [
    "--adaptive",
    "--k-max",
    "4",
    "--init-steps",
    "300",
    "--stage-steps",
    "200",
    "--retry-steps",
    "200",
    "--batch",
    "20",
    "--val-fraction=0.2",
];

fn command(out: &Path, resume: bool) -> Command {
    command_with(&ARGS, out, resume)
}

fn command_with(args: &[&str], out: &Path, resume: bool) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trainer"));
    c.args(args).arg("--out").arg(out);
    if resume {
        c.arg("--resume");
    }
    c.stdout(Stdio::null()).stderr(Stdio::piped());
    c
}

fn finish(child: Child) -> Output {
    child.wait_with_output().expect("wait for trainer")
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "trainer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The uninterrupted run's model and wall time (computed once).
fn reference() -> &'static (Vec<u8>, Duration) {
    static REF: OnceLock<(Vec<u8>, Duration)> = OnceLock::new();
    REF.get_or_init(|| uninterrupted(&ARGS))
}

/// The model and wall time of an uninterrupted run of `args`.
fn uninterrupted(args: &[&str]) -> (Vec<u8>, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    assert_ok(&finish(
        command_with(args, dir.path(), false).spawn().unwrap(),
    ));
    let took = start.elapsed();
    eprintln!("reference run: {took:?}");
    (std::fs::read(dir.path().join("model.rrae")).unwrap(), took)
}

/// Every file in `dir` parses (or is a temporary file); returns how many
/// temporary files there are.
fn check_files(dir: &Path) -> usize {
    let mut temps = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).unwrap();
        if name.starts_with(TEMP_PREFIX) {
            temps += 1;
        } else if name == "model.rrae" || name == "model-rrae.rrae" {
            // (model-rrae.rrae: the RRAE kept beside an exported linear model)
            let aligned = AlignedBytes::new(&bytes);
            assert!(rrae_format::read(&aligned).is_ok(), "{name} does not parse");
        } else if name == "metrics.json" {
            assert!(
                serde_json::from_slice::<serde_json::Value>(&bytes).is_ok(),
                "{name} does not parse"
            );
        } else if name == FILE_NAME {
            Checkpoint::load(&path).unwrap();
        } else if name == SEARCH_FILE {
            // The finished rank search of an adaptive run.
            assert!(
                serde_json::from_slice::<SearchRecord>(&bytes).is_ok(),
                "{name} does not parse"
            );
        } else if name.ends_with(".png") {
            let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
                .read_info()
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut buf = vec![0; reader.output_buffer_size().unwrap_or(0)];
            reader
                .next_frame(&mut buf)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        } else {
            panic!("unexpected file {name}");
        }
    }
    temps
}

/// Starts a run of `args` that resumes if there is a checkpoint.
fn start(args: &[&str], dir: &Path) -> Child {
    command_with(args, dir, dir.join(FILE_NAME).exists())
        .spawn()
        .unwrap()
}

#[test]
fn sigkill_at_random_moments_then_resume_is_bit_identical() {
    let (model, took) = reference();
    kill_and_resume(&ARGS, model, *took, 0x5EED_0008, 4);
}

/// An adaptive-rank run killed at 3 seeded random moments, each time
/// resumed from its checkpoint (search progress included), ends with the
/// uninterrupted run's model, byte for byte.
#[test]
fn adaptive_sigkill_at_random_moments_then_resume_is_bit_identical() {
    let args: Vec<&str> = ARGS.iter().chain(&ADAPTIVE_EXTRA).copied().collect();
    let (model, took) = uninterrupted(&args);
    kill_and_resume(&args, &model, took, 0xADA9_0017, 3);
}

/// Runs `args` `kills` times, each killed (SIGKILL) after a seeded random
/// share (5 % to 95 %) of `took`, resuming from the checkpoint if any; then
/// finishes and compares the model with `model`.
fn kill_and_resume(args: &[&str], model: &[u8], took: Duration, mut seed: u64, kills: usize) {
    let dir = tempfile::tempdir().unwrap();
    let mut stale = 0;
    for kill in 0..kills {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let frac = 0.05 + 0.9 * ((seed >> 11) as f64 / (1u64 << 53) as f64);
        let mut child = start(args, dir.path());
        std::thread::sleep(took.mul_f64(frac));
        let _ = child.kill(); // SIGKILL; the run may already be over
        let out = finish(child);
        let temps = check_files(dir.path());
        stale += temps;
        eprintln!(
            "kill {kill} after {:.0} % of a run: exit {:?}, {temps} temp file(s)",
            frac * 100.0,
            out.status.code()
        );
    }
    // A temporary file left by a kill during a write (planted, as kills
    // rarely land inside one) is removed by the next run.
    let planted = dir.path().join(format!("{TEMP_PREFIX}model.rrae.1.0"));
    std::fs::write(&planted, b"half a model").unwrap();
    let out = finish(start(args, dir.path()));
    assert_ok(&out);
    assert_eq!(check_files(dir.path()), 0, "temp files were not cleaned");
    let resumed = std::fs::read(dir.path().join("model.rrae")).unwrap();
    assert!(resumed == model, "resumed model differs from the reference");
    eprintln!("temp files seen after kills: {stale}");
}

#[test]
fn sigint_checkpoints_and_resume_is_bit_identical() {
    let (model, _) = reference();
    let dir = tempfile::tempdir().unwrap();
    let child = command(dir.path(), false).spawn().unwrap();
    // Interrupt once the first periodic checkpoint exists (mid-training).
    let ck = dir.path().join(FILE_NAME);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ck.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let pid = child.id().to_string();
    let sent = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(sent.success());
    let out = finish(child);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains("interrupted at step") && errors[0].contains("--resume"),
        "{stderr}"
    );
    assert!(!dir.path().join("model.rrae").exists(), "{stderr}");
    let step = Checkpoint::load(&ck).unwrap().state.step;
    assert!(step > 0 && step < 1200, "checkpoint at step {step}");
    let out = finish(command(dir.path(), true).spawn().unwrap());
    assert_ok(&out);
    let resumed = std::fs::read(dir.path().join("model.rrae")).unwrap();
    assert!(
        resumed == *model,
        "resumed model differs from the reference"
    );
}
