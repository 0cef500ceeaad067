#!/usr/bin/env bash
# `audioproc tag --album` against `loudgain -a -s e` (run by `benches/compare.sh tag`): both
# measure every track and the album and write ReplayGain 2.0 tags in place, on their own copy of
# the same folder of TRACKS generated FLAC files of MINUTES each.
#
#   benches/tag.sh [TRACKS] [MINUTES]      (default 50 × 3)
set -euo pipefail
cd "$(dirname "$0")/.."
tracks="${1:-50}"
minutes="${2:-3}"
missing=()
command -v loudgain >/dev/null || missing+=(loudgain)
command -v flac >/dev/null || missing+=(flac)
if [ ${#missing[@]} -gt 0 ]; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    else
        echo "missing: ${missing[*]} (apt-get install ${missing[*]})" >&2; exit 1
    fi
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/audioproc-target}"
cargo build --release --locked -p audioproc-cli --bin audioproc -p audioproc-testdata --bin gen-tracks
bin="$CARGO_TARGET_DIR/release"
audioproc="${AUDIOPROC:-$bin/audioproc}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

seconds=$((minutes * 60))
"$bin/gen-tracks" "$work/ours" "$tracks" "$seconds" >&2
flac -s -f --delete-input-file "$work"/ours/*.wav
cp -r "$work/ours" "$work/loudgain"

timed() {
    local start end
    start=$(date +%s.%N)
    "$@" >"$work/last.log" 2>&1 || { cat "$work/last.log" >&2; return 1; }
    end=$(date +%s.%N)
    echo "$end - $start" | bc -l
}
t_ours=$(timed "$audioproc" tag --album "$work/ours")
t_lg=$(timed loudgain -q -a -s e "$work"/loudgain/*.flac)

album_gain() { metaflac --show-tag=REPLAYGAIN_ALBUM_GAIN "$1" | sed 's/.*=//; s/ dB//'; }
ours=$(album_gain "$work/ours/track-0000.flac")
theirs=$(album_gain "$work/loudgain/track-0000.flac")
audio=$((tracks * seconds))
echo
echo "| tool | wall | x-realtime | album gain |"
echo "|---|---|---|---|"
printf '| audioproc tag --album | %.2f s | %.0f× | %s dB |\n' "$t_ours" "$(echo "$audio / $t_ours" | bc -l)" "$ours"
printf '| loudgain -a -s e | %.2f s | %.0f× | %s dB |\n' "$t_lg" "$(echo "$audio / $t_lg" | bc -l)" "$theirs"
printf '\naudioproc is %.1f× faster; %s × %s min FLAC, %s cores\n' "$(echo "$t_lg / $t_ours" | bc -l)" "$tracks" "$minutes" "$(nproc)"
