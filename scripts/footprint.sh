#!/usr/bin/env bash
# Measure the firmware example's flash and RAM on Cortex-M4F and regenerate docs/FOOTPRINT.md.
#
#   bash scripts/footprint.sh            # writes docs/FOOTPRINT.md
#   bash scripts/footprint.sh --stdout   # prints it instead
#
# Flash: total text (arm-none-eabi-size); the runtime's own code by symbol sizes
# (arm-none-eabi-nm -S, symbols of rrae_runtime / rrae_format); the runtime's marginal
# cost (src/bin/minimal.rs built with and without the runtime); the model bytes.
# RAM: scratch (model header), static data (.data + .bss), measured peak stack of
# encode and decode (stack painting, printed by the firmware in QEMU).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FW="$ROOT/firmware-example"
OUT="$ROOT/docs/FOOTPRINT.md"
[ "${1:-}" = "--stdout" ] && OUT=/dev/stdout
unset RUSTFLAGS CARGO_BUILD_TARGET CARGO_TARGET_DIR RUSTC
bash "$ROOT/scripts/install-embedded-toolchain.sh"

cd "$FW"
REL=target/thumbv7em-none-eabihf/release
ELF=$REL/rrae-firmware-example
mkdir -p target/footprint

t0=$(date +%s.%N)
cargo build --release --quiet
t1=$(date +%s.%N)
cargo run --release --quiet >target/footprint/qemu.log 2>&1 || { cat target/footprint/qemu.log; echo "footprint: QEMU run failed" >&2; exit 1; }
t2=$(date +%s.%N)
cargo build --release --quiet --bin minimal
cp $REL/minimal target/footprint/minimal
cargo run --release --quiet --bin minimal >/dev/null 2>&1 || { echo "footprint: minimal probe failed in QEMU" >&2; exit 1; }
cargo build --release --quiet --bin minimal --features footprint-baseline
cp $REL/minimal target/footprint/baseline
cargo build --release --quiet  # leave the default build in place
# The same probe at opt-level "z" (own target dir: a profile change rebuilds everything).
ZCFG=(--config 'profile.release.opt-level="z"' --target-dir target/footprint/opt-z)
ZREL=target/footprint/opt-z/thumbv7em-none-eabihf/release
cargo build --release --quiet --bin minimal "${ZCFG[@]}"
cp $ZREL/minimal target/footprint/minimal-z
cargo build --release --quiet --bin minimal --features footprint-baseline "${ZCFG[@]}"
cp $ZREL/minimal target/footprint/baseline-z
# Cortex-M0 without FPU (thumbv6m-none-eabi, micro:bit layout): the same probe, and the
# stack peaks printed by src/bin/shift.rs in QEMU -machine microbit.
M0=thumbv6m-none-eabi
cargo build --release --quiet --target $M0 --bin minimal
cp target/$M0/release/minimal target/footprint/minimal-m0
cargo build --release --quiet --target $M0 --bin minimal --features footprint-baseline
cp target/$M0/release/minimal target/footprint/baseline-m0
# The int8 copy of the model (model/int8/) through the same probe, M4F.
cargo build --release --quiet --bin minimal --features int8
cp $REL/minimal target/footprint/minimal-int8
cargo run --release --quiet --bin minimal --features int8 >/dev/null 2>&1 || { echo "footprint: int8 minimal probe failed in QEMU" >&2; exit 1; }
# Each kind of kernel alone (the runtime's cargo features): f32-only with the f32 model,
# int8-only with the int8 copy.
cargo build --release --quiet --bin minimal --no-default-features --features runtime-f32
cp $REL/minimal target/footprint/minimal-f32only
cargo build --release --quiet --bin minimal --no-default-features --features runtime-int8,int8
cp $REL/minimal target/footprint/minimal-int8only
cargo run --release --quiet --bin minimal --no-default-features --features runtime-int8,int8 >/dev/null 2>&1 || { echo "footprint: int8-only minimal probe failed in QEMU" >&2; exit 1; }
cargo run --release --quiet --target $M0 --bin shift >target/footprint/qemu-m0.log 2>&1 || { cat target/footprint/qemu-m0.log; echo "footprint: M0 run failed" >&2; exit 1; }

