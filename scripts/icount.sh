#!/usr/bin/env bash
# Instructions per call and per multiply-add on Cortex-M cores in QEMU, with the
# device results checked against the host's.
#
#   bash scripts/icount.sh                # the firmware's release profile (as the README builds it): table
#   bash scripts/icount.sh --profiles     # also opt-level "z", "3", and "s" with the runtime at 3
#   bash scripts/icount.sh --check 3.5    # exit 1 if the shift model's encode or decode on the M4F
#                                         #   exceeds 3.5 instructions per MAC (scripts/firmware.sh)
#   bash scripts/icount.sh --microflow    # also AD01 int8 run by the MicroFlow crate (bench/microflow-ad01)
#
# Rows (release profile): firmware-example/src/bin/icount.rs (shift + CNN, M4F),
# src/bin/ad01.rs (MLPerf Tiny AD01 f32, M4F; needs model/ad01.rrae, which
# scripts/firmware.sh makes; and with --features int8 the int8 AD01, row name ad01i8, from
# model/ad01-int8.rrae), src/bin/shift.rs with --features int8 (the int8 copy in
# model/int8/, row name shift8) and --features cnn8 (the int8 CNN in model/int8/cnn/, row cnn8), and src/bin/shift.rs f32 and int8 built for
# thumbv6m-none-eabi (Cortex-M0, no FPU, QEMU micro:bit with 16 kB RAM). Each runs twice under `qemu-system-arm -icount shift=0`
# (1 instruction = 1 ns of virtual time; SysTick counts the core clock, calibrated on a
# 2,000,000-instruction loop); the two runs must print the same counts, and ad01/shift
# exit non-zero when a device result differs from the host's. Other profiles get their
# own target dirs (a first build takes minutes).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FW="$ROOT/firmware-example"
PROFILES=0
MICROFLOW=0
CHECK=""
while [ $# -gt 0 ]; do
  case "$1" in
    --profiles) PROFILES=1 ;;
    --microflow) MICROFLOW=1 ;;
    --check) CHECK="${2:?--check needs a number}"; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "icount.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
unset RUSTFLAGS CARGO_BUILD_TARGET CARGO_TARGET_DIR RUSTC
command -v qemu-system-arm >/dev/null || bash "$ROOT/scripts/install-embedded-toolchain.sh"

M4=thumbv7em-none-eabihf
M0=thumbv6m-none-eabi
qemu() {  # qemu TARGET ELF
  case "$1" in
    "$M4") timeout 120 qemu-system-arm -cpu cortex-m4 -machine mps2-an386 -nographic \
             -semihosting-config enable=on,target=native -icount shift=0 -kernel "$2" ;;
    "$M0") timeout 120 qemu-system-arm -machine microbit -nographic \
             -semihosting-config enable=on,target=native -icount shift=0 -kernel "$2" ;;
  esac
}

# run LABEL TARGET_DIR TARGET BIN [cargo args]: builds (from the current directory, whose
# cargo config applies), runs twice, prints the table rows.
run() {
  local label=$1 dir=$2 target=$3 bin=$4; shift 4
  cargo build --release --quiet --target "$target" --bin "$bin" --target-dir "$dir" "$@"
  local elf="$dir/$target/release/$bin" out1 out2
  out1=$(qemu "$target" "$elf") || { echo "$out1" >&2; echo "icount: QEMU run of $bin failed ($label)" >&2; exit 1; }
  out2=$(qemu "$target" "$elf")
  if [ "$out1" != "$out2" ]; then
    diff <(echo "$out1") <(echo "$out2") >&2 || true
    echo "icount: two runs of $bin differ ($label)" >&2; exit 1
  fi
  local calib
  calib=$(echo "$out1" | awk '/^icount calibration/ {print $3 " ticks / " $6 " instructions"}')
  echo "$out1" | awk -v label="$label" -v calib="$calib" '
    $1 == "icount" && $4 == "instructions" {
      printf "| %s | %s | %s | %d | %d | %s | %s |\n", label, $2, $3, $7, $5, $9, calib
    }'
}

cd "$FW"
REL='release (`opt-level = "s"`)'
echo "| build | model | operation | MACs | instructions | per MAC | calibration |"
echo "|---|---|---|---:|---:|---:|---|"
ROWS=$(run "$REL, M4F" target $M4 icount)
echo "$ROWS"
for m in ad01.rrae:ad01 ad01-int8.rrae:ad01,int8; do
  if [ -f "model/${m%%:*}" ]; then
    run "$REL, M4F" target $M4 ad01 --features "${m#*:}"
  else
    echo "icount: model/${m%%:*} is missing (scripts/firmware.sh makes it): skipped" >&2
  fi
done
run "$REL, M4F" target $M4 shift --features int8
run "$REL, M4F" target $M4 shift --features cnn8
run "$REL, M0 (soft float)" target $M0 shift
run "$REL, M0" target $M0 shift --features int8
if [ "$PROFILES" = 1 ]; then
  run '`opt-level = "z"`, M4F' target/icount-z $M4 icount --config 'profile.release.opt-level="z"'
  run '`opt-level = 3`, M4F' target/icount-3 $M4 icount --config 'profile.release.opt-level=3'
  run '"s", runtime at 3, M4F' target/icount-pkg3 $M4 icount --config 'profile.release.package.rrae-runtime.opt-level=3'
fi
if [ "$MICROFLOW" = 1 ]; then
  # Its own project, lockfile and target dir; cargo config found from its directory.
  (cd "$ROOT/bench/microflow-ad01" && run "MicroFlow 0.1.3, $REL, M4F" target $M4 microflow-ad01)
fi

if [ -n "$CHECK" ]; then
  echo "$ROWS" | awk -F'|' -v max="$CHECK" '
    $3 ~ /shift/ && $4 ~ /^ (encode|decode) / {
      n++; v = $7 + 0
      if (v > max) { gsub(/ /, "", $4); printf "icount: shift %s takes %s instructions per MAC, over the limit %s\n", $4, v, max; bad = 1 }
    }
    END {
      if (n != 2) { print "icount: shift encode/decode rows missing"; exit 1 }
      if (bad) exit 1
      printf "icount: shift encode and decode within %s instructions per MAC on the M4F\n", max
    }' >&2
fi
