#!/usr/bin/env python3
"""Writes the fixed inputs of the svid fuzz checks and the seeds of the five trust-bundle and
svid fuzz targets.

    python3 fuzz/checks/data/gen.py        # needs `cryptography` (pip install cryptography)

Outputs (every run makes fresh keys, so every file below changes; the checks read the key
values out of these files, so regenerated seeds pass unchanged):

- fuzz/checks/data/x509-ca.der       CA of example.org (EC P-256): the only authority of the
                                      BundleSet of `checks/x509_svid.rs`
- fuzz/checks/data/jwt-bundle.json   Workload API JWKS of example.org for `checks/jwt_svid.rs`:
                                      `fuzz-p256` (EC P-256, made here) and `jwt-rsa-2048` (the
                                      RSA key of trust-bundle/tests/data/bundle/golden.json)
- fuzz/corpus/{bundle_document,bundle_map,x509_bundle_der,x509_svid,jwt_svid}/*

Private keys never leave this process, except the leaf keys that are part of `x509_svid` seeds
(an X.509-SVID input is a chain plus its key). They are throwaway test keys.

Certificates are valid from 2026-01-01 to 2126-01-01 (the `expired` seed until 2027-01-01);
the checks verify at the fixed instant 2030-01-01T00:00:00Z. JWT-SVIDs expire in 2100.
"""

import base64
import datetime
import json
import shutil
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

FUZZ = Path(__file__).resolve().parents[2]
ROOT = FUZZ.parent
DATA = FUZZ / "checks" / "data"
CORPUS = FUZZ / "corpus"
TB_DATA = ROOT / "trust-bundle" / "tests" / "data"

NOT_BEFORE = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
NOT_AFTER = datetime.datetime(2126, 1, 1, tzinfo=datetime.timezone.utc)
JWT_EXP = 4_102_444_800  # 2100-01-01
AUDIENCE = "spiffe://example.org/fuzz-audience"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def pkcs8(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def sign_hash(key):
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "SPIFFE"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def key_usage(**bits) -> x509.KeyUsage:
    fields = dict(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    fields.update(bits)
    return x509.KeyUsage(**fields)


def ca_cert(cn, key, issuer_name=None, issuer_key=None, uri=None, serial=1):
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(cn))
        .issuer_name(issuer_name or name(cn))
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(key_usage(key_cert_sign=True, crl_sign=True), critical=True)
    )
    if uri:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]), critical=False
        )
    signer = issuer_key or key
    return builder.sign(signer, sign_hash(signer))


def leaf_cert(uris, key, issuer_name, issuer_key, serial, not_after=NOT_AFTER, ca=False):
    builder = (
        x509.CertificateBuilder()
        .subject_name(name("workload"))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(key_usage(digital_signature=True, key_cert_sign=ca), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
    )
    if uris:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(u) for u in uris]),
            critical=False,
        )
    return builder.sign(issuer_key, sign_hash(issuer_key))


def svid_input(chain: bytes, key: bytes) -> bytes:
    """The `x509_svid` input: chain length (u16 big-endian), chain DER, PKCS#8 key DER."""
    assert len(chain) < 1 << 16
    return len(chain).to_bytes(2, "big") + chain + key


