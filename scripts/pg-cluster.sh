#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for newsbot's tests: .ci/run and tests/postgres.py both start it here.
#
#   scripts/pg-cluster.sh start [--install] [--watch PID]
#       initdb a new cluster in a new temporary directory, start it on 127.0.0.1 at a free port (trust
#       authentication, the unix socket inside that directory, durability off: it is thrown away), and print
#       two shell assignments on stdout:
#           PG_CLUSTER_DIR=/tmp/newsbot-pg.XXXXXX
#           NEWSBOT_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:PORT/postgres
#       --install   if no server binaries are found, install Debian's `postgresql` with apt-get (root only)
#       --watch PID stop the cluster and remove its directory once process PID has ended (a test run that
#                   was killed leaves nothing behind)
#   scripts/pg-cluster.sh stop DIR
#       stop that cluster at once and remove DIR.
#
# $PG_CLUSTER_OPTIONS is added to the server's options (benchmarks: "-c shared_buffers=128MB").
# Server binaries: $PG_BIN if set, else initdb and pg_ctl on PATH, else the newest /usr/lib/postgresql/*/bin.
# PostgreSQL refuses to run as root, so as root initdb and the server run as the OS user $PG_OS_USER, else
# `postgres` if it exists, else `nobody` (through runuser, or su). Everything else goes to stderr.
set -euo pipefail

MARKER=newsbot-pg-cluster

log() { echo "pg-cluster: $*" >&2; }

find_bin() {
    if [[ -n "${PG_BIN:-}" ]]; then
        [[ -x "$PG_BIN/initdb" && -x "$PG_BIN/pg_ctl" ]] && { echo "$PG_BIN"; return 0; }
        log "PG_BIN=$PG_BIN has no initdb and pg_ctl"
        return 1
    fi
    local initdb pg_ctl
    initdb=$(command -v initdb || true)
    pg_ctl=$(command -v pg_ctl || true)
    if [[ -n "$initdb" && -n "$pg_ctl" ]]; then
        # A symlink (/usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb): use the real directory,
        # where postgres itself lives too.
        dirname "$(readlink -f "$initdb")"
        return 0
    fi
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [[ -n "$dir" && -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then
        echo "$dir"
        return 0
    fi
    return 1
}

install_server() {
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
        log "no PostgreSQL server binaries, and apt-get cannot install them here (needs root and Debian)"
        return 1
    fi
    log "installing Debian's postgresql package"
    # Only the binaries are wanted: no default cluster on port 5432 (postgresql-common reads this directory).
    mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/newsbot-no-main.conf
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
}

# Run a command as the cluster's OS user (PostgreSQL will not run as root).
as_owner() {
    if [[ -z "$OWNER" ]]; then
        "$@"
    elif command -v runuser >/dev/null; then
        runuser -u "$OWNER" -- "$@"
    else
        su -s /bin/sh "$OWNER" -c "$(printf '%q ' "$@")"
    fi
}

pick_owner() {
    OWNER=""
    [[ $(id -u) -eq 0 ]] || return 0
    local candidate
    for candidate in "${PG_OS_USER:-}" postgres nobody; do
        if [[ -n "$candidate" ]] && id -u "$candidate" >/dev/null 2>&1; then
            OWNER=$candidate
            return 0
        fi
    done
    log "running as root and no OS user to run PostgreSQL as (set PG_OS_USER)"
    return 1
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    local install=0 watch=""
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --install) install=1 ;;
            --watch) watch=${2:?--watch needs a PID}; shift ;;
            *) log "unknown option $1"; exit 2 ;;
        esac
        shift
    done
    local bin
    if ! bin=$(find_bin); then
        if [[ $install -eq 1 ]] && install_server && bin=$(find_bin); then
            :
        else
            log "no PostgreSQL server binaries (initdb, pg_ctl): install Debian's postgresql or set PG_BIN"
            exit 1
        fi
    fi
    pick_owner
    # In /tmp whatever TMPDIR says: the cluster's OS user must reach it, and TMPDIR may be private to us.
    local dir
    dir=$(mktemp -d /tmp/newsbot-pg.XXXXXX)
    touch "$dir/$MARKER"
    echo "$bin" > "$dir/bin"
    mkdir "$dir/data" "$dir/socket"
    [[ -z "$OWNER" ]] || chown -R "$OWNER" "$dir"
    if ! as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C --no-sync \
        >"$dir/initdb.log" 2>&1; then
        log "initdb failed ($bin/initdb as ${OWNER:-$(id -un)}):"
        tail -n 5 "$dir/initdb.log" >&2
        rm -rf "$dir"
        exit 1
    fi
    local port attempt started=0
    for attempt in 1 2 3 4 5; do
        port=$(free_port)
        # Throw-away: no fsync, no full-page writes; small, but room for two test instances' pools.
        if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o \
            "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir/socket \
             -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 \
             -c shared_buffers=32MB ${PG_CLUSTER_OPTIONS:-}" start >"$dir/pg_ctl.log" 2>&1; then
            started=1
            break
        fi
        log "start on port $port failed (attempt $attempt)"
    done
    if [[ $started -ne 1 ]]; then
        log "the server did not start; its log:"
        tail -n 10 "$dir/server.log" >&2 || true
        stop "$dir"
        exit 1
    fi
    if [[ -n "$watch" ]]; then
        # Detached from our stdout, so whoever reads this script's output is not kept waiting for it.
        (
            while kill -0 "$watch" 2>/dev/null; do sleep 2; done
            "$0" stop "$dir"
        ) </dev/null >/dev/null 2>&1 &
        disown
    fi
    log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port, cluster in $dir"
    echo "PG_CLUSTER_DIR=$dir"
    echo "NEWSBOT_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:$port/postgres"
}

stop() {
    local dir=${1:?stop needs the cluster directory}
    if [[ ! -f "$dir/$MARKER" ]]; then
        [[ -d "$dir" ]] || return 0  # already gone (the watcher or an earlier stop)
        log "$dir is not a cluster this script started; leaving it alone"
        return 1
    fi
    if [[ -f "$dir/data/postmaster.pid" ]]; then
        local bin
        bin=$(cat "$dir/bin")
        pick_owner
        if ! as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1; then
            local pid
            pid=$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null || true)
            [[ -z "$pid" ]] || kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -rf "$dir"
}

case "${1:-}" in
    start) shift; start "$@" ;;
    stop) shift; stop "$@" ;;
    *) echo "usage: $0 start [--install] [--watch PID] | stop DIR" >&2; exit 2 ;;
esac
