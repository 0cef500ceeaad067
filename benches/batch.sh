#!/usr/bin/env bash
# Batch benchmarks (issue: EC2 batch job):
#   1. throughput over 50 generated tracks with --jobs 1 and --jobs 2 (x-realtime, scaling);
#   2. peak RSS of a batch over 100 and over 1 000 small files (it must not grow).
#
#   benches/batch.sh [TRACK_SECONDS]      (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/audioproc-target}"
cargo build --release --locked -p audioproc-cli --bin audioproc -p audioproc-testdata --bin gen-tracks
bin="$CARGO_TARGET_DIR/release"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Peak RSS (KiB) and wall seconds of a command.
measure() {
    python3 - "$@" <<'PY'
import resource, subprocess, sys, time
t = time.monotonic()
subprocess.run(sys.argv[1:], check=False, stdout=subprocess.DEVNULL)
wall = time.monotonic() - t
print(f"{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss} {wall:.3f}")
PY
}

"$bin/gen-tracks" "$work/tracks" 50 "$seconds" >&2
audio=$((50 * seconds))
echo "| jobs | wall | x-realtime | peak RSS |"
echo "|---|---|---|---|"
declare -A walls
for jobs in 1 2; do
    rm -rf "$work/out"
    read -r rss wall < <(measure "$bin/audioproc" batch "$work/tracks" "$work/out" --format wav -j "$jobs")
    walls[$jobs]=$wall
    printf '| %s | %.2f s | %.0f× | %.1f MiB |\n' "$jobs" "$wall" "$(echo "$audio / $wall" | bc -l)" "$(echo "$rss / 1024" | bc -l)"
done
printf 'scaling --jobs 2 / --jobs 1: %.2f×\n\n' "$(echo "${walls[1]} / ${walls[2]}" | bc -l)"

echo "| inputs | peak RSS | wall |"
echo "|---|---|---|"
for n in 100 1000; do
    rm -rf "$work/small" "$work/out"
    "$bin/gen-tracks" "$work/small" "$n" 1 >/dev/null
    read -r rss wall < <(measure "$bin/audioproc" batch "$work/small" "$work/out" -j 2)
    printf '| %s × 1 s | %.1f MiB | %.2f s |\n' "$n" "$(echo "$rss / 1024" | bc -l)" "$wall"
done
echo
echo "$(nproc) cores; tracks: ${seconds} s, 44.1 kHz stereo 16-bit WAV → WAV (throughput) / FLAC (RSS)"
