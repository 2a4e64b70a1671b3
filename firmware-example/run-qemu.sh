#!/usr/bin/env bash
# glitter firmware test: builds the firmware for both QEMU machines, runs each under
# a timeout, diffs its output against the committed golden file, checks size and
# stack budgets on lm3s6965evb, and builds (and lints) the nRF52840 configuration.
# Then the device node (feature `node`): builds it for mps2-an386 to a stable path
# (target/qemu-out/glitter-node-mps2-an386.elf, what the host end-to-end test runs),
# reports its sizes, boots it briefly without a host (smoke), and builds it for the
# nRF52840.
#
#   firmware-example/run-qemu.sh           run everything; exit non-zero on any failure
#   firmware-example/run-qemu.sh --bless   the same, but rewrite expected/*.txt from
#                                          this run (review the diff before committing)
#
# Installs what it needs when missing: the two thumb targets (rustup), QEMU and
# binutils (apt-get). Environment: GLITTER_QEMU_TIMEOUT_S (default 120).
set -euo pipefail

cd "$(dirname "$0")"
bless=0
case "${1:-}" in
--bless) bless=1 ;;
"") ;;
*)
    echo "usage: $0 [--bless]" >&2
    exit 2
    ;;
esac

timeout_s="${GLITTER_QEMU_TIMEOUT_S:-120}"
# Budgets on lm3s6965evb (issue 4): flash image at most 128 KiB; static RAM plus
# peak stack at most 48 KiB of the 64 KiB.
flash_budget=$((128 * 1024))
ram_budget=$((48 * 1024))

passed=0
failed=0
pass() {
    passed=$((passed + 1))
    echo "ok    $*"
}
fail() {
    failed=$((failed + 1))
    echo "FAIL  $*"
}

# --- tools -------------------------------------------------------------------------
apt_updated=0
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
apt_install() {
    if [ "$apt_updated" = 0 ]; then
        $sudo apt-get update -qq
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}
command -v qemu-system-arm >/dev/null || apt_install qemu-system-arm
command -v size >/dev/null || apt_install binutils
if command -v rustup >/dev/null; then
    installed="$(rustup target list --installed)"
    for t in thumbv7m-none-eabi thumbv7em-none-eabihf; do
        grep -qx "$t" <<<"$installed" || rustup target add "$t"
    done
fi
echo "== tools: $(qemu-system-arm --version | head -n1); $(rustc --version)"

# The QEMU command lines live in one place, .cargo/config.toml (the `cargo run`
# runners); this script reads them from there.
runner_for() {
    sed -n "/^\[target\.$1\]/,/^\[/{s/^runner = \"\(.*\)\"$/\1/p}" .cargo/config.toml
}

mkdir -p target/qemu-out

# --- one QEMU machine --------------------------------------------------------------
# run_machine NAME TARGET CARGO_FEATURE_ARGS...
run_machine() {
    local name="$1" target="$2"
    shift 2
    echo "== $name ($target)"
    if ! cargo build --release --quiet --target "$target" "$@"; then
        fail "$name: build"
        return
    fi
    local elf="target/qemu-out/glitter-firmware-$name.elf"
    cp "target/$target/release/glitter-firmware" "$elf"
    local out="target/qemu-out/$name.txt" runner
    runner="$(runner_for "$target")"
    if [ -z "$runner" ]; then
        fail "$name: no runner for $target in .cargo/config.toml"
        return
    fi
    local rc=0
    # shellcheck disable=SC2086 # the runner is a command line to split
    timeout --kill-after=5 "$timeout_s" $runner "$elf" >"$out" 2>"$out.stderr" || rc=$?
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        fail "$name: QEMU timed out after ${timeout_s}s"
        tail -n 20 "$out"
        return
    fi
    if [ "$rc" != 0 ]; then
        fail "$name: firmware exited with status $rc"
        tail -n 30 "$out"
        cat "$out.stderr"
        return
    fi
    pass "$name: firmware ran, every check passed (exit 0)"

    # Golden diff, without the measurement lines (`~`): those vary with the compiler
    # and the core's code, and are checked against budgets below instead.
    local expected="expected/$name.txt" filtered="target/qemu-out/$name.filtered.txt"
    grep -v '^ *~' "$out" >"$filtered" || true
    if [ "$bless" = 1 ]; then
        cp "$filtered" "$expected"
        pass "$name: wrote $expected"
    elif diff -u "$expected" "$filtered"; then
        pass "$name: output equals $expected"
    else
        fail "$name: output differs from $expected (regenerate: firmware-example/run-qemu.sh --bless)"
    fi
    grep '^ *~' "$out" || true

    # Sizes from the ELF, peak stack from the firmware's own paint scan.
    local sizes text rodata vectors data bss uninit flash static_ram peak
    sizes="$(size -A "$elf")"
    section() { awk -v s="$1" '$1 == s { print $2; f = 1 } END { if (!f) print 0 }' <<<"$sizes"; }
    text="$(section .text)"
    rodata="$(section .rodata)"
    vectors="$(section .vector_table)"
    data="$(section .data)"
    bss="$(section .bss)"
    uninit="$(section .uninit)"
    flash=$((vectors + text + rodata + data))
    static_ram=$((data + bss + uninit))
    peak="$(sed -n 's/^ *~ peak stack \([0-9]*\) bytes.*/\1/p' "$out")"
    echo "   .text $text  .rodata $rodata  .data $data  .bss $bss  (flash image $flash, static RAM $static_ram, peak stack ${peak:-?} bytes)"
    if [ "$name" = lm3s6965 ]; then
        if [ -z "$peak" ]; then
            fail "$name: no peak stack figure in the output"
        elif [ "$flash" -le "$flash_budget" ] && [ $((static_ram + peak)) -le "$ram_budget" ]; then
            pass "$name: budgets: flash $flash <= $flash_budget; static RAM + peak stack $((static_ram + peak)) <= $ram_budget"
        else
            fail "$name: budgets: flash $flash (max $flash_budget); static RAM + peak stack $((static_ram + peak)) (max $ram_budget)"
        fi
    fi
}

