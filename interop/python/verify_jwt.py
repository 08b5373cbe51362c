#!/usr/bin/env python3
"""Verifies JWT-SVIDs minted by the `ca` crate with PyJWT, an independent JOSE implementation.

Usage: verify_jwt.py INPUT.json

INPUT.json (written by ca/tests/pyjwt_interop.rs):
  {"bundle": <SPIFFE bundle document>,
   "tokens": [{"name": ..., "token": ..., "audience": ..., "expect": "ok" | "fail"}]}

For each token: read the header without trusting it, require `alg` in the JWT-SVID list and a
`kid` naming a `use: jwt-svid` key of the bundle, build that key from its JWK with PyJWT, and
verify the signature, `exp` and `aud` with PyJWT (`sub` must be present). Prints one JSON
object: {"results": [{"name": ..., "outcome": "ok" | "<PyJWT exception class>", "claims": ...}]}.
The Rust side compares outcomes with expectations.
"""

import json
import sys

import jwt
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ALLOWED = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]


def key_for(bundle: dict, kid: str):
    for jwk in bundle.get("keys", []):
        if jwk.get("use") == "jwt-svid" and jwk.get("kid") == kid:
            if jwk["kty"] == "EC":
                return ECAlgorithm.from_jwk(json.dumps(jwk))
            if jwk["kty"] == "RSA":
                return RSAAlgorithm.from_jwk(json.dumps(jwk))
    raise jwt.InvalidKeyError(f"no jwt-svid key with kid {kid!r}")


def verify(bundle: dict, token: str, audience: str) -> dict:
    header = jwt.get_unverified_header(token)
    if sorted(header) != ["alg", "kid", "typ"]:
        raise jwt.InvalidTokenError(f"unexpected header members {sorted(header)}")
    if header["alg"] not in ALLOWED:
        raise jwt.InvalidAlgorithmError(header["alg"])
    key = key_for(bundle, header["kid"])
    return jwt.decode(
        token,
        key=key,
        algorithms=[header["alg"]],
        audience=audience,
        options={"require": ["exp", "sub", "aud"]},
    )


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        data = json.load(f)
    results = []
    for case in data["tokens"]:
        try:
            claims = verify(data["bundle"], case["token"], case["audience"])
            results.append({"name": case["name"], "outcome": "ok", "claims": claims})
        except jwt.PyJWTError as e:
            results.append({"name": case["name"], "outcome": type(e).__name__})
    json.dump({"results": results}, sys.stdout)


if __name__ == "__main__":
    main()
