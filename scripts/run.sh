#!/usr/bin/env bash
# The run command (`make run`): install, then start Signpost in embedded mode with the
# demo keys, directory and webhook sink. Ctrl-C stops it; data stays in ./var.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/bootstrap.sh
exec .venv/bin/signpost run --port "${PORT:-8000}" --data-dir "${DATA_DIR:-./var}" "$@"
