#!/usr/bin/env bash
# Link-time proof that rrae-runtime (with the rrae-format reader) has no
# reachable panic: builds panic-check/ for thumbv7em-none-eabihf at opt-level
# 3 and "s" (LTO, one codegen unit, panic = abort). Its panic handler calls a
# symbol defined nowhere, so the link fails if any panic survives
# optimization; on failure this script prints the panic sites (inlined call
# chains). A self-test then adds a deliberate out-of-bounds index and checks
# that the link DOES fail. Needs Debian's rustc-web toolchain
# (scripts/install-embedded-toolchain.sh). Fast when nothing changed:
# cargo skips the builds, and the self-test is skipped while its stamp is
# newer than every input.
set -euo pipefail
cd "$(dirname "$0")/../panic-check"

SYMBOL=rrae_panic_is_reachable
BIN=rrae-panic-check
TARGET=thumbv7em-none-eabihf
PROFILES=(release release-s)

if [[ ! -f /usr/lib/rustlib/src/rust/library/Cargo.lock ]]; then
    echo "panic-check: Debian rustc-web + rust-web-src missing; run scripts/install-embedded-toolchain.sh" >&2
    exit 1
fi

# Prints every call into core::panicking / the panic handler, and every
# branch to such a call, as inlined source chains. Links with unresolved
# symbols allowed (cargo rebuilds normally on the next plain build).
locate() {
    local profile=$1 dir elf
    dir=$([[ $profile == release ]] && echo release || echo "$profile")
    cargo rustc --quiet --profile "$profile" -- -C link-arg=--warn-unresolved-symbols 2>/dev/null
    elf=target/$TARGET/$dir/$BIN
    arm-none-eabi-objdump -d --no-show-raw-insn "$elf" >"target/$profile.dis"
    local calls sites chain
    calls=$(grep -E '^\s+[0-9a-f]+:\s+bl?(\.w)?\s+[0-9a-f]+ <[^>]*(4core9panicking|rust_begin_unwind)' "target/$profile.dis" |
        sed -E 's/^\s+([0-9a-f]+):.*/\1/' || true)
    sites=$calls
    for a in $calls; do
        sites+=" $(grep -E "\s$a <" "target/$profile.dis" | sed -E 's/^\s+([0-9a-f]+):.*/\1/' | tr '\n' ' ' || true)"
    done
    for a in $sites; do
        chain=$(arm-none-eabi-addr2line -i -f -C -e "$elf" "0x$a" | paste - -)
        if grep -q rrae_ <<<"$chain"; then
            echo "  panic site 0x$a (innermost first):"
            sed 's/^/    /' <<<"$chain"
        fi
    done
}

for profile in "${PROFILES[@]}"; do
    if ! out=$(cargo build --quiet --locked --profile "$profile" 2>&1); then
        if grep -q "undefined symbol: $SYMBOL" <<<"$out"; then
            echo "panic-check FAILED ($profile): a panic is reachable from rrae-runtime's public API." >&2
            echo "Rewrite the site without panicking (get(), checked ops, iterators; no unsafe):" >&2
            locate "$profile" >&2
        else
            echo "$out" >&2
            echo "panic-check: build error ($profile), see above" >&2
        fi
        exit 1
    fi
    echo "panic-check: $profile links: no reachable panic"
done

stamp=target/selftest.stamp
if [[ -f $stamp && -z $(find src Cargo.toml Cargo.lock .cargo ../runtime/src ../formats/src -newer "$stamp" -print -quit) ]]; then
    echo "panic-check: self-test up to date"
    exit 0
fi
if out=$(cargo build --quiet --locked --release --features selftest-panic 2>&1); then
    echo "panic-check self-test FAILED: a deliberate panic linked; the check proves nothing" >&2
    exit 1
elif ! grep -q "undefined symbol: $SYMBOL" <<<"$out"; then
    echo "$out" >&2
    echo "panic-check self-test: build error, see above" >&2
    exit 1
fi
touch "$stamp"
echo "panic-check: self-test ok (a deliberate out-of-bounds index fails the link)"
