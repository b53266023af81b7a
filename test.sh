#!/usr/bin/env bash
# Set up and run the whole test suite (extra arguments go to pytest, e.g. ./test.sh -k ingest).
set -euo pipefail
source "$(dirname "$0")/scripts/bootstrap.sh" requirements-dev.txt
python -m pytest tests "$@"
