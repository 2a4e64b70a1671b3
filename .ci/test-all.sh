#!/usr/bin/env bash
# glitter's one test command: sets up what it needs, then runs every test.
#   bash .ci/test-all.sh
# Installs (when missing): the thumb targets (rustup), qemu-system-arm, iproute2,
# chromium and chromium-driver (apt-get; the web app's browser tests), the nightly
# toolchain and cargo-fuzz. The network lab tests need root (namespaces, TUN devices);
# CI runs as root.
# Runs: fmt and clippy checks, rustdoc, all host tests, every fuzz target for 10 s
# (docs/FUZZING.md), the no_std builds of core for thumbv7m (with and without defmt),
# the firmware under QEMU (when present), and the device node end to end (QEMU
# firmware bridged by `glitter node --device` into a libp2p network).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
passed=0
ok() { passed=$((passed + 1)); }

step "set-up: rust targets"
for t in thumbv7m-none-eabi thumbv7em-none-eabihf; do
  if ! rustup target list --installed | grep -qx "$t"; then
    rustup target add "$t"
  fi
done
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt

step "set-up: qemu-system-arm, iproute2 (the network lab), chromium and chromium-driver (the web app's browser tests)"
need=""
command -v qemu-system-arm >/dev/null 2>&1 || need="$need qemu-system-arm"
command -v ip >/dev/null 2>&1 || need="$need iproute2"
[ -x /usr/bin/chromium ] || need="$need chromium"
[ -x /usr/bin/chromedriver ] || need="$need chromium-driver"
if [ -n "$need" ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $need >/dev/null
fi
qemu-system-arm --version | head -1
ip -V
# The lab (host-sim/lab, `glitter lab`) makes network namespaces and TUN devices: root.
[ "$(id -u)" -eq 0 ] || echo "warning: not root: the network lab tests will fail (they need root)"
[ -e /dev/net/tun ] || { mkdir -p /dev/net && mknod /dev/net/tun c 10 200 && chmod 600 /dev/net/tun; }

step "format and lints (host workspace)"
cargo fmt --all -- --check
cargo fmt --manifest-path fuzz/Cargo.toml -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
ok

step "core builds for thumbv7m-none-eabi without an allocator (with and without defmt, with and without zk)"
cargo build -p glitter-core --target thumbv7m-none-eabi --quiet
cargo build -p glitter-core --target thumbv7m-none-eabi --features defmt --quiet
cargo build -p glitter-core --target thumbv7m-none-eabi --no-default-features --quiet
cargo clippy -p glitter-core --no-default-features --all-targets --quiet -- -D warnings
ok

step "host tests"
log="$(mktemp)"
cargo test --workspace 2>&1 | tee "$log"
host_tests=$(grep -E '^test result: ok\.' "$log" | awk '{s += $4} END {print s + 0}')
rm -f "$log"
echo "host tests passed: ${host_tests}"
ok

step "fuzz: every target for 10 s (nightly and cargo-fuzz; docs/FUZZING.md)"
if ! rustup toolchain list | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
bash fuzz/run-all.sh 10
ok

if [ -x firmware-example/run-qemu.sh ] || [ -f firmware-example/run-qemu.sh ]; then
  step "firmware: QEMU runs, sizes, board build"
  bash firmware-example/run-qemu.sh
  ok

  # The device node (built above) on the network: QEMU firmware <-> serial socket <->
  # `glitter node --device` <-> libp2p <-> another node; a power cut mid-sync; hostile
  # frames on the line (host-sim/cli/tests/device_qemu.rs).
  step "device node end to end: QEMU firmware bridged into a libp2p network"
  GLITTER_DEVICE_ELF="$PWD/firmware-example/target/qemu-out/glitter-node-mps2-an386.elf" \
    cargo test -p glitter --test device_qemu -- --ignored --nocapture
  ok
fi

echo
echo "test-all: ${passed} suites ok (${host_tests} host tests)"
echo "test-all: $((host_tests + passed)) passed, 0 failed"
