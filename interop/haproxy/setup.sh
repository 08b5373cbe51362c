#!/usr/bin/env bash
# Installs HAProxy (Debian package `haproxy`, built on OpenSSL) for the proxy bench
# (benches/benches/proxy.rs), which compares our proxy's mTLS termination with HAProxy's on the
# same backend, and prints what is there.
#
#   bash interop/haproxy/setup.sh
#
# Idempotent: nothing is installed when a haproxy binary is already present. The bench never uses
# the system configuration or service: it starts `haproxy -f <its own conf>` as an unprivileged
# process on loopback ports and stops it at the end.
#
# Uses apt-get with the machine's own sources (never changing them), as root or through sudo
# when that is available. Under CI=true a failure here fails the run (set -e); locally the
# bench skips HAProxy with a printed reason when it is missing.
set -euo pipefail

log() { echo "haproxy-setup: $*"; }

haproxy_binary() {
    command -v haproxy 2>/dev/null || { [[ -x /usr/sbin/haproxy ]] && echo /usr/sbin/haproxy; } || true
}

if [[ -n "$(haproxy_binary)" ]]; then
    log "already installed"
else
    if ! command -v apt-get >/dev/null 2>&1; then
        log "apt-get not found: install HAProxy 2.x with your package manager" >&2
        exit 1
    fi
    as_root=()
    if [[ "$(id -u)" != 0 ]]; then
        if command -v sudo >/dev/null 2>&1; then
            as_root=(sudo -n)
        else
            log "not root and no sudo: run 'apt-get install haproxy' as root" >&2
            exit 1
        fi
    fi
    log "installing the Debian package haproxy"
    export DEBIAN_FRONTEND=noninteractive
    "${as_root[@]}" apt-get update -qq
    # A failed service start in a container leaves the package installed; the check below counts.
    "${as_root[@]}" apt-get install -y -qq --no-install-recommends haproxy >/dev/null || true
    [[ -n "$(haproxy_binary)" ]] || { log "the haproxy package did not install a haproxy binary" >&2; exit 1; }
fi

dpkg-query -W -f='haproxy-setup: package ${Package} ${Version}\n' haproxy 2>/dev/null || true
log "$("$(haproxy_binary)" -v 2>&1 | head -n 1)"
