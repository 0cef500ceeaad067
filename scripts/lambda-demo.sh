#!/usr/bin/env bash
# Local Lambda demo: starts a local S3 server (moto, from the venv scripts/s3-venv.sh makes),
# uploads the bundled track (or TRACK) to an input bucket, invokes the real audioproc-lambda
# binary through the Lambda Runtime API with the resulting S3 event, and downloads the output
# and its report to out/lambda-demo/.
#
#   scripts/lambda-demo.sh [TRACK]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-cmake.sh
bash scripts/s3-venv.sh >/dev/null
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/audioproc-target}"
cargo build --release --locked -p audioproc-lambda --bin audioproc-lambda
export AUDIOPROC_LAMBDA_BIN="$CARGO_TARGET_DIR/release/audioproc-lambda"
track="${1:-}"
[ -n "$track" ] && track="$(realpath "$track")"
cargo run --release --locked -q -p audioproc-lambda --example lambda_demo -- ${track:+"$track"}
