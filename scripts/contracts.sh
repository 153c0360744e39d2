#!/usr/bin/env bash
# The API contracts' own linters, from npm (versions pinned in scripts/contracts/):
#   contracts.sh fetch          install them (npm ci, cached in scripts/contracts/node_modules)
#   contracts.sh openapi FILE   Redocly's recommended ruleset, problems as JSON
#   contracts.sh asyncapi FILE  the official AsyncAPI parser, diagnostics as JSON
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)/contracts"
# No telemetry and no update check: this machine reaches only the package registries.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true

fetch() {
    local stamp="$here/node_modules/.signpost-lock"
    local want
    want=$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    npm ci --prefix "$here" --no-audit --no-fund --loglevel=error >&2
    echo "$want" > "$stamp"
}

case "${1:-}" in
    fetch) fetch ;;
    openapi)
        fetch
        "$here/node_modules/.bin/redocly" lint "$2" --format=json 2>/dev/null
        ;;
    asyncapi)
        fetch
        node "$here/asyncapi.mjs" "$2"
        ;;
    *) echo "usage: contracts.sh fetch | openapi FILE | asyncapi FILE" >&2; exit 2 ;;
esac
