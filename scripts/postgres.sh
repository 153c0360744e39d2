#!/usr/bin/env bash
# Run a throwaway PostgreSQL cluster on a free loopback port, without Docker.
#
# Usage:
#   postgres.sh start DIR [DBNAME ...]   initdb (if needed) + start; creates the
#                                        given databases; prints exactly one line
#                                        on stdout:
#                                        DATABASE_ADMIN_URL=postgresql://postgres@127.0.0.1:PORT/postgres
#   postgres.sh createdb DIR NAME ...    create databases in a running cluster
#   postgres.sh stop DIR [MODE]          pg_ctl stop -m MODE (default fast; immediate
#                                        is a crash: no checkpoint, recovery at the
#                                        next start) (idempotent)
#   To start a stopped cluster again on the port its clients know:
#   PG_PORT=$(cat DIR/port) postgres.sh start DIR
#
# Environment:
#   PG_BINDIR   directory holding initdb/pg_ctl/postgres (default: pg_config
#               --bindir, else newest /usr/lib/postgresql/*/bin, else PATH)
#   PG_USER     OS user to run the server as when invoked as root
#               (default postgres; root cannot run postgres)
#   PG_PORT     the port to listen on (default: a free one)
#   PG_OPTIONS  more server options for `start`, e.g. the benchmarks'
#               "-c shared_preload_libraries=pg_stat_statements"
#
# Authentication is "trust" for everything; the server listens on 127.0.0.1
# only. All diagnostics go to stderr.
set -euo pipefail

log() { printf 'postgres.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
    sed -n '2,26p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

find_bindir() {
    if [[ -n "${PG_BINDIR:-}" ]]; then
        [[ -x "$PG_BINDIR/pg_ctl" ]] || die "PG_BINDIR=$PG_BINDIR has no pg_ctl"
        echo "$PG_BINDIR"
        return
    fi
    local d
    if command -v pg_config >/dev/null; then
        d="$(pg_config --bindir 2>/dev/null || true)"
        if [[ -n "$d" && -x "$d/initdb" && -x "$d/pg_ctl" ]]; then
            echo "$d"
            return
        fi
    fi
    d="$(find /usr/lib/postgresql -maxdepth 3 -path '*/bin/pg_ctl' 2>/dev/null |
        sort -V | tail -n 1 || true)"
    if [[ -n "$d" ]]; then
        dirname "$d"
        return
    fi
    d="$(command -v pg_ctl || true)"
    [[ -n "$d" ]] || die "no PostgreSQL server binaries found (set PG_BINDIR)"
    dirname "$(readlink -f "$d")"
}

BINDIR="$(find_bindir)"
PG_USER="${PG_USER:-postgres}"

# Run a command as the server's OS user (root cannot run postgres).
as_pg() {
    if ((EUID == 0)); then
        runuser -u "$PG_USER" -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

abs_dir() {
    mkdir -p "$1"
    (cd "$1" && pwd)
}

port_of() {
    local dir="$1"
    [[ -f "$dir/port" ]] || die "no cluster started in $dir (missing $dir/port)"
    cat "$dir/port"
}

cmd_createdb() {
    local dir="${1:-}"
    [[ -n "$dir" ]] || usage
    shift
    dir="$(abs_dir "$dir")"
    local port name
    port="$(port_of "$dir")"
    for name in "$@"; do
        # Skip databases that already exist so that reruns are harmless.
        # (psql interpolates :'name' only in stdin scripts, not with -c.)
        if [[ "$(as_pg "$BINDIR/psql" -X -At -v ON_ERROR_STOP=1 -h 127.0.0.1 \
            -p "$port" -U postgres -d postgres -v name="$name" \
            <<<"SELECT 1 FROM pg_database WHERE datname = :'name'")" == 1 ]]; then
            continue
        fi
        as_pg "$BINDIR/createdb" -h 127.0.0.1 -p "$port" -U postgres "$name" </dev/null >&2 ||
            die "could not create database $name"
        log "created database $name"
    done
}

cmd_start() {
    local dir="${1:-}"
    [[ -n "$dir" ]] || usage
    shift
    dir="$(abs_dir "$dir")"

    if ((EUID == 0)); then
        id -u "$PG_USER" >/dev/null 2>&1 ||
            die "running as root but OS user '$PG_USER' does not exist (set PG_USER)"
        chown "$PG_USER:" "$dir"
        as_pg test -w "$dir" ||
            die "$PG_USER cannot reach $dir (a parent directory is not traversable);" \
                "use a directory such as /tmp/..."
    fi

    if [[ -f "$dir/data/postmaster.pid" ]] &&
        as_pg "$BINDIR/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        die "a server is already running from $dir/data"
    fi

    if [[ ! -f "$dir/data/PG_VERSION" ]]; then
        as_pg "$BINDIR/initdb" -A trust -U postgres --no-sync -E UTF8 \
            --locale=C -D "$dir/data" >"$dir/initdb.log" 2>&1 || {
            cat "$dir/initdb.log" >&2
            die "initdb failed"
        }
    fi

    local port sockdir
    # PG_PORT restarts a stopped cluster on the port its clients already know.
    port="${PG_PORT:-$(free_port)}"
    # Unix socket paths are limited to ~107 bytes; skip the socket if too long
    # (everything here connects over TCP anyway).
    sockdir="$dir"
    if ((${#dir} > 90)); then
        sockdir=""
    fi
    if ! as_pg "$BINDIR/pg_ctl" -D "$dir/data" -l "$dir/pg.log" -w -t 60 \
        -o "-p $port -k '$sockdir' -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 ${PG_OPTIONS:-}" \
        start >&2; then
        log "---- last 40 lines of $dir/pg.log ----"
        tail -n 40 "$dir/pg.log" >&2 || true
        die "postgres failed to start"
    fi
    echo "$port" >"$dir/port"

    if (($# > 0)); then
        cmd_createdb "$dir" "$@"
    fi
    echo "DATABASE_ADMIN_URL=postgresql://postgres@127.0.0.1:$port/postgres"
}

cmd_stop() {
    local dir="${1:-}" mode="${2:-fast}"
    [[ -n "$dir" ]] || usage
    case "$mode" in
    smart | fast | immediate) ;;
    *) die "unknown stop mode $mode (smart, fast or immediate)" ;;
    esac
    [[ -d "$dir/data" ]] || return 0
    dir="$(cd "$dir" && pwd)"
    if [[ -f "$dir/data/postmaster.pid" ]]; then
        as_pg "$BINDIR/pg_ctl" -D "$dir/data" -m "$mode" -w -t 60 stop >&2 || true
    fi
}

main() {
    local sub="${1:-}"
    shift || true
    case "$sub" in
    start) cmd_start "$@" ;;
    createdb) cmd_createdb "$@" ;;
    stop) cmd_stop "$@" ;;
    *) usage ;;
    esac
}

main "$@"
