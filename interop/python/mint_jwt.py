#!/usr/bin/env python3
"""Mints JWT-SVIDs with PyJWT, an independent JOSE implementation, for svid's interop test.

Usage: mint_jwt.py OUTPUT_DIR

Writes two files into OUTPUT_DIR:

- bundle.json: the SPIFFE bundle document of trust domain example.org, holding the public
  halves of freshly generated keys (EC P-256, EC P-384, RSA-2048) as `use: jwt-svid` JWKs
  with a `kid`, built from the keys' public numbers.
- tokens.json: [{"name": ..., "token": ..., "expect": "ok" | "<JwtError variant>"}], every
  token signed by PyJWT (or, where PyJWT refuses to produce the attack, by hand) with
  iat = now and exp = now + 300, for audience spiffe://example.org/service.

The Rust side (svid/tests/jwt_pyjwt_interop.rs) validates each token against bundle.json at
the current time and checks the outcome. Set up the environment with interop/python/setup.sh.
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

TRUST_DOMAIN = "example.org"
AUDIENCE = "spiffe://example.org/service"
SUBJECT = "spiffe://example.org/workload"
LIFETIME = 300


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def int_bytes(value: int, length: int = 0) -> bytes:
    """Big-endian; `length` 0 means minimal (RSA members), otherwise fixed (EC coordinates)."""
    if length == 0:
        length = max(1, (value.bit_length() + 7) // 8)
    return value.to_bytes(length, "big")


def ec_jwk(kid: str, key: ec.EllipticCurvePrivateKey) -> dict:
    numbers = key.public_key().public_numbers()
    crv, size = {"secp256r1": ("P-256", 32), "secp384r1": ("P-384", 48)}[key.curve.name]
    return {
        "kty": "EC",
        "use": "jwt-svid",
        "kid": kid,
        "crv": crv,
        "x": b64url(int_bytes(numbers.x, size)),
        "y": b64url(int_bytes(numbers.y, size)),
    }


def rsa_jwk(kid: str, key: rsa.RSAPrivateKey) -> dict:
    numbers = key.public_key().public_numbers()
    return {
        "kty": "RSA",
        "use": "jwt-svid",
        "kid": kid,
        "n": b64url(int_bytes(numbers.n)),
        "e": b64url(int_bytes(numbers.e)),
    }


def hs256_by_hand(claims: dict, secret: bytes, kid: str) -> str:
    """HS256 the way an attacker would compute it when the library refuses."""
    header = {"alg": "HS256", "kid": kid, "typ": "JWT"}
    signing_input = (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    tag = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return signing_input + "." + b64url(tag)


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: mint_jwt.py OUTPUT_DIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)

    p256 = ec.generate_private_key(ec.SECP256R1())
    p384 = ec.generate_private_key(ec.SECP384R1())
    rsa2048 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    bundle = {
        "spiffe_sequence": 1,
        "keys": [
            ec_jwk("ec-p256", p256),
            ec_jwk("ec-p384", p384),
            rsa_jwk("rsa-2048", rsa2048),
        ],
    }

    now = int(time.time())

    def claims(**overrides) -> dict:
        base = {"sub": SUBJECT, "aud": [AUDIENCE], "exp": now + LIFETIME, "iat": now}
        base.update(overrides)
        return {k: v for k, v in base.items() if v is not None}

    def sign(payload: dict, key, alg: str, kid, **headers) -> str:
        extra = dict(headers)
        if kid is not None:
            extra["kid"] = kid
        return jwt.encode(payload, key, algorithm=alg, headers=extra)

    tokens = []

    def add(name: str, token: str, expect: str) -> None:
        tokens.append({"name": name, "token": token, "expect": expect})

    # Valid tokens, one per algorithm family and hash.
    add("es256", sign(claims(), p256, "ES256", "ec-p256"), "ok")
    add("es384", sign(claims(), p384, "ES384", "ec-p384"), "ok")
    for alg in ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"):
        add(alg.lower(), sign(claims(), rsa2048, alg, "rsa-2048"), "ok")
    add("es256-aud-string", sign(claims(aud=AUDIENCE), p256, "ES256", "ec-p256"), "ok")
    add(
        "es256-private-claims",
        sign(claims(iss="spiffe://example.org", jti="j1", tenant={"id": 7}), p256, "ES256", "ec-p256"),
        "ok",
    )

    # alg none: PyJWT emits `header.payload.` with an empty signature.
    add("alg-none", sign(claims(), None, "none", "ec-p256"), "UnsupportedAlgorithm")

    # HS256 with the EC public key's PEM as the HMAC secret (algorithm confusion). PyJWT
    # refuses PEM keys as HMAC secrets; craft it by hand then.
    pem = p256.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    try:
        confused = sign(claims(), pem, "HS256", "ec-p256")
    except jwt.exceptions.InvalidKeyError:
        confused = hs256_by_hand(claims(), pem, "ec-p256")
    add("hs256-ec-public-pem", confused, "UnsupportedAlgorithm")

    # Key-family confusion: an RS256 token whose kid names an EC key, and ES384 on a P-256 kid.
    add("rs256-kid-of-ec-key", sign(claims(), rsa2048, "RS256", "ec-p256"), "KeyDoesNotFitAlgorithm")
    add("es384-kid-of-p256-key", sign(claims(), p384, "ES384", "ec-p256"), "KeyDoesNotFitAlgorithm")

    # A subject of another trust domain: the bundle is example.org's only.
    add(
        "other-trust-domain",
        sign(claims(sub="spiffe://other.example/workload"), p256, "ES256", "ec-p256"),
        "NoBundle",
    )

    # Other refusals, each from a real library's output.
    add("missing-kid", sign(claims(), p256, "ES256", None), "MissingKid")
    add("unknown-kid", sign(claims(), p256, "ES256", "nope"), "UnknownKid")
    add("wrong-key-same-kid", sign(claims(), ec.generate_private_key(ec.SECP256R1()), "ES256", "ec-p256"), "BadSignature")
    add("expired", sign(claims(exp=now - 3600, iat=now - 3900), p256, "ES256", "ec-p256"), "Expired")
    add("not-yet-valid", sign(claims(nbf=now + 120), p256, "ES256", "ec-p256"), "NotYetValid")
    add("other-audience", sign(claims(aud=["spiffe://example.org/other"]), p256, "ES256", "ec-p256"), "AudienceMismatch")
    add("missing-aud", sign(claims(aud=None), p256, "ES256", "ec-p256"), "MissingClaim")
    add("typ-wit", sign(claims(), p256, "ES256", "ec-p256", typ="wit+jwt"), "BadType")
    add("jku-header", sign(claims(), p256, "ES256", "ec-p256", jku="https://attacker.example/jwks"), "BadHeader")
    add("root-subject", sign(claims(sub="spiffe://example.org"), p256, "ES256", "ec-p256"), "RootSubject")

    with open(os.path.join(out, "bundle.json"), "w", encoding="utf-8") as f:
        json.dump(bundle, f, indent=2)
    with open(os.path.join(out, "tokens.json"), "w", encoding="utf-8") as f:
        json.dump(tokens, f, indent=2)
    print(f"PyJWT {jwt.__version__}: wrote {len(tokens)} tokens and bundle.json to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
