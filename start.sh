#!/usr/bin/env bash
# Set up and start the whole product, then keep it running until Ctrl-C (or SIGTERM).
# On a fresh machine: creates .venv and installs the requirements (pip shows each package), creates data/lfb.db and
# fills it with the embedded DEMO dataset, trains a first model, creates the first admin (its password printed once).
# Then `python -m lfb serve` (lfb/service/supervisor.py) runs the app (streamlit, on LFB_PORT) and the scheduler
# sidecar, restarts either if it dies, and stops both cleanly on Ctrl-C. Later starts reuse all of it.
set -euo pipefail
source "$(dirname "$0")/scripts/bootstrap.sh" requirements.txt
exec python -m lfb serve
