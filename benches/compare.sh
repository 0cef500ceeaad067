#!/usr/bin/env bash
# Whole-file comparison: `audioproc process` against ffmpeg's two-pass `loudnorm` (linear) and
# `ffmpeg-normalize`, all normalizing the same N-minute 44.1 kHz stereo WAV to -23 LUFS / -1 dBTP
# and writing WAV. Prints wall-clock seconds, x-realtime and the ratio table.
#
#   benches/compare.sh [MINUTES]      (default 60)
#   benches/compare.sh tag [TRACKS] [MINUTES]   (default 50 tracks of 3 minutes)
#   benches/compare.sh floor [MINUTES] [CHART]  (benches/floor.sh: decode, FLAC, meter, resample)
#
# `tag`: `audioproc tag --album` against `loudgain -a -s e` (both write ReplayGain 2.0 track and
# album tags in place) over the same folder of generated 44.1 kHz stereo 16-bit FLAC tracks,
# one run each on its own copy; prints the wall times, the ratio, and how far apart the two
# tools' album gains are. Installs loudgain and flac (apt) when missing.
#
# Installs what it needs by package name: ffmpeg (apt) and ffmpeg-normalize (pip, in a venv under
# $HOME/.cache/audioproc-venv-bench). Each tool runs once, in the same run, on the same input.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = tag ]; then
    exec benches/tag.sh "${@:2}"
fi
if [ "${1:-}" = floor ]; then
    exec benches/floor.sh "${@:2}"
fi
minutes="${1:-60}"

if ! command -v ffmpeg >/dev/null; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg
    else
        echo "ffmpeg is missing: install it (apt-get install ffmpeg)" >&2; exit 1
    fi
fi
venv="$HOME/.cache/audioproc-venv-bench"
if [ ! -x "$venv/bin/ffmpeg-normalize" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q ffmpeg-normalize
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/audioproc-target}"
cargo build --release --locked -p audioproc-cli --bin audioproc -p audioproc-testdata --bin gen-long
bin="$CARGO_TARGET_DIR/release"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
input="$work/in.wav"
"$bin/gen-long" "$input" "$minutes"
seconds=$((minutes * 60))

# Wall-clock seconds of a command, as a decimal.
timed() {
    local start end
    start=$(date +%s.%N)
    "$@" >"$work/last.log" 2>&1 || { cat "$work/last.log" >&2; return 1; }
    end=$(date +%s.%N)
    echo "$end - $start" | bc -l
}

echo "input: $minutes min, 44.1 kHz stereo 16-bit WAV ($(du -h "$input" | cut -f1))" >&2

t_ours=$(timed "$bin/audioproc" process "$input" -o "$work/ours.wav" --preset ebu)

# ffmpeg two-pass loudnorm: pass 1 measures, pass 2 applies one linear gain with those figures.
loudnorm_both() {
    local json
    json=$(ffmpeg -hide_banner -nostats -i "$input" \
        -af loudnorm=I=-23:TP=-1:LRA=20:print_format=json -f null - 2>&1 |
        sed -n '/^{/,/^}/p')
    get() { echo "$json" | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
    ffmpeg -hide_banner -nostats -y -i "$input" -af \
        "loudnorm=I=-23:TP=-1:LRA=20:linear=true:measured_I=$(get input_i):measured_TP=$(get input_tp):measured_LRA=$(get input_lra):measured_thresh=$(get input_thresh):offset=$(get target_offset)" \
        -ar 44100 -c:a pcm_s16le "$work/loudnorm.wav"
}
t_loudnorm=$(timed loudnorm_both)

t_ffn=$(timed "$venv/bin/ffmpeg-normalize" "$input" -o "$work/ffn.wav" -f \
    -nt ebu -t -23 -tp -1 -ar 44100 -c:a pcm_s16le)

# Everyone's output measured by our meter, so the table also shows who hit the target.
measure() {
    "$bin/audioproc" analyze --json "$1" |
        python3 -c "import json,sys; d=json.load(sys.stdin)['files'][0]; print(f\"{d['integrated_lufs']:.2f} LUFS, {d['true_peak_dbtp']:.2f} dBTP\")"
}

row() { printf '| %-28s | %8.2f s | %7.1f× | %7.1f× | %s |\n' "$1" "$2" \
    "$(echo "$seconds / $2" | bc -l)" "$(echo "$2 / $t_ours" | bc -l)" "$3"; }
echo
echo "| tool | wall | x-realtime | audioproc is faster by | output (our meter) |"
echo "|---|---|---|---|---|"
row "audioproc process" "$t_ours" "$(measure "$work/ours.wav")"
row "ffmpeg loudnorm (2-pass)" "$t_loudnorm" "$(measure "$work/loudnorm.wav")"
row "ffmpeg-normalize" "$t_ffn" "$(measure "$work/ffn.wav")"
echo
echo "$(nproc) cores, $(ffmpeg -version | head -1 | cut -d' ' -f1-3), ffmpeg-normalize $("$venv/bin/ffmpeg-normalize" --version 2>&1 | tail -1)"
