#!/usr/bin/env bash
# The engine against the physical floor and its peers, on the same inputs in one run: an
# N-minute 44.1 kHz stereo 16-bit WAV (generated), its MP3 (LAME V2, by ffmpeg) and its FLAC
# (`flac -5`) copies. Prints one table of wall times, peak RSS and ratios with the targets of
# issue 15, writes it as TSV and draws the ratios as a bar chart (PNG).
#
#   benches/floor.sh [MINUTES] [CHART.png]    (default 60 minutes, benches/floor.png)
#   benches/compare.sh floor [MINUTES] [CHART.png]
#
# AUDIOPROC=/path/to/audioproc measures that binary instead of building the release one (to
# compare two builds). Installs what it needs by package name: ffmpeg, flac, sox, loudgain, time
# (apt); ffmpeg-normalize and matplotlib (pip, in a venv under $HOME/.cache/audioproc-venv-bench).
# Each tool runs once on a file already in the page cache; run it on idle cores.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-60}"
chart="${2:-benches/floor.png}"

missing=()
for tool in ffmpeg flac sox loudgain; do command -v "$tool" >/dev/null || missing+=("$tool"); done
[ -x /usr/bin/time ] || missing+=(time)
if [ ${#missing[@]} -gt 0 ]; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    else
        echo "missing: ${missing[*]} (apt-get install ${missing[*]})" >&2; exit 1
    fi
fi
venv="$HOME/.cache/audioproc-venv-bench"
if [ ! -x "$venv/bin/ffmpeg-normalize" ] || ! "$venv/bin/python" -c 'import matplotlib' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q ffmpeg-normalize matplotlib
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/audioproc-target}"
if [ -z "${AUDIOPROC:-}" ]; then
    bash scripts/ensure-cmake.sh
    cargo build --release --locked -p audioproc-cli --bin audioproc
    AUDIOPROC="$CARGO_TARGET_DIR/release/audioproc"
fi
cargo build --release --locked -q -p audioproc-testdata --bin gen-long
gen="$CARGO_TARGET_DIR/release/gen-long"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$gen" "$work/in.wav" "$minutes" >&2
seconds=$((minutes * 60))

# run NAME CMD...: wall seconds into T[NAME], peak RSS (MiB) into M[NAME].
declare -A T M
run() {
    local name="$1" start end
    shift
    start=$(date +%s.%N)
    /usr/bin/time -f '%M' -o "$work/rss" "$@" >"$work/last.log" 2>&1 || { cat "$work/last.log" >&2; exit 1; }
    end=$(date +%s.%N)
    T[$name]=$(echo "$end - $start" | bc -l)
    M[$name]=$(echo "$(tail -1 "$work/rss") / 1024" | bc -l)
    printf '%-22s %7.2f s %7.1f MiB\n' "$name" "${T[$name]}" "${M[$name]}" >&2
}

# The inputs; `flac -5` on the WAV is also the reference encoder's timing.
run flac5 flac -5 -s -f -o "$work/in.flac" "$work/in.wav"
ffmpeg -hide_banner -nostats -y -i "$work/in.wav" -c:a libmp3lame -q:a 2 "$work/in.mp3" 2>/dev/null
cat "$work/in.wav" "$work/in.mp3" "$work/in.flac" >/dev/null

ours=(--preset ebu --force)
run dec_wav ffmpeg -hide_banner -nostats -i "$work/in.wav" -f null -
run dec_mp3 ffmpeg -hide_banner -nostats -i "$work/in.mp3" -f null -
run dec_flac ffmpeg -hide_banner -nostats -i "$work/in.flac" -f null -
run ours_wav "$AUDIOPROC" process "$work/in.wav" -o "$work/ours.wav" "${ours[@]}"
run ours_mp3 "$AUDIOPROC" process "$work/in.mp3" -o "$work/ours_mp3.wav" "${ours[@]}"
run ours_flacin "$AUDIOPROC" process "$work/in.flac" -o "$work/ours_flacin.wav" "${ours[@]}"
run ours_flac "$AUDIOPROC" process "$work/in.wav" -o "$work/ours.flac" "${ours[@]}"
run ours_meter "$AUDIOPROC" analyze "$work/in.flac"
run loudgain loudgain -q -s s "$work/in.flac"
run ebur128 ffmpeg -hide_banner -nostats -i "$work/in.flac" -af ebur128=peak=true -f null -
run ours_48k "$AUDIOPROC" process "$work/in.wav" -o "$work/ours48.wav" --rate 48000 "${ours[@]}"
run sox_48k sox "$work/in.wav" -r 48000 "$work/sox48.wav"
run soxr_48k ffmpeg -hide_banner -nostats -y -i "$work/in.wav" -af aresample=resampler=soxr -ar 48000 "$work/soxr48.wav"
loudnorm_both() {
    local json
    json=$(ffmpeg -hide_banner -nostats -i "$work/in.wav" \
        -af loudnorm=I=-23:TP=-1:LRA=20:print_format=json -f null - 2>&1 | sed -n '/^{/,/^}/p')
    get() { echo "$json" | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
    ffmpeg -hide_banner -nostats -y -i "$work/in.wav" -af \
        "loudnorm=I=-23:TP=-1:LRA=20:linear=true:measured_I=$(get input_i):measured_TP=$(get input_tp):measured_LRA=$(get input_lra):measured_thresh=$(get input_thresh):offset=$(get target_offset)" \
        -ar 44100 -c:a pcm_s16le "$work/loudnorm.wav"
}
export -f loudnorm_both
export work
run loudnorm bash -c loudnorm_both
run ffn "$venv/bin/ffmpeg-normalize" "$work/in.wav" -o "$work/ffn.wav" -f -nt ebu -t -23 -tp -1 -ar 44100 -c:a pcm_s16le

# Compression: the reference encoder on the very samples audioproc wrote.
flac -d -s -f -o "$work/ours_pcm.wav" "$work/ours.flac"
flac -t -s "$work/ours.flac"
flac -5 -s -f -o "$work/ref_same.flac" "$work/ours_pcm.wav"
size_ours=$(stat -c %s "$work/ours.flac")
size_ref=$(stat -c %s "$work/ref_same.flac")

# The table: what | audioproc | peer | ratio | target. "slower" ratios are audioproc ÷ peer
# (lower is better), "faster" ratios peer ÷ audioproc (higher is better).
tsv="$work/floor.tsv"
: >"$tsv"
row() { # label ours peer kind target
    local ratio
    if [ "$4" = slower ]; then ratio=$(echo "${T[$2]} / ${T[$3]}" | bc -l); else ratio=$(echo "${T[$3]} / ${T[$2]}" | bc -l); fi
    printf '%s\t%.2f\t%.1f\t%.2f\t%s\t%.2f\t%s\t%s\n' "$1" "${T[$2]}" "${M[$2]}" "${T[$3]}" "$3" "$ratio" "$4" "$5" >>"$tsv"
}
row "WAV → WAV linear ÷ ffmpeg WAV decode" ours_wav dec_wav slower 3.0
row "MP3 → WAV linear ÷ ffmpeg MP3 decode" ours_mp3 dec_mp3 slower 2.6
row "FLAC → WAV linear ÷ ffmpeg FLAC decode" ours_flacin dec_flac slower -
row "WAV → FLAC job ÷ flac -5 alone" ours_flac flac5 slower 1.6
row "meter I+LRA+TP (FLAC): loudgain ÷ audioproc" ours_meter loudgain faster 6
row "meter I+LRA+TP (FLAC): ffmpeg ebur128 ÷ audioproc" ours_meter ebur128 faster 6
row "WAV → WAV: ffmpeg loudnorm 2-pass ÷ audioproc" ours_wav loudnorm faster 10
row "WAV → WAV: ffmpeg-normalize ÷ audioproc" ours_wav ffn faster 20
row "44.1 → 48 k job ÷ sox (resample only)" ours_48k sox_48k slower -
row "44.1 → 48 k job ÷ ffmpeg soxr (resample only)" ours_48k soxr_48k slower -

echo
echo "| comparison | audioproc | its peak RSS | peer | ratio | target | met |"
echo "|---|---|---|---|---|---|---|"
while IFS=$'\t' read -r label t_ours rss t_peer peer ratio kind target; do
    met="—"
    if [ "$target" != - ]; then
        if [ "$kind" = slower ]; then ok=$(echo "$ratio <= $target" | bc -l); sign="≤"; else ok=$(echo "$ratio >= $target" | bc -l); sign="≥"; fi
        met=$([ "$ok" = 1 ] && echo yes || echo **no**)
        target="$sign $target×"
    fi
    printf '| %s | %s s | %s MiB | %s s (%s) | %s× | %s | %s |\n' "$label" "$t_ours" "$rss" "$t_peer" "$peer" "$ratio" "$target" "$met"
done <"$tsv"
echo
printf 'FLAC size: audioproc %d bytes, flac -5 on the same samples %d bytes (%+.2f %%); flac -t passes.\n' \
    "$size_ours" "$size_ref" "$(echo "($size_ours - $size_ref) * 100 / $size_ref" | bc -l)"
max_rss=$(printf '%s\n' "${M[ours_wav]}" "${M[ours_mp3]}" "${M[ours_flacin]}" "${M[ours_flac]}" "${M[ours_48k]}" | sort -g | tail -1)
printf 'audioproc peak RSS over the %d-minute jobs: %.1f MiB (target ≤ 32 MiB)\n' "$minutes" "$max_rss"
echo "input: $minutes min 44.1 kHz stereo 16-bit ($seconds s); $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')); $(ffmpeg -version | head -1 | cut -d' ' -f1-3); $(flac --version); $(sox --version 2>&1 | sed 's/.*SoX/SoX/'); loudgain $(loudgain --version 2>&1 | head -1 | awk '{print $2}')"
"$venv/bin/python" benches/floor_chart.py "$tsv" "$chart" "$minutes"
echo "chart: $chart"
