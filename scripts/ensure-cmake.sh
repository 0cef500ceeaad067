#!/usr/bin/env bash
# Installs cmake with apt when it is missing (it builds the bundled libopus); used by the demo
# and benchmark scripts.
set -euo pipefail
command -v cmake >/dev/null && exit 0
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cmake
else
    echo "cmake is missing (it builds the bundled libopus): install it" >&2; exit 1
fi
