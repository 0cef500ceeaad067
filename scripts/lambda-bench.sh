#!/usr/bin/env bash
# Benchmark of the Lambda path against a local S3 server (moto): binary size, cold start,
# x-realtime for a 5-minute track and objects/second (see lambda/examples/lambda_bench.rs).
#
#   scripts/lambda-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-cmake.sh
bash scripts/s3-venv.sh >/dev/null
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/audioproc-target}"
cargo build --release --locked -p audioproc-lambda --bin audioproc-lambda
export AUDIOPROC_LAMBDA_BIN="$CARGO_TARGET_DIR/release/audioproc-lambda"
cargo run --release --locked -q -p audioproc-lambda --example lambda_bench
