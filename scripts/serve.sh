#!/usr/bin/env bash
# Start the app alone (streamlit run app.py) on $LFB_PORT (default 8501), unsupervised. On a first start it creates
# the admin account first and prints its generated password, once. ./start.sh does not use it: it runs the app and the
# sidecar under `python -m lfb serve`. It expects the project's Python on PATH (scripts/bootstrap.sh puts it there).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m lfb users init
port="$(python -c 'from lfb.config import get_settings; print(get_settings().port)')"
echo
echo "The app starts on http://localhost:$port (stop it with Ctrl-C)."
echo "Sign in with an account of \`python -m lfb users list\`;"
echo "add one with \`python -m lfb users add NAME --role dispatcher\`."
exec python -m streamlit run app.py --server.headless true --server.port "$port" --browser.gatherUsageStats false
