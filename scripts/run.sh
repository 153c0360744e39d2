#!/usr/bin/env bash
# The run command (`make run`): install, then start Signpost in embedded mode with the
# demo keys, directory and webhook sink. Ctrl-C stops it; data stays in ./var.
set -euo pipefail
cd "$(dirname "$0")/.."

# Only what Signpost needs to run; `make test` adds the test and lint tools.
bash scripts/bootstrap.sh runtime
exec .venv/bin/signpost run --port "${PORT:-8000}" --data-dir "${DATA_DIR:-./var}" "$@"
