#!/usr/bin/env bash
# The main job on the bundled demo file: build audioproc (release), measure testdata/demo.flac,
# normalise it to the EBU R128 target (−23 LUFS, −1 dBTP) into out/demo/, and measure the result.
#
#   scripts/demo.sh [PROCESS FLAGS...]   e.g. scripts/demo.sh --preset streaming --mode limit
#   scripts/demo.sh --serve [SERVE FLAGS...]   the upload app instead: http://127.0.0.1:8080/
#                                             (data in out/app/; opened in a browser if one is there)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-cmake.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/audioproc-target}"
cargo build --release --locked -p audioproc-cli --bin audioproc
bin="$CARGO_TARGET_DIR/release/audioproc"
if [ "${1:-}" = "--serve" ]; then
    shift
    mkdir -p out/app
    url="http://127.0.0.1:8080/"
    prev=""
    for a in "$@"; do
        case "$a" in --listen=*) url="http://${a#--listen=}/";; esac
        [ "$prev" = "--listen" ] && url="http://$a/"
        prev="$a"
    done
    if command -v xdg-open >/dev/null && [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
        (sleep 1 && xdg-open "$url" >/dev/null 2>&1) &
    fi
    echo "open $url — sign up, then drop music on the page (Ctrl-C stops the server; nothing is lost)"
    exec "$bin" serve --data out/app "$@"
fi
mkdir -p out/demo
"$bin" analyze testdata/demo.flac
"$bin" process testdata/demo.flac -o out/demo/demo.normalized.flac --force "$@"
"$bin" analyze out/demo/demo.normalized.flac