sec() { arm-none-eabi-size -A "$1" | awk -v s="$2" '$1==s {print $2; f=1} END {if (!f) print 0}'; }
text_total=$(arm-none-eabi-size -B "$ELF" | awk 'NR==2 {print $1}')
data=$(sec "$ELF" .data); bss=$(sec "$ELF" .bss); uninit=$(sec "$ELF" .uninit)
static_ram=$((data + bss + uninit))

# Code symbols (t/T/w/W) by crate. Demangled names; LTO may inline runtime functions
# into their callers, so this is a lower bound; the marginal cost below is an upper one.
nm_code() { arm-none-eabi-nm -S -C -t d --size-sort "$1" | awk 'NF>=4 && $3 ~ /^[tTwW]$/'; }
# Debug/Display impls (` as core::fmt::`) only exist because the example prints errors.
sum_re() { nm_code "$1" | awk -v re="$2" '{name=$4; for (i=5;i<=NF;i++) name=name" "$i} name ~ re && name !~ / as core::fmt::/ {s+=($2 + 0)} END {print s+0}'; }
# Runtime-attributed: names mentioning rrae_runtime/rrae_format (this includes the
# postcard/serde/heapless/sort code instantiated for its types), split by role.
rt_code=$(sum_re "$ELF" 'rrae_(runtime|format)::')
rt_decode=$(sum_re "$ELF" '^<?(&mut )?(postcard|serde|serde_core|heapless)::.*rrae_format::|^<<?rrae_format::meta::.*serde|^<?rrae_format::decode::|^<rrae_format::meta::ModelMeta>::decode')
rt_infer=$(sum_re "$ELF" '^<?rrae_runtime::')
rt_validate=$((rt_code - rt_decode - rt_infer))
libm_code=$(sum_re "$ELF" '^libm::')
fmt_code=$(sum_re "$ELF" '^<?core::fmt::|cortex_m_semihosting::')
top_rt=$(nm_code "$ELF" | awk '{name=$4; for (i=5;i<=NF;i++) name=name" "$i} name ~ /rrae_(runtime|format)::|libm::|postcard::|crc::/ && name !~ / as core::fmt::/ {printf "| `%s` | %d |\n", substr(name,1,90), ($2 + 0)}' | sort -t'|' -k3 -n -r | head -12)

model_len=$(stat -c %s model/model.rrae)
weights_len=$(od -An -tu4 -j28 -N4 model/model.rrae | tr -d ' ')
scratch_floats=$(awk '/pub const SCRATCH_FLOATS/ {gsub(";",""); print $NF}' model/expected.rs)
model_name=$(awk -F'"' '/pub const MODEL_NAME/ {print $2}' model/expected.rs)
source_line=$(sed -n 's#^// Model: ##p' model/expected.rs)
rank=$(awk '/pub const RANK/ {gsub(";",""); print $NF}' model/expected.rs)
input_dim=$(awk '/pub const INPUT_DIM/ {gsub(";",""); print $NF}' model/expected.rs)

flash_of() { arm-none-eabi-size -A "$1" | awk '$1==".vector_table"||$1==".text"||$1==".rodata"||$1==".data" {s+=$2} END {print s}'; }
min_flash=$(flash_of target/footprint/minimal)
base_flash=$(flash_of target/footprint/baseline)
marginal=$((min_flash - base_flash - model_len))
min_flash_z=$(flash_of target/footprint/minimal-z)
base_flash_z=$(flash_of target/footprint/baseline-z)
marginal_z=$((min_flash_z - base_flash_z - model_len))

