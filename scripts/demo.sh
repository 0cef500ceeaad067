#!/usr/bin/env bash
# The main job on the bundled demo file: build audioproc (release), measure testdata/demo.flac,
# normalise it to the EBU R128 target (−23 LUFS, −1 dBTP) into out/demo/, and measure the result.
#
#   scripts/demo.sh [PROCESS FLAGS...]   e.g. scripts/demo.sh --preset streaming --mode limit
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-cmake.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/audioproc-target}"
cargo build --release --locked -p audioproc-cli --bin audioproc
bin="$CARGO_TARGET_DIR/release/audioproc"
mkdir -p out/demo
"$bin" analyze testdata/demo.flac
"$bin" process testdata/demo.flac -o out/demo/demo.normalized.flac --force "$@"
"$bin" analyze out/demo/demo.normalized.flac
