#!/usr/bin/env bash
# Installs SoftHSM2 (Debian package `softhsm2`: softhsm2-util and the PKCS#11 module
# libsofthsm2.so) for the PKCS#11 key manager tests (ca/tests/pkcs11.rs), the `[ca.pkcs11]`
# tests of the binaries (agent/tests/pkcs11.rs, server/tests/pkcs11.rs) and the bench
# (benches/benches/pkcs11.rs), and prints what is there.
#
#   bash interop/softhsm/setup.sh
#
# Idempotent: nothing is installed when softhsm2-util and the module are already present. The
# tests never use the system token directory: each one writes its own softhsm2.conf in a
# temporary directory and points SOFTHSM2_CONF at it (test-support/src/softhsm.rs).
#
# Uses apt-get with the machine's own sources (never changing them), as root or through sudo
# when that is available. Under CI=true a failure here fails the run (set -e); locally the
# tests skip with a printed reason when SoftHSM2 is missing.
set -euo pipefail

log() { echo "softhsm-setup: $*"; }

module_path() {
    local candidate
    for candidate in /usr/lib/softhsm/libsofthsm2.so \
        /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
        /usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so; do
        if [[ -f "$candidate" ]]; then
            echo "$candidate"
            return 0
        fi
    done
    if command -v dpkg >/dev/null 2>&1; then
        dpkg -L libsofthsm2 softhsm2 2>/dev/null | grep -m1 '/libsofthsm2\.so$' || true
    fi
}

installed() {
    command -v softhsm2-util >/dev/null 2>&1 && [[ -n "$(module_path)" ]]
}

if installed; then
    log "already installed"
else
    if ! command -v apt-get >/dev/null 2>&1; then
        log "apt-get not found: install SoftHSM2 2.x with your package manager" >&2
        exit 1
    fi
    as_root=()
    if [[ "$(id -u)" != 0 ]]; then
        if command -v sudo >/dev/null 2>&1; then
            as_root=(sudo -n)
        else
            log "not root and no sudo: run 'apt-get install softhsm2' as root" >&2
            exit 1
        fi
    fi
    log "installing the Debian package softhsm2"
    export DEBIAN_FRONTEND=noninteractive
    "${as_root[@]}" apt-get update -qq
    "${as_root[@]}" apt-get install -y -qq --no-install-recommends softhsm2 >/dev/null
    installed || { log "softhsm2 installed but softhsm2-util or libsofthsm2.so is missing" >&2; exit 1; }
fi

for package in softhsm2 libsofthsm2; do
    if dpkg-query -W -f='${Package} ${Version}\n' "$package" 2>/dev/null; then :; fi
done | sed 's/^/softhsm-setup: package /'
log "softhsm2-util $(softhsm2-util --version)"
log "module $(module_path)"