int8_len=$(stat -c %s model/int8/model.rrae)
marginal_int8=$(($(flash_of target/footprint/minimal-int8) - base_flash - int8_len))
marginal_f32only=$(($(flash_of target/footprint/minimal-f32only) - base_flash - model_len))
marginal_int8only=$(($(flash_of target/footprint/minimal-int8only) - base_flash - int8_len))
int8_code=$(sum_re target/footprint/minimal-int8 '^<?rrae_runtime::int8::|^<rrae_runtime::model::Model>::q_')
min_flash_m0=$(flash_of target/footprint/minimal-m0)
marginal_m0=$((min_flash_m0 - $(flash_of target/footprint/baseline-m0) - model_len))
# compiler-builtins' soft-float routines (f32 add/mul/div/compare/convert) the runtime pulls in.
softfloat_m0=$(sum_re target/footprint/minimal-m0 '^(__aeabi_f|compiler_builtins::float::)')
peak_enc_m0=$(sed -n 's/^shift ram: .*encode \([0-9]*\) B.*/\1/p' target/footprint/qemu-m0.log)
peak_dec_m0=$(sed -n 's/^shift ram: .*decode \([0-9]*\) B.*/\1/p' target/footprint/qemu-m0.log)

peak_enc=$(sed -n 's/.*peak encode \([0-9]*\) B.*/\1/p' target/footprint/qemu.log)
peak_dec=$(sed -n 's/.*peak decode \([0-9]*\) B.*/\1/p' target/footprint/qemu.log)
peak_load=$(sed -n 's/^stack: peak from_bytes \([0-9]*\) B.*/\1/p' target/footprint/qemu.log)
model_struct=$(sed -n 's/^stack: peak from_bytes .*size of Model \([0-9]*\) B.*/\1/p' target/footprint/qemu.log)
# The CNN example (model/cnn.rrae, checked against the f64 reference).
cnn_len=$(stat -c %s model/cnn.rrae)
cnn_source=$(sed -n 's/^pub const CNN_SOURCE: &str = "\(.*\)";/\1/p' model/cnn_expected.rs)
cnn_weights=$(od -An -tu4 -j28 -N4 model/cnn.rrae | tr -d ' ')
cnn_scratch=$(awk '/pub const CNN_SCRATCH_FLOATS/ {gsub(";",""); print $NF}' model/cnn_expected.rs)
cnn_enc=$(sed -n 's/^cnn stack: encode \([0-9]*\) B.*/\1/p' target/footprint/qemu.log)
cnn_dec=$(sed -n 's/^cnn stack: .*decode \([0-9]*\) B;.*/\1/p' target/footprint/qemu.log)
cnn_diff=$(sed -n 's/.*check cnn .*max rel. diff \([-0-9.e]*\),.*/\1/p' target/footprint/qemu.log | sort -g | tail -1)
conv_code=$(sum_re "$ELF" '^<?rrae_runtime::kernels::(conv|span|chunk|axpy)|^<?rrae_format::meta::(Conv|Layer)>::')
build_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')
run_s=$(awk -v a="$t1" -v b="$t2" 'BEGIN {printf "%.2f", b - a}')
kb() { awk -v b="$1" 'BEGIN {printf "%.1f kB", b/1000}'; }
rustc_v=$(rustc -V)

cat >"$OUT" <<EOF
# Footprint on Cortex-M4F

