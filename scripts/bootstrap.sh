#!/usr/bin/env bash
# Create the project's virtualenv (.venv, or $LFB_VENV) and install the requirements when they changed.
# Usage: source scripts/bootstrap.sh requirements.txt|requirements-dev.txt
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
reqs="${1:-requirements.txt}"
venv="${LFB_VENV:-$root/.venv}"
python="${PYTHON:-}"
if [ -z "$python" ]; then
  for candidate in python3.11 python3 python; do
    if command -v "$candidate" >/dev/null 2>&1; then python="$candidate"; break; fi
  done
fi
if [ -z "$python" ]; then echo "error: Python 3.11 is needed (set PYTHON=/path/to/python3.11)" >&2; exit 1; fi
if ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] < (3, 11))'; then
  echo "error: Python 3.11 or newer is needed; $python is $("$python" --version 2>&1)" >&2; exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
  echo "creating virtualenv $venv ..."
  "$python" -m venv "$venv" || { echo "error: could not create a virtualenv (on Debian/Ubuntu: apt install python3-venv)" >&2; exit 1; }
fi
stamp="$venv/.installed-$(basename "$reqs")"
wanted="$(cat "$root/requirements.txt" "$root/$reqs" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
  echo "installing $reqs into $venv (first run takes a few minutes) ..."
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$root/$reqs"
  echo "$wanted" > "$stamp"
fi
export PATH="$venv/bin:$PATH"
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
cd "$root"
