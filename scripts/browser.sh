#!/usr/bin/env bash
# The browser the console's end-to-end tests drive (tests/e2e/test_console_browser.py):
# Debian's headless-capable Chromium at /usr/bin/chromium, which Playwright launches by
# path (Playwright's own browser download needs a network CI does not have).
#
# Usage: browser.sh    installs Debian's chromium when it is missing (apt-get, as root
#                      or through sudo), then prints its version on stdout
#
# Quick when the browser is there: nothing is fetched. All diagnostics go to stderr.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ ! -x "$CHROMIUM" ]; then
    if [ "$(id -u)" -eq 0 ]; then
        as_root=()
    elif command -v sudo >/dev/null 2>&1; then
        as_root=(sudo)
    else
        echo "browser.sh: $CHROMIUM is missing; install Debian's chromium as root:" \
            "apt-get update && apt-get install -y chromium" >&2
        exit 1
    fi
    echo "installing Debian's chromium (apt-get)" >&2
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q chromium >&2
fi
# Debian's launcher script complains on stderr about some memory sizes; the version is
# what matters, and a browser that cannot say it fails here.
"$CHROMIUM" --version 2>/dev/null
