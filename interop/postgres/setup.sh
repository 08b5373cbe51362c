#!/usr/bin/env bash
# Installs PostgreSQL (Debian package `postgresql`: initdb, postgres, pg_isready, createdb,
# psql) for the PostgresStore tests (store/tests/postgres.rs), and prints what is there.
#
#   bash interop/postgres/setup.sh
#
# Idempotent: nothing is installed when initdb is already present. The tests never use a
# system cluster: each starts its own server in a temporary directory, on a Unix socket there
# only, as `nobody` when run as root (test-support/src/postgres.rs), and stops it at the end.
#
# Uses apt-get with the machine's own sources (never changing them), as root or through sudo
# when that is available. Under CI=true a failure here fails the run (set -e); locally the
# tests skip with a printed reason when PostgreSQL is missing.
set -euo pipefail

log() { echo "postgres-setup: $*"; }

bin_dir() {
    local newest=""
    for dir in /usr/lib/postgresql/*/bin; do
        [[ -x "$dir/initdb" ]] && newest="$dir"
    done
    if [[ -n "$newest" ]]; then
        echo "$newest"
    elif command -v initdb >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v initdb)")"
    fi
}

if [[ -n "$(bin_dir)" ]]; then
    log "already installed"
else
    if ! command -v apt-get >/dev/null 2>&1; then
        log "apt-get not found: install PostgreSQL 13 or later with your package manager" >&2
        exit 1
    fi
    as_root=()
    if [[ "$(id -u)" != 0 ]]; then
        if command -v sudo >/dev/null 2>&1; then
            as_root=(sudo -n)
        else
            log "not root and no sudo: run 'apt-get install postgresql' as root" >&2
            exit 1
        fi
    fi
    log "installing the Debian package postgresql"
    export DEBIAN_FRONTEND=noninteractive
    "${as_root[@]}" apt-get update -qq
    "${as_root[@]}" apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    [[ -n "$(bin_dir)" ]] || { log "postgresql installed but initdb is missing" >&2; exit 1; }
fi

# Running the server as root is refused by PostgreSQL: the tests drop to nobody with setpriv.
command -v setpriv >/dev/null 2>&1 || log "setpriv not found: the tests cannot run the server as root"
log "$("$(bin_dir)/postgres" --version) in $(bin_dir)"
