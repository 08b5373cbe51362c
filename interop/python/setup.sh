#!/usr/bin/env bash
# Creates the Python virtual environment the interop tests use: interop/.venv with every package
# of interop/python/requirements.txt at its pinned version (PyJWT, cryptography, py-spiffe,
# grpcio, grpcio-tools and their dependencies). Idempotent: a venv whose `pip freeze` already
# matches the requirements is left alone. Prints what it installed.
#
#   bash interop/python/setup.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$(cd "$here/.." && pwd)/.venv"
requirements="$here/requirements.txt"
python="${PYTHON:-python3}"

wanted() { grep -v '^#' "$requirements" | grep -v '^$' | tr 'A-Z_' 'a-z-' | sort; }
installed() { "$venv/bin/python" -m pip freeze --disable-pip-version-check 2>/dev/null | tr 'A-Z_' 'a-z-' | sort || true; }

if [[ -x "$venv/bin/python" ]] && diff <(wanted) <(installed) >/dev/null; then
    echo "interop venv $venv is up to date with $(basename "$requirements")"
    exit 0
fi

if [[ ! -x "$venv/bin/python" ]]; then
    echo "creating venv $venv with $("$python" --version 2>&1)"
    "$python" -m venv "$venv"
fi

"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$requirements"

if ! diff <(wanted) <(installed); then
    echo "interop venv $venv does not match $requirements after installing (diff above)" >&2
    exit 1
fi
echo "installed into $venv: $(wanted | tr '\n' ' ')"