def jws(header: dict, claims: dict, key=None, signature: bytes | None = None) -> str:
    signing_input = (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    if signature is None:
        r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return signing_input + "." + b64url(signature)


def write_seeds(target: str, seeds: dict) -> None:
    folder = CORPUS / target
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for file_name, content in seeds.items():
        if isinstance(content, str):
            content = content.encode()
        (folder / file_name).write_bytes(content)
    print(f"{target}: {len(seeds)} seeds")


def compact(value) -> str:
    return json.dumps(value, separators=(",", ":"))


def bundle_seeds(golden: dict, golden_map: dict) -> dict:
    x509_entry, jwt_ec, jwt_rsa = golden["keys"]
    partner = golden_map["trust_domains"]["partner.example"]
    ed25519_der = (TB_DATA / "certs" / "ca-ed25519.der").read_bytes()
    k1_der = (TB_DATA / "certs" / "ca-ec-secp256k1.der").read_bytes()
    rsa_der = (TB_DATA / "certs" / "ca-rsa-2048.der").read_bytes()
    std64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return {
        "golden.json": (TB_DATA / "bundle" / "golden.json").read_bytes(),
        "golden-compact.json": compact(golden),
        "map-example-org.json": compact(golden_map["trust_domains"]["example.org"]),
        "map-partner-example.json": compact(partner),
        "ed25519-authority-x5c-only.json": compact(
            {"keys": [{"kty": "OKP", "use": "x509-svid", "x5c": [std64(ed25519_der)]}]}
        ),
        "empty-keys-max-sequence-zero-hint.json": (
            '{"spiffe_sequence":18446744073709551615,"spiffe_refresh_hint":0,"keys":[]}'
        ),
        "ignored-entries.json": compact(
            {
                "keys": [
                    {**jwt_ec, "use": "JWT-SVID"},
                    {k: v for k, v in jwt_ec.items() if k != "kid"},
                    {**jwt_ec, "kid": "dup"},
                    {**jwt_rsa, "kid": "dup"},
                    {**jwt_ec, "kid": "private", "d": "AAAA"},
                    {"kty": "OKP", "use": "jwt-svid", "kid": "ed", "crv": "Ed25519", "x": "AAAA"},
                    {**jwt_ec, "use": "wit-svid"},
                    {"kty": "EC", "use": "x509-svid", "x5c": [std64(k1_der)]},
                    {"kty": "RSA", "use": "x509-svid", "x5c": [std64(rsa_der)], "n": "AQAB"},
                    "not an object",
                    {"kty": "zzz", "use": "jwt-svid"},
                    jwt_rsa,
                ]
            }
        ),
        "duplicate-certificate-and-x5c-chain.json": compact(
            {
                "keys": [
                    {**x509_entry, "x5c": x509_entry["x5c"] + [std64(rsa_der)]},
                    {"kty": "EC", "use": "x509-svid", "x5c": x509_entry["x5c"]},
                ]
            }
        ),
        "error-duplicate-member.json": '{"keys":[],"keys":[]}',
        "error-duplicate-nested-member.json": (
            '{"keys":[{"kty":"EC","use":"jwt-svid","kid":"a","kid":"b"}]}'
        ),
        "error-float-refresh-hint.json": '{"spiffe_refresh_hint":1.5,"keys":[]}',
        "error-negative-sequence.json": '{"spiffe_sequence":-1,"keys":[]}',
        "error-keys-null.json": '{"keys":null,"spiffe_sequence":1}',
        "error-not-object.json": "[]",
    }


def bundle_map_seeds(golden_map: dict) -> dict:
    example = golden_map["trust_domains"]["example.org"]
    partner = golden_map["trust_domains"]["partner.example"]
    ten = {f"td{i}.example": example if i % 2 == 0 else partner for i in range(10)}
    return {
        "golden.json": (TB_DATA / "bundle-map" / "golden.json").read_bytes(),
        "golden-compact.json": compact(golden_map),
        "one-domain.json": compact({"trust_domains": {"example.org": example}}),
        "one-domain-with-refresh-hint.json": compact(
            {"trust_domains": {"example.org": {"spiffe_refresh_hint": 60, **example}}}
        ),
        "ten-domains.json": compact({"trust_domains": ten}),
        "empty.json": '{"trust_domains":{}}',
        "error-duplicate-domain.json": (
            '{"trust_domains":{"example.org":{"keys":[]},"example.org":{"keys":[]}}}'
        ),
        "error-id-as-key.json": '{"trust_domains":{"spiffe://example.org":{"keys":[]}}}',
        "error-bundle-without-keys.json": (
            '{"trust_domains":{"example.org":{"keys":[]},"b.example":{"spiffe_sequence":1}}}'
        ),
        "error-trust-domains-null.json": '{"trust_domains":null}',
        "error-trust-domains-array.json": '{"trust_domains":[]}',
    }


def x509_bundle_seeds(fuzz_ca: bytes, fuzz_leaf: bytes) -> dict:
    certs = TB_DATA / "certs"
    ec_der = (certs / "ca-ec-p256.der").read_bytes()
    rsa_der = (certs / "ca-rsa-2048.der").read_bytes()
    return {
        "ec-p256.der": ec_der,
        "rsa-2048.der": rsa_der,
        "ed25519.der": (certs / "ca-ed25519.der").read_bytes(),
        "error-secp256k1.der": (certs / "ca-ec-secp256k1.der").read_bytes(),
        "two-certificates.der": ec_der + rsa_der,
        "duplicate-certificate.der": ec_der + ec_der,
        "error-trailing-byte.der": ec_der + b"\x00",
        "error-truncated.der": rsa_der[: len(rsa_der) // 2],
        "empty.der": b"",
        "ec-p256.pem": (certs / "ca-ec-p256.pem").read_bytes(),
        "three-certificates.pem": b"".join(
            (certs / f).read_bytes() for f in ["ca-ec-p256.pem", "ca-rsa-2048.pem", "ca-ed25519.pem"]
        ),
        "ca-and-leaf.der": fuzz_ca + fuzz_leaf,
    }


def main() -> None:
    golden = json.loads((TB_DATA / "bundle" / "golden.json").read_text())
    golden_map = json.loads((TB_DATA / "bundle-map" / "golden.json").read_text())

    # The CA of example.org that the x509_svid check trusts, and an intermediate under it.
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = ca_cert("fuzz CA", ca_key, uri="spiffe://example.org")
    inter_key = ec.generate_private_key(ec.SECP256R1())
    inter = ca_cert("fuzz intermediate", inter_key, ca.subject, ca_key, serial=2)
    # A CA nobody trusts.
    other_key = ec.generate_private_key(ec.SECP256R1())
    other_ca = ca_cert("untrusted CA", other_key, uri="spiffe://example.org")

    leaf_key = ec.generate_private_key(ec.SECP256R1())
    web = "spiffe://example.org/ns/default/sa/web"
    leaf = leaf_cert([web], leaf_key, ca.subject, ca_key, 10)
    DATA.mkdir(parents=True, exist_ok=True)
    (DATA / "x509-ca.der").write_bytes(der(ca))

    ed_key = ed25519.Ed25519PrivateKey.generate()
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    via_inter = leaf_cert([web], leaf_key, inter.subject, inter_key, 11)
    seeds = {
        "valid-leaf.bin": svid_input(der(leaf), pkcs8(leaf_key)),
        "valid-leaf-intermediate.bin": svid_input(der(via_inter) + der(inter), pkcs8(leaf_key)),
        "valid-leaf-and-root.bin": svid_input(der(leaf) + der(ca), pkcs8(leaf_key)),
        "valid-ed25519-leaf.bin": svid_input(
            der(leaf_cert([web], ed_key, ca.subject, ca_key, 12)), pkcs8(ed_key)
        ),
        "valid-rsa-leaf.bin": svid_input(
            der(leaf_cert([web], rsa_key, ca.subject, ca_key, 13)), pkcs8(rsa_key)
        ),
        "key-mismatch.bin": svid_input(der(leaf), pkcs8(inter_key)),
        "other-trust-domain.bin": svid_input(
            der(leaf_cert(["spiffe://other.example/web"], leaf_key, ca.subject, ca_key, 14)),
            pkcs8(leaf_key),
        ),
        "untrusted-issuer.bin": svid_input(
            der(leaf_cert([web], leaf_key, other_ca.subject, other_key, 15)), pkcs8(leaf_key)
        ),
        "expired.bin": svid_input(
            der(
                leaf_cert(
                    [web],
                    leaf_key,
                    ca.subject,
                    ca_key,
                    16,
                    not_after=datetime.datetime(2027, 1, 1, tzinfo=datetime.timezone.utc),
                )
            ),
            pkcs8(leaf_key),
        ),
        "root-id.bin": svid_input(
            der(leaf_cert(["spiffe://example.org"], leaf_key, ca.subject, ca_key, 17)),
            pkcs8(leaf_key),
        ),
        "two-uri-sans.bin": svid_input(
            der(leaf_cert([web, web + "2"], leaf_key, ca.subject, ca_key, 18)), pkcs8(leaf_key)
        ),
        "ca-as-leaf.bin": svid_input(
            der(leaf_cert([web], leaf_key, ca.subject, ca_key, 19, ca=True)), pkcs8(leaf_key)
        ),
        "empty-chain.bin": svid_input(b"", pkcs8(leaf_key)),
        "truncated.bin": svid_input(der(leaf)[:100], b""),
    }
    write_seeds("x509_svid", seeds)

    # JWT-SVIDs: a P-256 key of example.org, plus the golden RSA key (no private half here).
    jwt_key = ec.generate_private_key(ec.SECP256R1())
    numbers = jwt_key.public_key().public_numbers()
    jwt_rsa = golden["keys"][2]
    jwks = {
        "keys": [
            {
                "kty": "EC",
                "kid": "fuzz-p256",
                "crv": "P-256",
                "x": b64url(numbers.x.to_bytes(32, "big")),
                "y": b64url(numbers.y.to_bytes(32, "big")),
            },
            {k: v for k, v in jwt_rsa.items() if k != "use"},
        ]
    }
    (DATA / "jwt-bundle.json").write_text(json.dumps(jwks, indent=2) + "\n")

    sub = "spiffe://example.org/ns/default/sa/web"
    claims = {"sub": sub, "aud": [AUDIENCE], "exp": JWT_EXP, "iat": 1_767_225_600}
    es256 = {"alg": "ES256", "kid": "fuzz-p256", "typ": "JWT"}
    bogus_es = bytes(range(64))
    seeds = {
        "valid-es256.txt": jws(es256, claims, jwt_key),
        "valid-es256-no-kid.txt": jws({"alg": "ES256"}, claims, jwt_key),
        "valid-es256-three-audiences.txt": jws(
            es256, {**claims, "aud": ["a", AUDIENCE, "b"], "nbf": 1_767_225_600}, jwt_key
        ),
        "bad-signature-es256.txt": jws(es256, claims, signature=bogus_es),
        "rs256-bogus-signature.txt": jws(
            {"alg": "RS256", "kid": "jwt-rsa-2048"}, claims, signature=bytes(256)
        ),
        "alg-none.txt": jws({"alg": "none"}, claims, signature=b""),
        "hs256.txt": jws({"alg": "HS256", "kid": "fuzz-p256"}, claims, signature=bytes(32)),
        "root-subject.txt": jws(es256, {**claims, "sub": "spiffe://example.org"}, jwt_key),
        "other-trust-domain.txt": jws(
            es256, {**claims, "sub": "spiffe://other.example/web"}, jwt_key
        ),
        "33-audiences.txt": jws(
            es256, {**claims, "aud": [f"aud{i}" for i in range(32)] + [AUDIENCE]}, jwt_key
        ),
        "expired.txt": jws(es256, {**claims, "exp": 1_800_000_000}, jwt_key),
        "json-serialization.txt": '{"payload":"e30","signatures":[]}',
        "duplicate-claim.txt": (
            b64url(compact(es256).encode())
            + "."
            + b64url(f'{{"sub":"{sub}","sub":"spiffe://other.example/x","aud":"a","exp":{JWT_EXP}}}'.encode())
            + "."
            + b64url(bogus_es)
        ),
    }
    write_seeds("jwt_svid", seeds)

    write_seeds("bundle_document", bundle_seeds(golden, golden_map))
    write_seeds("bundle_map", bundle_map_seeds(golden_map))
    write_seeds("x509_bundle_der", x509_bundle_seeds(der(ca), der(leaf)))


if __name__ == "__main__":
    main()
