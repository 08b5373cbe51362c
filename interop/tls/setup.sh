#!/usr/bin/env bash
# Makes sure the independent TLS peers of tls-integration/tests/interop.rs are installed:
#
#   openssl   (s_server / s_client)   Debian package `openssl`
#   curl                               Debian package `curl`
#
# federation/tests/endpoint.rs uses curl too (it fetches the https_web bundle endpoint).
#
# go-spiffe's peer (interop/.go/bin/spiffetlspeer) is built by interop/go/setup.sh.
#
#   bash interop/tls/setup.sh
#
# Idempotent: does nothing when both programs are on PATH. Otherwise installs the missing
# packages with apt-get (the machine's own sources; root is needed). Under CI=true a failure to
# install is an error; locally it is reported and the tests that need the peer skip.
set -euo pipefail

missing=()
for program in openssl curl; do
    command -v "$program" >/dev/null 2>&1 || missing+=("$program")
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "tls-setup: $(openssl version | head -n1); $(curl --version | head -n1 | cut -d' ' -f1-2)"
    exit 0
fi

echo "tls-setup: installing ${missing[*]}"
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; }; then
    echo "tls-setup: could not install ${missing[*]}" >&2
    if [[ "${CI:-}" == "true" ]]; then
        exit 1
    fi
fi
