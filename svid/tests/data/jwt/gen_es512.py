#!/usr/bin/env python3
"""Writes es512.jwt and es512.jwks.json: an ES512 JWT-SVID signed by the OpenSSL CLI (an
implementation independent of the crate under test) with ../p521.pk8.pem, and the JWK Set of its
public key. Run from this directory: `python3 gen_es512.py`. ECDSA signatures are randomised, so
the token changes on every run; the tests only need it to verify at jwt_support::NOW."""
import base64, json, subprocess

NOW = 1_780_272_000  # jwt_support::NOW
KEY = "../p521.pk8.pem"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def der_integers(der: bytes):
    """The two INTEGERs of an ECDSA-Sig-Value SEQUENCE (RFC 3279 2.2.3)."""
    assert der[0] == 0x30
    i = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)
    out = []
    for _ in range(2):
        assert der[i] == 0x02
        n = der[i + 1]
        out.append(int.from_bytes(der[i + 2 : i + 2 + n], "big"))
        i += 2 + n
    return out


# The exact bytes of jwt_support::header("ES512", "p521") and jwt_support::default_claims().
header = '{"alg":"ES512","kid":"p521","typ":"JWT"}'
claims = (
    '{"sub":"spiffe://example.org/workload","aud":["spiffe://example.org/service"],'
    f'"exp":{NOW + 300},"iat":{NOW}}}'
)
signing_input = f"{b64(header.encode())}.{b64(claims.encode())}".encode()
der = subprocess.run(
    ["openssl", "dgst", "-sha512", "-sign", KEY], input=signing_input, capture_output=True, check=True
).stdout
r, s = der_integers(der)
signature = r.to_bytes(66, "big") + s.to_bytes(66, "big")  # JWS r || s (RFC 7518 3.4)
with open("es512.jwt", "w") as f:
    f.write(f"{signing_input.decode()}.{b64(signature)}\n")

spki = subprocess.run(
    ["openssl", "pkey", "-in", KEY, "-pubout", "-outform", "DER"], capture_output=True, check=True
).stdout
point = spki[-133:]
assert point[0] == 0x04
jwks = {"keys": [{"kty": "EC", "crv": "P-521", "kid": "p521", "x": b64(point[1:67]), "y": b64(point[67:])}]}
with open("es512.jwks.json", "w") as f:
    json.dump(jwks, f, indent=2)
    f.write("\n")
