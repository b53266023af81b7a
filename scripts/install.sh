#!/usr/bin/env bash
# Install the project's requirements into a virtualenv: the one install step of both ./start.sh and ./test.sh
# (through scripts/bootstrap.sh) and the Docker image (Dockerfile), so what is tested is what the image holds.
# It creates the virtualenv when it is missing and installs only when the requirements changed since the last
# install (a stamp file in the virtualenv holds their checksum); pip shows its progress.
# Usage: scripts/install.sh VENV requirements.txt|requirements-dev.txt   (PYTHON=/path/to/python3.11 to choose)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ $# -ne 2 ]; then echo "usage: scripts/install.sh VENV REQUIREMENTS" >&2; exit 2; fi
venv="$1"
reqs="$2"
if [ ! -f "$root/$reqs" ]; then echo "error: no requirements file $root/$reqs" >&2; exit 2; fi
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
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
  echo "requirements ($reqs) already installed in $venv"
  exit 0
fi
echo "installing $reqs into $venv (the first time takes a few minutes; pip shows each package) ..."
"$venv/bin/python" -m pip install --disable-pip-version-check --no-input -r "$root/$reqs"
echo "$wanted" > "$stamp"
echo "requirements ($reqs) installed"
