#!/usr/bin/env bash
# Installs nginx (Debian package `nginx-light`) for the tests that run a real nginx: the cert-sync
# helper's mTLS test (cli/tests) and the proxy's backend and remote tests (proxy/tests), and
# prints what is there.
#
#   bash interop/nginx/setup.sh
#
# Idempotent: nothing is installed when an nginx binary is already present. The tests never use
# the system configuration or service: each one starts `nginx -p <tempdir> -c <its own conf>` as
# an unprivileged process on a loopback port and stops it at the end (test-support/src/nginx.rs).
# The package's own service is not started by the tests (in a container without systemd the
# package's postinst cannot start it either, which is harmless).
#
# Uses apt-get with the machine's own sources (never changing them), as root or through sudo
# when that is available. Under CI=true a failure here fails the run (set -e); locally the
# tests skip with a printed reason when nginx is missing.
set -euo pipefail

log() { echo "nginx-setup: $*"; }

nginx_binary() {
    command -v nginx 2>/dev/null || { [[ -x /usr/sbin/nginx ]] && echo /usr/sbin/nginx; } || true
}

if [[ -n "$(nginx_binary)" ]]; then
    log "already installed"
else
    if ! command -v apt-get >/dev/null 2>&1; then
        log "apt-get not found: install nginx (1.22 or later, with the ssl module)" >&2
        exit 1
    fi
    as_root=()
    if [[ "$(id -u)" != 0 ]]; then
        if command -v sudo >/dev/null 2>&1; then
            as_root=(sudo -n)
        else
            log "not root and no sudo: run 'apt-get install nginx-light' as root" >&2
            exit 1
        fi
    fi
    log "installing the Debian package nginx-light"
    export DEBIAN_FRONTEND=noninteractive
    "${as_root[@]}" apt-get update -qq
    # policy-rc.d is not touched: a failed service start in a container is reported by dpkg but
    # leaves the package installed; the check below is what counts.
    "${as_root[@]}" apt-get install -y -qq --no-install-recommends nginx-light >/dev/null || true
    [[ -n "$(nginx_binary)" ]] || { log "nginx-light did not install an nginx binary" >&2; exit 1; }
fi

dpkg-query -W -f='nginx-setup: package ${Package} ${Version}\n' nginx-light nginx 2>/dev/null || true
log "$("$(nginx_binary)" -v 2>&1)"
