#!/usr/bin/env bash
# Instructions per call and per multiply-add of the runtime on a Cortex-M4F in QEMU.
#
#   bash scripts/icount.sh                # the firmware's release profile (as the README builds it): table
#   bash scripts/icount.sh --profiles     # also opt-level "z", "3", and "s" with the runtime at 3
#   bash scripts/icount.sh --check 3.5    # exit 1 if the shift model's encode or decode
#                                         #   exceeds 3.5 instructions per MAC (scripts/firmware.sh)
#
# Builds firmware-example/src/bin/icount.rs and runs it twice under
# `qemu-system-arm -machine mps2-an386 -icount shift=0` (1 instruction = 1 ns of
# virtual time; SysTick counts the 25 MHz core clock, 40 instructions a tick,
# calibrated on a 2,000,000-instruction loop). The two runs must print the same
# counts. Other profiles get their own target dirs (a first build takes minutes).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FW="$ROOT/firmware-example"
PROFILES=0
CHECK=""
while [ $# -gt 0 ]; do
  case "$1" in
    --profiles) PROFILES=1 ;;
    --check) CHECK="${2:?--check needs a number}"; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "icount.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
unset RUSTFLAGS CARGO_BUILD_TARGET CARGO_TARGET_DIR RUSTC
command -v qemu-system-arm >/dev/null || bash "$ROOT/scripts/install-embedded-toolchain.sh"
cd "$FW"

QEMU=(timeout 60 qemu-system-arm -cpu cortex-m4 -machine mps2-an386 -nographic
      -semihosting-config enable=on,target=native -icount shift=0 -kernel)

# run LABEL TARGET_DIR [cargo --config ...]: builds, runs twice, prints the table rows.
run() {
  local label=$1 dir=$2; shift 2
  cargo build --release --quiet --bin icount --target-dir "$dir" "$@"
  local elf="$dir/thumbv7em-none-eabihf/release/icount" out1 out2
  out1=$("${QEMU[@]}" "$elf") || { echo "$out1"; echo "icount: QEMU run failed ($label)" >&2; exit 1; }
  out2=$("${QEMU[@]}" "$elf")
  if [ "$out1" != "$out2" ]; then
    diff <(echo "$out1") <(echo "$out2") >&2 || true
    echo "icount: two runs differ ($label)" >&2; exit 1
  fi
  local calib
  calib=$(echo "$out1" | awk '/^icount calibration/ {print $3 " ticks / " $6 " instructions"}')
  echo "$out1" | awk -v label="$label" -v calib="$calib" '
    $1 == "icount" && $4 == "instructions" {
      printf "| %s | %s | %s | %d | %d | %s | %s |\n", label, $2, $3, $7, $5, $9, calib
    }'
}

echo "| build | model | operation | MACs | instructions | per MAC | calibration |"
echo "|---|---|---|---:|---:|---:|---|"
ROWS=$(run 'release (`opt-level = "s"`)' target)
echo "$ROWS"
if [ "$PROFILES" = 1 ]; then
  run '`opt-level = "z"`' target/icount-z --config 'profile.release.opt-level="z"'
  run '`opt-level = 3`' target/icount-3 --config 'profile.release.opt-level=3'
  run '"s", runtime at 3' target/icount-pkg3 --config 'profile.release.package.rrae-runtime.opt-level=3'
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
      printf "icount: shift encode and decode within %s instructions per MAC\n", max
    }' >&2
fi
