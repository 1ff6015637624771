#!/usr/bin/env bash
# A bounded fuzzing session of every target in fuzz/ (cargo-fuzz, libFuzzer,
# AddressSanitizer, release build WITH debug assertions so that integer
# overflow is a finding too):
#
#   scripts/fuzz.sh [--seconds N] [TARGET...]     (default: 20 s each, all targets)
#
# Targets: read, model, model_crc_fixed, import (see fuzz/src/lib.rs). Seeds (valid
# models from rrae_format::testing and the firmware example) are written to
# fuzz/corpus/<target>/ when missing or stale; the corpus grows across runs.
# Logs go to fuzz/target/logs/, crash inputs to fuzz/artifacts/<target>/
# (replay one with `cargo +nightly fuzz run -O -a <target> <file>`).
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# Exits non-zero on any finding.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds=20
targets=()
while (($#)); do
    case $1 in
    --seconds) seconds=$2; shift 2 ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
    esac
done
((${#targets[@]})) || targets=(read model model_crc_fixed import)

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz: needs the nightly toolchain and cargo-fuzz: cargo install cargo-fuzz" >&2
    exit 1
fi

cargo +nightly fuzz build -O -a

seeded=corpus/.seeded
if [[ ! -f $seeded || -n $(find examples ../formats/src/testing.rs ../firmware-example/model ../tests/data/tflite -newer "$seeded" -print -quit 2>/dev/null) ]]; then
    cargo +nightly run --quiet --locked --example seeds -- corpus
    touch "$seeded"
fi

mkdir -p target/logs
status=0
for t in "${targets[@]}"; do
    log=target/logs/$t.log
    if cargo +nightly fuzz run -O -a "$t" "corpus/$t" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
        result=ok
    else
        result="FINDING (see $log and artifacts/$t/)"
        status=1
    fi
    runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log")
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)
    printf 'fuzz %-16s %10s execs  %-20s %s\n' "$t" "${runs:-?}" "${cov:-?}" "$result"
done
exit $status
