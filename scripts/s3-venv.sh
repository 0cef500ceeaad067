#!/usr/bin/env bash
# Creates (once) the Python venv with the S3 test server (moto) and cfn-lint, and prints its path.
# Idempotent: does nothing when moto_server and cfn-lint 1.51 are already installed.
# The machine's preinstalled moto (5.2.1) mishandles the Rust SDK's multipart uploads, so the
# tests only ever use the moto_server from this venv (see testdata/src/harness/moto.rs).
set -euo pipefail

venv="${AUDIOPROC_VENV:-$HOME/.cache/audioproc-venv}"

ready() {
    [ -x "$venv/bin/moto_server" ] || return 1
    local version
    version="$("$venv/bin/cfn-lint" --version 2>/dev/null)" || return 1
    [[ "$version" == "cfn-lint 1.51"* ]]
}

if ! ready; then
    command -v python3 >/dev/null || { echo "python3 not found: install Python 3.9 or newer" >&2; exit 1; }
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q 'moto[server]>=5.2.5' 'cfn-lint>=1.51,<1.52' >&2
    ready || { echo "s3-venv: $venv is incomplete after pip install" >&2; exit 1; }
fi

echo "$venv"
