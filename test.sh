#!/usr/bin/env bash
# Set up and run the whole test suite (extra arguments go to pytest, e.g. ./test.sh -k ingest).
set -euo pipefail
source "$(dirname "$0")/scripts/bootstrap.sh" requirements-dev.txt

# The browser tests (tests/browser) drive Debian's Chromium through Playwright: install it when it is missing and we
# are root. Without it they are skipped with a message, or fail when CI=true.
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Chromium for the browser tests (apt-get install chromium) ..."
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
      || echo "warning: could not install Chromium; the browser tests will say what is missing" >&2
  else
    echo "note: Chromium is missing; install it (sudo apt-get install chromium) to run the browser tests" >&2
  fi
fi

python -m pytest tests "$@"
