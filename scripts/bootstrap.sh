#!/usr/bin/env bash
# Create .venv and install Signpost with its pinned dependencies (constraints.txt).
#   bash scripts/bootstrap.sh          everything: Signpost and the test and lint tools
#   bash scripts/bootstrap.sh runtime  only what Signpost needs to run (`make run`)
# Re-running is cheap: it reinstalls only when pyproject.toml or constraints.txt changed
# (a full install also satisfies a runtime one).
set -euo pipefail
cd "$(dirname "$0")/.."

what="${1:-dev}"
case "$what" in
    dev) extras="[dev]" ;;
    runtime) extras="" ;;
    *) echo "usage: bootstrap.sh [dev|runtime]" >&2; exit 2 ;;
esac
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "creating .venv with $("$PYTHON" --version)" >&2
    "$PYTHON" -m venv .venv
fi
want=$(cat pyproject.toml clients/python/pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
installed() { [ -f ".venv/.signpost-$1" ] && [ "$(cat ".venv/.signpost-$1")" = "$want" ]; }
if installed dev || { [ "$what" = runtime ] && installed runtime; }; then
    exit 0
fi
if [ "$what" = dev ]; then
    echo "installing Signpost with its test and lint tools into .venv" >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
else
    echo "installing Signpost's pinned runtime dependencies into .venv" >&2
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".$extras"
if [ "$what" = dev ]; then
    # The typed Python client integrators use (clients/python), for its tests and examples.
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt \
        -e clients/python
fi
echo "$want" > ".venv/.signpost-$what"
if [ "$what" = dev ]; then
    echo "$want" > .venv/.signpost-runtime
fi
