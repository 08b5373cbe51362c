#!/usr/bin/env bash
# Creates the Python virtual environment the interop tests use: interop/.venv with PyJWT and
# cryptography at pinned versions. Idempotent: a venv that already has these versions is left
# alone. Prints what it installed.
#
#   bash interop/python/setup.sh
#
# svid/tests/jwt_pyjwt_interop.rs runs interop/.venv/bin/python interop/python/mint_jwt.py.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$(cd "$here/.." && pwd)/.venv"

# Pinned to releases on PyPI; bump together and re-run the interop test.
pyjwt_version="2.15.1"
cryptography_version="50.0.2"

python="${PYTHON:-python3}"

installed() {
    # Prints "<pyjwt> <cryptography>" versions of the venv, or nothing.
    "$venv/bin/python" - <<'PY' 2>/dev/null || true
import importlib.metadata as m
print(m.version("PyJWT"), m.version("cryptography"))
PY
}

if [[ -x "$venv/bin/python" && "$(installed)" == "$pyjwt_version $cryptography_version" ]]; then
    echo "interop venv $venv already has PyJWT $pyjwt_version and cryptography $cryptography_version"
    exit 0
fi

if [[ ! -x "$venv/bin/python" ]]; then
    echo "creating venv $venv with $("$python" --version 2>&1)"
    "$python" -m venv "$venv"
fi

"$venv/bin/python" -m pip install -q --disable-pip-version-check \
    "PyJWT==$pyjwt_version" "cryptography==$cryptography_version"

read -r got_pyjwt got_cryptography <<<"$(installed)"
echo "installed into $venv: PyJWT $got_pyjwt, cryptography $got_cryptography"
if [[ "$got_pyjwt $got_cryptography" != "$pyjwt_version $cryptography_version" ]]; then
    echo "expected PyJWT $pyjwt_version and cryptography $cryptography_version" >&2
    exit 1
fi
