#!/usr/bin/env bash
# The main job on the bundled demo file: build audioproc and measure testdata/demo.flac.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/audioproc-target}"
cargo run --release --locked -p audioproc-cli --bin audioproc -- analyze "${@:-testdata/demo.flac}"
