#!/usr/bin/env bash
# Set up and start the whole product. On a fresh machine this creates .venv, installs the requirements,
# creates data/lfb.db and fills it with the embedded DEMO dataset (about a minute), trains a first model
# (a few minutes), creates the admin account, then runs the app until stopped (Ctrl-C).
set -euo pipefail
source "$(dirname "$0")/scripts/bootstrap.sh" requirements.txt
python -m lfb setup
python -m lfb status --months 3
python -m lfb models list
exec scripts/serve.sh
