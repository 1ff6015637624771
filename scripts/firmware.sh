#!/usr/bin/env bash
# Firmware checks: the runtime on a Cortex-M4F and a Cortex-M0 in QEMU, results equal to the host's.
#
#   bash scripts/firmware.sh            # CI: install toolchain, AD01 model (trainer import), clippy,
#                                       #     build, QEMU run, instruction counts with the device
#                                       #     results checked (scripts/icount.sh --check: shift + CNN
#                                       #     and AD01 on the M4F, shift on the M0 without FPU),
#                                       #     failure-path checks, thumbv7em + thumbv6m builds
#   bash scripts/firmware.sh --regen    # first retrain/regenerate firmware-example/model/
#                                       #     (and the CNN example: trains a small CNN, host-gen cnn-model;
#                                       #     and model/ad01_expected.rs, host-gen ad01)
#   bash scripts/firmware.sh --regen --placeholder   # regenerate with the random placeholder MLP
#
# Uses Debian rustc-web 1.96 + build-std, selected by firmware-example/rust-toolchain.toml
# and .cargo/config.toml, which cargo finds from the CURRENT directory (hence the cd's).
# The models and their expected host results are committed: CI never retrains. The exceptions
# are model/ad01.rrae and model/ad01-int8.rrae (1.06 MB and 272 kB, gitignored): `trainer
# import` makes them from the vendored tests/data/ad01/ad01_{fp32,int8}.tflite in about a
# second (the release trainer that bench/run also builds); model/ad01_expected.rs and
# model/ad01_int8_expected.rs hold their lengths and CRCs, so an importer change that alters
# a file fails the run with "run scripts/firmware.sh --regen".
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FW="$ROOT/firmware-example"
REGEN=0
PLACEHOLDER=0
for a in "$@"; do
  case "$a" in
    --regen) REGEN=1 ;;
    --placeholder) PLACEHOLDER=1 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "firmware.sh: unknown option $a" >&2; exit 2 ;;
  esac
done

step() { printf '\n--> firmware: %s\n' "$*"; }
# A RUSTFLAGS variable would replace the config's rustflags (and -Tlink.x with it).
unset RUSTFLAGS CARGO_BUILD_TARGET CARGO_TARGET_DIR RUSTC

step "toolchain (idempotent)"
bash "$ROOT/scripts/install-embedded-toolchain.sh"

step "AD01 models: trainer import tests/data/ad01/ad01_fp32.tflite and ad01_int8.tflite (not committed)"
(cd "$ROOT" && cargo build --release --quiet -p rrae-trainer --bin trainer)
"$ROOT/target/release/trainer" import "$ROOT/tests/data/ad01/ad01_fp32.tflite" --out "$FW/model/ad01.rrae" >/dev/null
"$ROOT/target/release/trainer" import "$ROOT/tests/data/ad01/ad01_int8.tflite" --out "$FW/model/ad01-int8.rrae" >/dev/null
ls -l "$FW/model/ad01.rrae" "$FW/model/ad01-int8.rrae"

