#!/usr/bin/env bash
# Regenerates the certificates and golden JSON documents under tests/data/.
# Needs the openssl CLI (3.x), xxd and coreutils. Run from anywhere:
#   bash trust-bundle/tests/data/gen.sh
# Keys are fresh on every run and private keys are deleted at the end: only public material
# is checked in. The tests read key members from the files, so regenerated vectors pass as is.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$here/certs" "$here/bundle" "$here/bundle-map"

b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
b64() { base64 -w0; }

# ca NAME TRUST_DOMAIN KEYGEN_ARGS... : a self-signed SPIFFE CA (X509-SVID 4.1, 4.3):
# URI SAN = trust domain ID, CA:TRUE, keyCertSign + cRLSign, fixed serial.
ca() {
  local name="$1" td="$2"; shift 2
  openssl genpkey "$@" -out "$tmp/$name.key" 2>/dev/null
  local digest=(-sha256)
  [[ "$name" == *ed25519* ]] && digest=()
  openssl req -x509 -new -key "$tmp/$name.key" "${digest[@]}" -days 36500 -set_serial 1 \
    -subj "/O=SPIFFE/CN=$name" \
    -addext "subjectAltName=URI:spiffe://$td" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$here/certs/$name.pem"
  openssl x509 -in "$here/certs/$name.pem" -outform DER -out "$here/certs/$name.der"
}

ca ca-ec-p256 example.org -algorithm EC -pkeyopt ec_paramgen_curve:P-256
ca ca-rsa-2048 partner.example -algorithm RSA -pkeyopt rsa_keygen_bits:2048
ca ca-ed25519 example.org -algorithm ED25519
# A key type this crate refuses (no JWK curve name that rustls-webpki verifies with).
ca ca-ec-secp256k1 example.org -algorithm EC -pkeyopt ec_paramgen_curve:secp256k1

# JWT signing keys: public parts only end up in the JSON.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/jwt-ec.key" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/jwt-rsa.key" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$tmp/jwt-ec384.key" 2>/dev/null

# ec_members KEYFILE COORD_LEN: prints `"x": "...", "y": "..."` from the SPKI, whose last bytes
# are the uncompressed point 04 || X || Y.
ec_members() {
  openssl pkey -in "$1" -pubout -outform DER 2>/dev/null | tail -c $((2 * $2)) > "$tmp/xy"
  printf '"x": "%s", "y": "%s"' \
    "$(head -c "$2" "$tmp/xy" | b64url)" "$(tail -c "$2" "$tmp/xy" | b64url)"
}
# rsa_members KEYFILE: prints `"n": "...", "e": "AQAB"` (openssl's default exponent 65537).
rsa_members() {
  printf '"n": "%s", "e": "AQAB"' \
    "$(openssl rsa -in "$1" -noout -modulus 2>/dev/null | cut -d= -f2 | xxd -r -p | b64url)"
}

ca_ec_x5c="$(b64 < "$here/certs/ca-ec-p256.der")"
ca_rsa_x5c="$(b64 < "$here/certs/ca-rsa-2048.der")"

cat > "$here/bundle/golden.json" <<JSON
{
  "spiffe_sequence": 42,
  "spiffe_refresh_hint": 300,
  "keys": [
    {
      "kty": "EC", "use": "x509-svid", "crv": "P-256", $(ec_members "$tmp/ca-ec-p256.key" 32),
      "x5c": ["$ca_ec_x5c"]
    },
    {
      "kty": "EC", "use": "jwt-svid", "kid": "jwt-ec-p256", "crv": "P-256",
      $(ec_members "$tmp/jwt-ec.key" 32)
    },
    {
      "kty": "RSA", "use": "jwt-svid", "kid": "jwt-rsa-2048",
      $(rsa_members "$tmp/jwt-rsa.key")
    }
  ]
}
JSON

# Bundle map: per-bundle refresh hints left out, as producers should (SPIFFE bundle 5.1.1).
cat > "$here/bundle-map/golden.json" <<JSON
{
  "trust_domains": {
    "example.org": {
      "spiffe_sequence": 42,
      "keys": [
        {
          "kty": "EC", "use": "x509-svid", "crv": "P-256", $(ec_members "$tmp/ca-ec-p256.key" 32),
          "x5c": ["$ca_ec_x5c"]
        },
        {
          "kty": "EC", "use": "jwt-svid", "kid": "jwt-ec-p256", "crv": "P-256",
          $(ec_members "$tmp/jwt-ec.key" 32)
        }
      ]
    },
    "partner.example": {
      "spiffe_sequence": 7,
      "keys": [
        {
          "kty": "RSA", "use": "x509-svid", $(rsa_members "$tmp/ca-rsa-2048.key"),
          "x5c": ["$ca_rsa_x5c"]
        },
        {
          "kty": "EC", "use": "jwt-svid", "kid": "jwt-ec-p384", "crv": "P-384",
          $(ec_members "$tmp/jwt-ec384.key" 48)
        }
      ]
    }
  }
}
JSON

# Check the output is JSON.
for f in "$here/bundle/golden.json" "$here/bundle-map/golden.json"; do
  python3 -m json.tool "$f" > /dev/null
done
echo "regenerated vectors in $here"
