#!/usr/bin/env bash
# Creates (once) the Python venv holding the tools the Lambda/S3 tests need, and prints its path:
#   moto_server  - a local S3/SQS for the Lambda integration tests (moto >= 5.2.5: older moto,
#                  including the machine's 5.2.1, stores the Rust SDK's multipart uploads wrongly)
#   cfn-lint     - lints lambda/template.yaml (pinned to 1.51.x so its rules don't drift)
# Idempotent: nothing is installed when both tools are already there at the right versions.
# The venv lives outside the clone: ${AUDIOPROC_VENV:-$HOME/.cache/audioproc-venv}.
set -euo pipefail

venv="${AUDIOPROC_VENV:-$HOME/.cache/audioproc-venv}"
moto_spec='moto[server]>=5.2.5'
cfn_lint_spec='cfn-lint>=1.51,<1.52'

# True when the venv already holds moto_server (moto >= 5.2.5) and cfn-lint 1.51.x.
up_to_date() {
    [ -x "$venv/bin/python" ] && [ -x "$venv/bin/moto_server" ] && [ -x "$venv/bin/cfn-lint" ] || return 1
    "$venv/bin/cfn-lint" --version 2>/dev/null | grep -Eq '^cfn-lint 1\.51\.' || return 1
    "$venv/bin/python" - <<'EOF' || return 1
import importlib.metadata as m, re, sys
v = tuple(int(x) for x in re.findall(r"\d+", m.version("moto"))[:3])
sys.exit(0 if v >= (5, 2, 5) else 1)
EOF
}

if ! up_to_date; then
    python="${PYTHON:-$(command -v python3 || true)}"
    [ -n "$python" ] || { echo "python3 not found: it is needed to create $venv" >&2; exit 1; }
    if [ ! -x "$venv/bin/python" ]; then
        mkdir -p "$(dirname "$venv")"
        "$python" -m venv "$venv"
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$moto_spec" "$cfn_lint_spec" >&2
    up_to_date || { echo "$venv: moto_server or cfn-lint still missing or at the wrong version after pip install" >&2; exit 1; }
fi

echo "$venv"
