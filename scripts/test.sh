#!/usr/bin/env bash
# The project's test command: installs what it needs, then builds and runs every test.
# Used as-is by CI (.ci/run) and documented in README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

# Toolchain: the machine's Rust (cargo) is required.
command -v cargo >/dev/null || { echo "cargo not found: install Rust (https://rustup.rs)" >&2; exit 1; }

# cmake builds the bundled libopus (opusic-sys). `flac` lets the encoder tests check our FLAC
# output with the reference decoder (they skip that check, with a note, when it is missing).
# PostgreSQL (initdb, pg_ctl, psql) runs a real server for the database tests (the harness's
# Postgres, which panics without it).
missing=()
command -v cmake >/dev/null || missing+=(cmake)
command -v flac >/dev/null || missing+=(flac)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || missing+=(postgresql)
# The upload page is tested in a real headless Chromium over WebDriver.
command -v chromedriver >/dev/null || missing+=(chromium chromium-driver)
# loudgain is the independent reference for album and ReplayGain figures (album and tag tests,
# which fail without it).
command -v loudgain >/dev/null || missing+=(loudgain)
# The failover and load tests put HAProxy in front of the instances as the load balancer.
command -v haproxy >/dev/null || missing+=(haproxy)
if [ ${#missing[@]} -gt 0 ]; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    else
        echo "missing: ${missing[*]} (install them; cmake is required to build libopus)" >&2
        command -v cmake >/dev/null || exit 1
    fi
fi

# The S3/Lambda tests run against a real S3-compatible server (moto_server) and lint the
# deploy/ templates with cfn-lint 1.51.x: both come from a venv this script creates (pip, by name).
bash scripts/s3-venv.sh >/dev/null

# Keep incremental builds between runs outside the clone (CI gets a fresh clone each time).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/audioproc-target}"

# House rules: formatting and lints are not a matter of taste. `unsafe` is forbidden in every
# crate (the workspace lints) except engine/libflac, whose one FFI module allows it, and
# engine/simd, whose two entry points (one call each, after asking the CPU) allow it.
for manifest in */Cargo.toml */*/Cargo.toml; do
    # fuzz/ is a workspace of its own (cargo-fuzz; libFuzzer's entry point is generated `unsafe`).
    case "$manifest" in vendor/* | engine/libflac/* | engine/simd/* | fuzz/*) continue ;; esac
    grep -q '^workspace = true' "$manifest" && grep -q '^\[lints\]' "$manifest" ||
        { echo "$manifest: must use the workspace lints ([lints] workspace = true: unsafe_code = forbid)" >&2; exit 1; }
done
if grep -rn --include='*.rs' 'allow(unsafe_code)' --exclude-dir=target --exclude-dir=vendor . |
    grep -v '^./engine/libflac/src/ffi.rs:\|^./engine/simd/src/cascade.rs:\|^./engine/simd/src/lib.rs:'; then
    echo "allow(unsafe_code) outside engine/libflac/src/ffi.rs and engine/simd/src/{cascade,lib}.rs" >&2; exit 1
fi
for entry in engine/simd/src/cascade.rs engine/simd/src/lib.rs; do
    [ "$(grep -c 'allow(unsafe_code)' "$entry")" = 1 ] ||
        { echo "$entry: one allow(unsafe_code), for its entry point" >&2; exit 1; }
done
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

cargo build --workspace --all-targets --locked
cargo test --workspace --locked --no-fail-fast
# The benchmarks must keep compiling (they are run by hand: see README).
cargo bench -p audioproc-benches --no-run --locked