# --- lint, run, build ---------------------------------------------------------------
echo "== lint"
if cargo fmt --check; then pass "cargo fmt"; else fail "cargo fmt --check"; fi
lint() {
    if cargo clippy --release --quiet "$@" -- -D warnings; then
        pass "clippy $*"
    else
        fail "clippy $*"
    fi
}
lint
lint --target thumbv7em-none-eabihf --no-default-features --features mps2-an386
lint --target thumbv7em-none-eabihf --no-default-features --features nrf52840
lint --target thumbv7em-none-eabihf --no-default-features --features mps2-an386,node
lint --target thumbv7em-none-eabihf --no-default-features --features nrf52840,node

run_machine lm3s6965 thumbv7m-none-eabi
run_machine mps2-an386 thumbv7em-none-eabihf --no-default-features --features mps2-an386

echo "== nrf52840 (build only: CI has no board)"
if cargo build --release --quiet --target thumbv7em-none-eabihf --no-default-features --features nrf52840; then
    elf=target/thumbv7em-none-eabihf/release/glitter-firmware
    pass "nrf52840: firmware builds ($(size -A "$elf" | awk '$1 == ".text" { print ".text " $2 " bytes" }'))"
else
    fail "nrf52840: build"
fi

# --- the device node ------------------------------------------------------------------
# sizes_of ELF: "flash image N, static RAM M" (vector table + .text + .rodata + .data;
# .data + .bss + .uninit).
sizes_of() {
    size -A "$1" | awk '
        $1 == ".vector_table" || $1 == ".text" || $1 == ".rodata" { flash += $2 }
        $1 == ".data" { flash += $2; ram += $2 }
        $1 == ".bss" || $1 == ".uninit" { ram += $2 }
        END { printf "flash image %d bytes, static RAM %d bytes", flash, ram }'
}

echo "== device node: mps2-an386 (the host end-to-end test runs it; here: build, sizes, smoke)"
node_elf=target/qemu-out/glitter-node-mps2-an386.elf
if cargo build --release --quiet --target thumbv7em-none-eabihf --no-default-features --features mps2-an386,node; then
    cp target/thumbv7em-none-eabihf/release/glitter-firmware "$node_elf"
    pass "node (mps2-an386): builds to $node_elf ($(sizes_of "$node_elf"))"
    # Smoke: boot it with no host (-serial null) on a fresh flash file, twice: the
    # first boot creates and formats the file, the second mounts it. The node never
    # exits; QEMU is stopped by the timeout.
    flash_file=target/qemu-out/node-smoke.flash
    rm -f "$flash_file"
    for boot in first second; do
        out="target/qemu-out/node-smoke-$boot.txt"
        timeout --kill-after=2 3 qemu-system-arm -cpu cortex-m4 -machine mps2-an386 -nographic \
            -monitor none -icount shift=0 \
            -semihosting-config "enable=on,target=native,arg=$flash_file" \
            -serial null -kernel "$node_elf" >"$out" 2>"$out.stderr" || true
        if grep -Eq '^device [0-9a-f]{64} up: 0 authors, 0 blocks mounted, torn tail no$' "$out"; then
            pass "node (mps2-an386): $boot boot: $(grep '^flash: ' "$out" | sed 's|^flash: [^:]*: ||')"
        else
            fail "node (mps2-an386): $boot boot printed no 'device ... up:' line"
            cat "$out" "$out.stderr"
        fi
    done
    grep '^ *~' target/qemu-out/node-smoke-first.txt || true
else
    fail "node (mps2-an386): build"
fi

echo "== device node: nrf52840 (build only: CI has no board)"
if cargo build --release --quiet --target thumbv7em-none-eabihf --no-default-features --features nrf52840,node; then
    pass "node (nrf52840): builds ($(sizes_of target/thumbv7em-none-eabihf/release/glitter-firmware))"
else
    fail "node (nrf52840): build"
fi

echo "firmware: $passed passed, $failed failed"
[ "$failed" = 0 ]
