#!/usr/bin/env bash
# The project's test command: installs what it needs, then builds and runs every test.
# Used as-is by CI (.ci/run) and documented in README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

# Toolchain: the machine's Rust (cargo) is required; nothing else needs installing yet.
command -v cargo >/dev/null || { echo "cargo not found: install Rust (https://rustup.rs)" >&2; exit 1; }

# Keep incremental builds between runs outside the clone (CI gets a fresh clone each time).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/audioproc-target}"

cargo build --workspace --all-targets --locked
cargo test --workspace --locked --no-fail-fast
# The benchmarks must keep compiling (they are run by hand: see README).
cargo bench -p audioproc-benches --no-run --locked
