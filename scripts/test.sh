#!/usr/bin/env bash
# The test command (`make test`): install, lint, type-check, then every test.
# The tests start a real Apache Kafka broker and a throwaway PostgreSQL through
# scripts/kafka.sh and scripts/postgres.sh; with CI=true they must run, never skip.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/bootstrap.sh
echo "== ruff" >&2
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy" >&2
.venv/bin/mypy .
echo "== Kafka jars (Maven Central, cached)" >&2
bash scripts/kafka.sh fetch
echo "== browser (Debian chromium)" >&2
bash scripts/browser.sh
echo "== contract linters (npm, cached)" >&2
bash scripts/contracts.sh fetch
echo "== pytest" >&2
status=0
.venv/bin/pytest -q -p no:cacheprovider "$@" || status=$?
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure here" >&2
    exit 1
fi
exit "$status"