if [ "$REGEN" = 1 ]; then
  step "regenerate firmware-example/model/"
  # Host tools run from the repository root: the host (rustup) toolchain, no thumb config.
  cd "$ROOT"
  GEN_DIR="$FW/target/regen"
  rm -rf "$GEN_DIR"; mkdir -p "$GEN_DIR"
  hostgen() { cargo run --quiet --release --manifest-path "$FW/host-gen/Cargo.toml" \
                --target-dir "$FW/target/host-gen" "$@"; }
  if [ "$PLACEHOLDER" = 0 ]; then
    # Train the default small model on the built-in `shift` data set (k = 1), then
    # take the device's test inputs from that data set's test split.
    TRAIN_ARGS=(fit --dataset shift --k 1 --seed 7)
    cargo run --release -p rrae-trainer --bin trainer -- "${TRAIN_ARGS[@]}" --quiet --out "$GEN_DIR"
    hostgen -- expected "$GEN_DIR/model.rrae" "$FW/model" --cases 4 \
      --dataset shift --source "trainer ${TRAIN_ARGS[*]}"
  else
    hostgen -- placeholder-model "$GEN_DIR/model.rrae"
    hostgen -- expected "$GEN_DIR/model.rrae" "$FW/model" --cases 4 \
      --source "host-gen placeholder-model (deterministic random MLP, not trained)"
  fi
  # The CNN example, f64 reference results: a small CNN trained on the built-in
  # 32 x 32 image set (random weights with --placeholder).
  if [ "$PLACEHOLDER" = 0 ]; then
    CNN_ARGS=(fit --dataset 2d_gaussian_shift_scale --arch cnn --channels 8,16 --latent 16 --k 2 --seed 7)
    cargo run --release -p rrae-trainer --bin trainer -- "${CNN_ARGS[@]}" --quiet --out "$GEN_DIR/cnn"
    hostgen -- cnn-model "$FW/model" --from "$GEN_DIR/cnn/model.rrae" --source "trainer ${CNN_ARGS[*]}"
  else
    hostgen -- cnn-model "$FW/model"
  fi
  hostgen -- ad01 "$FW/model/ad01.rrae" "$ROOT/tests/data/ad01/normal_id_01_00000000_hist_librosa.bin" \
    "$FW/model/ad01_expected.rs"
  hostgen -- ad01 "$FW/model/ad01-int8.rrae" "$ROOT/tests/data/ad01/normal_id_01_00000000_hist_librosa.bin" \
    "$FW/model/ad01_int8_expected.rs"
  # The int8 copy of the shift model (hand-quantized by host-gen until `trainer quantize` is
  # used here) and its host results.
  mkdir -p "$FW/model/int8"
  hostgen -- quantize "$FW/model/model.rrae" "$FW/model/int8/model.rrae"
  hostgen -- expected "$FW/model/int8/model.rrae" "$FW/model/int8" --dataset shift --cases 4 \
    --source "host-gen quantize model/model.rrae (calibration: shift test split, min/max)"
  # The int8 CNN: `trainer quantize` of the CNN example, host results on its inputs
  # (CNN_INPUTS of model/cnn_expected.rs, as CSV rows).
  mkdir -p "$FW/model/int8/cnn"
  cargo run --release -p rrae-trainer --bin trainer -- quantize "$FW/model/cnn.rrae" \
    --dataset 2d_gaussian_shift_scale --out "$FW/model/int8/cnn/model.rrae"
  awk '/pub static CNN_INPUTS/{p=1; next} p && /^\];/{exit} p {gsub(/[][ ]/,""); sub(/,$/,""); print}' \
    "$FW/model/cnn_expected.rs" > "$GEN_DIR/cnn-inputs.csv"
  hostgen -- expected "$FW/model/int8/cnn/model.rrae" "$FW/model/int8/cnn" --inputs "$GEN_DIR/cnn-inputs.csv" \
    --cases 2 --source "trainer quantize model/cnn.rrae --dataset 2d_gaussian_shift_scale; inputs: model/cnn_expected.rs CNN_INPUTS"
fi

cd "$FW"
rustc -V

step "clippy -D warnings (M4F with AD01, M0)"
cargo clippy --release --features ad01 -- -D warnings
cargo clippy --release --target thumbv6m-none-eabi --bin shift -- -D warnings
cargo clippy --release --bin shift --features int8 -- -D warnings
cargo clippy --release --bin ad01 --features ad01,int8 -- -D warnings
cargo clippy --release --bin shift --features cnn8 -- -D warnings

step "build (thumbv7em-none-eabihf, release)"
cargo build --release
arm-none-eabi-size target/thumbv7em-none-eabihf/release/rrae-firmware-example

step "run in QEMU (mps2-an386, Cortex-M4F): device results must equal the host's"
LOG="target/qemu-run.log"
if ! cargo run --release 2>&1 | tee "$LOG"; then
  echo "firmware: QEMU run failed" >&2; exit 1
fi
grep -q "RESULT: PASS" "$LOG" || { echo "firmware: no PASS line in the QEMU output" >&2; exit 1; }

step "QEMU -icount runs: AD01 f32 and int8, int8 shift (M4F, M0), int8 CNN (M4F), f32 shift (M0) checked against the host; shift within 3.5 instructions per MAC"
# Deterministic (two runs must agree); fails if a device result differs from the host's
# (ad01 f32/int8, shift f32/int8, cnn8) or if encode or decode of the shift model on the M4F exceeds the
# limit (measured 2.91 / 3.44 at opt-level "s", docs/BENCHMARKS.md).
bash "$ROOT/scripts/icount.sh" --check 3.5

step "failure paths must fail"
if cargo run --release --features selftest-panic >target/qemu-panic.log 2>&1; then
  cat target/qemu-panic.log; echo "firmware: a panic did not fail the run" >&2; exit 1
fi
grep -q "PANIC: " target/qemu-panic.log || { cat target/qemu-panic.log; echo "firmware: panic run failed without the panic message" >&2; exit 1; }
echo "panic -> QEMU exit code non-zero: ok"
if cargo run --release --features selftest-mismatch >target/qemu-mismatch.log 2>&1; then
  cat target/qemu-mismatch.log; echo "firmware: a device/host mismatch did not fail the run" >&2; exit 1
fi
grep -q "RESULT: FAIL" target/qemu-mismatch.log || { cat target/qemu-mismatch.log; echo "firmware: mismatch run failed for another reason" >&2; exit 1; }
echo "perturbed result -> check fails, QEMU exit code non-zero: ok"

step "rrae-runtime + rrae-format for thumbv7em-none-eabihf (M4F) and thumbv6m-none-eabi (M0, no FPU)"
# Built as dependencies of the firmware project (its lockfile, its target dir), with
# build-std of core only: proves both crates are no_std and need no alloc.
for t in thumbv7em-none-eabihf thumbv6m-none-eabi; do
  cargo build --release --target "$t" -p rrae-runtime -p rrae-format
done

echo
echo "firmware: OK"