Generated by \`scripts/footprint.sh\` (do not edit by hand). Target
\`thumbv7em-none-eabihf\`, release profile of \`firmware-example/\` (\`opt-level = "s"\`,
LTO, \`codegen-units = 1\`, \`panic = "abort"\`), ${rustc_v}, run in QEMU
\`mps2-an386\`. 1 kB = 1000 bytes.

Model: \`${model_name}\` — ${source_line}; input_dim ${input_dim}, k = ${rank}.

## Flash

| what | bytes | |
|---|---:|---|
| total text of the example firmware (\`arm-none-eabi-size\`: vectors + code + rodata, incl. model, test data, formatting) | ${text_total} | $(kb "$text_total") |
| **runtime's marginal cost**: \`minimal\` probe with the runtime minus without, minus the model | **${marginal}** | $(kb "$marginal") |
| the same at \`opt-level = "z"\` | ${marginal_z} | $(kb "$marginal_z") |
| runtime's own code by symbol sizes (names mentioning \`rrae_runtime\`/\`rrae_format\`, incl. generic code instantiated for them; code LTO inlined into the example's \`main\` is not counted) | ${rt_code} | $(kb "$rt_code") |
| — inference (\`rrae_runtime::\`: layers, kernels, encode/decode/sample) | ${rt_infer} | |
| — metadata decoding (\`rrae_format::decode\`, hand-written postcard; before: postcard/serde/heapless generics) | ${rt_decode} | |
| — validation, CRC, layout checks (the rest of \`rrae_format\`) | ${rt_validate} | |
| \`libm\` (activations: \`expf\`, \`expm1f\`, ...) | ${libm_code} | |
| formatting + semihosting in the example (\`core::fmt\`, \`cortex_m_semihosting\`; not part of the runtime) | ${fmt_code} | |
| the model file (\`model.rrae\`, in flash, read in place) | ${model_len} | $(kb "$model_len") |
| of which weights | ${weights_len} | $(kb "$weights_len") |
| **runtime's marginal cost with the int8 copy of the model** (\`minimal --features int8\`, f32 API: f32 and int8 kernels linked; minus its model) | **${marginal_int8}** | $(kb "$marginal_int8") |
| — int8 code by symbol sizes (\`rrae_runtime::int8::\`, \`Model::q_*\`; LTO inlines the dense kernel into them) | ${int8_code} | |
| the int8 model file (\`model/int8/model.rrae\`, \`host-gen quantize\`) | ${int8_len} | $(kb "$int8_len") |
| runtime's marginal cost with the f32 kernels only (\`--no-default-features --features runtime-f32\`, f32 model) | ${marginal_f32only} | $(kb "$marginal_f32only") |
| **runtime's marginal cost with the int8 kernels only** (\`--no-default-features --features runtime-int8,int8\`, int8 model; issue #14 goal: under 8 kB) | **${marginal_int8only}** | $(kb "$marginal_int8only") |

The \`minimal\` probe (\`firmware-example/src/bin/minimal.rs\`) loads the model,
encodes one input and decodes it, with no printing; its baseline build keeps the
same skeleton without touching the runtime. Their flash difference minus the
model bytes (${min_flash} - ${base_flash} - ${model_len}) is what linking the runtime costs a
firmware: its code (validation, CRC, metadata decoding, dense kernels,
activations from \`libm\`), its constant tables, and the call glue. Goal: under
8 kB.

Largest runtime-related code symbols in the example:

| symbol | bytes |
|---|---:|
${top_rt}

## RAM

| what | bytes |
|---|---:|
| scratch (\`SCRATCH_FLOATS\` = ${scratch_floats} floats from the model header; caller-owned, here in \`main\`'s frame) | $((scratch_floats * 4)) |
| static data of the example (\`.data\` + \`.bss\` + \`.uninit\` = ${data} + ${bss} + ${uninit}) | ${static_ram} |
| peak stack of \`encode\` (measured, stack painting) | ${peak_enc} |
| peak stack of \`decode\` (measured, stack painting) | ${peak_dec} |
| peak stack of \`Model::from_bytes\` (measured; once, at load: validation, CRC, metadata decoding) | ${peak_load} |
| the \`Model\` value itself (\`size_of\`, in the caller's frame) | ${model_struct} |

The model itself needs no RAM: \`Model::from_bytes\` validates the bytes once
and borrows the weights from flash. Stack peaks are measured on the device:
\`firmware-example/src/stack.rs\` fills the free stack with \`0xDEADBEEF\`, calls
the operation through an opaque function pointer, and finds the lowest word
that changed; the figure includes the call and a few words of the probe. A
caller needs about scratch + peak stack + its own input/output buffers
(\`4 * (input_dim + k)\` bytes).

## The CNN example (convolution layers, format 1.1)

\`model/cnn.rrae\` (\`scripts/firmware.sh --regen\`: \`${cnn_source}\`, then
\`host-gen cnn-model --from\`): a CNN trained on the built-in 32x32
\`2d_gaussian_shift_scale\` images, Conv2d(1->8) -> Conv2d(8->16) (3x3, stride 2,
ELU) -> Dense 1024 -> 2 | Dense 2 -> 1024 (ELU) -> ConvTranspose2d(16->8) ->
ConvTranspose2d(8->1) (basis folded; test error 7.3 % in \`metrics.json\`). The firmware
checks its coefficients and reconstructions against the host's \`f64\` reference
(\`rrae_format::testing::reference_f64\`): largest relative difference in this run
${cnn_diff} (tolerance 1e-4).

| what | bytes |
|---|---:|
| model file (flash, read in place) | ${cnn_len} |
| of which weights | ${cnn_weights} |
| scratch (\`CNN_SCRATCH_FLOATS\` = ${cnn_scratch} floats: 2 x the widest feature map, 8x16x16; convolutions need no im2col buffer) | $((cnn_scratch * 4)) |
| peak stack of \`encode\` (measured) | ${cnn_enc} |
| peak stack of \`decode\` (measured) | ${cnn_dec} |
| convolution code by symbol sizes (\`rrae_runtime::kernels::conv*\` and helpers, \`rrae_format::meta::{Conv, Layer}\` geometry; a lower bound, LTO inlines) | ${conv_code} |

Every firmware that links the runtime carries the convolution code (the layer
kind is known only from the model bytes); the \`minimal\` probe above, which
runs the dense model, includes it in the marginal cost.

## Compared with published figures

MicroFlow (Carnelos et al., 2024) reports a sine-predictor model on an
nRF52840 at **34.3 kB flash / 5.3 kB RAM** with MicroFlow versus **116.4 kB /
45.7 kB** with TensorFlow Lite for Microcontrollers. Those are whole-firmware
figures for a different (smaller) model, so compare orders of magnitude: the
runtime here adds $(kb "$marginal") of flash beyond the model, and its RAM is the
scratch plus a measured stack peak, with no arena and no heap. The whole
\`minimal\` probe (runtime, model, start-up code, vector table) is
$(kb "$min_flash") of flash, of which $(kb "$model_len") is this model; its RAM is
$((scratch_floats * 4)) B scratch + $((peak_dec > peak_enc ? peak_dec : peak_enc)) B peak stack
+ $((4 * (input_dim + rank))) B input/output buffers.

### Issue #5: under 8 kB?

History of the marginal cost (same probe, same model, \`opt-level = "s"\`):

| step | bytes |
|---|---:|
| before (serde/postcard decoding, \`crc\` crate with its 1 kB table) | 12124 |
| CRC-32 with a 16-entry nibble table (64 B) instead of 256 entries | 11096 |
| hand-written postcard decoder for \`ModelMeta\` (same bytes, values and errors; differential tests in \`formats/tests/decode.rs\`) | 9804 |
| one out-of-line tensor check in validation, metadata decoded in place, simpler \`scratch_floats\` | 9156 |
| first encoder layer reads \`x\`, last decoder layer writes \`x_hat\` (scratch without \`input_dim\`: 1600 -> 512 B for this model; issue #7) | 9268 |
| convolution layers (issue #9): one direct kernel for Conv2d and ConvTranspose2d (two specialized ones: 13384), geometry checks, decoding of the new variants | 12816 |
| register-blocked \`matvec\` (issue #15): four rows x four lanes kept in registers at "s", shift model 12.5 / 13.9 -> 2.9 / 3.4 instructions per MAC in QEMU (docs/BENCHMARKS.md) | 13832 |
| format 1.2 and the int8 kernels (branch \`int8-core\` merged; an f32-only firmware links the int8 code too: the layer kind is known only from the model bytes) | 20588 |
| now | ${marginal} |

By symbol sizes (code named after \`rrae_runtime\`/\`rrae_format\`: ${rt_code} B now,
8588 B before: inference 2686, metadata decoding 3230, validation and CRC 2672) the
runtime's own code is $( [ "$rt_code" -lt 8000 ] && echo "**under** 8 kB" || echo "**over** 8 kB" ). By the
probe difference, which also counts \`libm\` (${libm_code} B), the UTF-8 check of the
name from \`core\`, \`memcpy\`/\`memset\`, the runtime code LTO inlined into \`main\`
and the constant tables, it is $( [ "$marginal" -lt 8000 ] && echo "**under** 8 kB" || echo "**not yet** under 8 kB" ) (${marginal} B). At
\`opt-level = "z"\` the probe difference is ${marginal_z} B (the firmware profile keeps "s":
the kernels are faster and the gain is small).

CRC cost at load: the body CRC covers ${model_len} - 48 bytes. Inner loops on the
Cortex-M4 (from the disassembly; one-cycle ALU ops, two-cycle loads, ~3-cycle
taken branch, no flash wait states): nibble table 9 instructions, ~15
cycles/byte, $(awk -v n="$model_len" 'BEGIN {printf "%.0f", (n - 48) * 15 / 64e3}') ms at 64 MHz; the \`crc\` crate's 1 kB table
(feature \`crc-table\` of \`rrae-format\`/\`rrae-runtime\`) ~10 cycles/byte,
$(awk -v n="$model_len" 'BEGIN {printf "%.0f", (n - 48) * 10 / 64e3}') ms, +1 kB flash; \`crc::NoTable\` (bit by bit) ~74 cycles/byte,
$(awk -v n="$model_len" 'BEGIN {printf "%.0f", (n - 48) * 74 / 64e3}') ms, only 16 B smaller than the nibble table, so not used.

Remaining flash levers: \`activate\`/\`libm\` (~1.2 kB for seven activations;
a firmware that knows its activations could drop the others behind
features), \`validate\` (~1.7 kB), and the UTF-8 check of the model name
(~0.6 kB of \`core\` code and table; a byte-string name would change the API).

## On a Cortex-M0 without FPU (\`thumbv6m-none-eabi\`)

The same \`minimal\` probe and model built for \`thumbv6m-none-eabi\` (layout
\`memory/microbit.x\`: 256 kB flash, 16 kB RAM), f32 through compiler-builtins'
soft-float routines; stack peaks from \`src/bin/shift.rs\` in QEMU \`-machine microbit\`
(it also checks the results against the host's, bit for bit). Instruction counts:
docs/BENCHMARKS.md.

| what | bytes |
|---|---:|
| runtime's marginal cost (probe with minus without, minus the model) | ${marginal_m0} |
| of which soft-float routines (by symbol sizes) | ${softfloat_m0} |
| whole \`minimal\` probe (of 262144 B flash) | ${min_flash_m0} |
| scratch | $((scratch_floats * 4)) |
| peak stack of \`encode\` / \`decode\` (measured) | ${peak_enc_m0} / ${peak_dec_m0} |

## Build times (this machine, 2 shared cores)

| step | seconds |
|---|---:|
| \`cargo build --release\` when already built | ${build_s} |
| QEMU run of the example (all checks) | ${run_s} |

A first build from scratch (build-std compiles \`core\`, \`compiler_builtins\` and
the dependencies for the target; crates.io fetch included) took 1.5–3 min on this
machine, depending on what else was running; rebuilds after a source change take a
few seconds.
EOF
[ "$OUT" = /dev/stdout ] || echo "footprint: wrote $OUT (runtime marginal ${marginal} B, text total ${text_total} B, peak stack enc/dec ${peak_enc}/${peak_dec} B)"
