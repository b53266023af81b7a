#!/usr/bin/env bash
# Create the project's virtualenv (.venv, or $LFB_VENV) and install the requirements when they changed
# (scripts/install.sh, the same step the Docker image runs), then put it on PATH.
# Usage: source scripts/bootstrap.sh requirements.txt|requirements-dev.txt
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
reqs="${1:-requirements.txt}"
venv="${LFB_VENV:-$root/.venv}"
"$root/scripts/install.sh" "$venv" "$reqs"
export PATH="$venv/bin:$PATH"
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
cd "$root"
