#!/usr/bin/env python3
"""Drives a Workload API server with py-spiffe (PyPI `spiffe`), an independent client on grpcio,
for the agent's interop test (agent/tests/interop_python.rs).

Usage: workload_client.py ENDPOINT AUDIENCE

ENDPOINT is a `unix:///path` address. Every call has a 10 s deadline (py-spiffe otherwise
waits forever). The script fetches the default X509-SVID and the X.509 bundles, verifies the
SVID's chain against its trust domain's bundle with `cryptography`'s X.509 path validation
(client-certificate policy), fetches a JWT-SVID for AUDIENCE and the JWT bundles, validates the
token locally with `JwtSvid.parse_and_validate` and remotely with ValidateJWTSVID, and checks
that both refuse another audience. It prints one JSON document to stdout:

    {"x509": {"spiffe_id": ..., "chain_len": n, "verified_subject_uri": ...},
     "x509_bundles": ["example.org", ...],
     "jwt": {"spiffe_id": ..., "local_validated_id": ..., "remote_validated_id": ...},
     "jwt_bundles": [...], "wrong_audience": {"local": "<error>", "remote": "<error>"}}

and exits 1 (with the error on stderr) if a fetch or a validation that must succeed fails.
"""

import datetime
import json
import sys

from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store
from spiffe import JwtSvid, WorkloadApiClient

TIMEOUT_SECONDS = 10.0


def names(bundle_set):
    return sorted(bundle.trust_domain.name for bundle in bundle_set.bundles)


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    endpoint, audience = sys.argv[1], sys.argv[2]
    client = WorkloadApiClient(socket_path=endpoint, default_timeout=TIMEOUT_SECONDS)
    report = {}
    try:
        svid = client.fetch_x509_svid()
        bundles = client.fetch_x509_bundles()
        bundle = bundles.get_bundle_for_trust_domain(svid.spiffe_id.trust_domain)
        if bundle is None:
            raise RuntimeError("no X.509 bundle for " + str(svid.spiffe_id.trust_domain))
        store = Store(list(bundle.x509_authorities))
        verifier = (
            PolicyBuilder()
            .store(store)
            .time(datetime.datetime.now(datetime.timezone.utc))
            .build_client_verifier()
        )
        verified = verifier.verify(svid.leaf, svid.cert_chain[1:])
        uris = [
            name.value
            for name in verified.subjects or []
            if isinstance(name, x509.UniformResourceIdentifier)
        ]
        report["x509"] = {
            "spiffe_id": str(svid.spiffe_id),
            "chain_len": len(svid.cert_chain),
            "verified_subject_uri": uris[0] if uris else None,
        }
        report["x509_bundles"] = names(bundles)

        jwt_svid = client.fetch_jwt_svid({audience})
        jwt_bundles = client.fetch_jwt_bundles()
        jwt_bundle = jwt_bundles.get_bundle_for_trust_domain(jwt_svid.spiffe_id.trust_domain)
        if jwt_bundle is None:
            raise RuntimeError("no JWT bundle for " + str(jwt_svid.spiffe_id.trust_domain))
        local = JwtSvid.parse_and_validate(jwt_svid.token, jwt_bundle, {audience})
        remote = client.validate_jwt_svid(jwt_svid.token, audience)
        report["jwt"] = {
            "spiffe_id": str(jwt_svid.spiffe_id),
            "local_validated_id": str(local.spiffe_id),
            "remote_validated_id": str(remote.spiffe_id),
        }
        report["jwt_bundles"] = names(jwt_bundles)
    except Exception as error:  # report which step failed, then fail
        print("workload_client.py: {}: {}".format(type(error).__name__, error), file=sys.stderr)
        print(json.dumps(report), file=sys.stderr)
        return 1

    wrong = {}
    try:
        JwtSvid.parse_and_validate(jwt_svid.token, jwt_bundle, {audience + "-other"})
        wrong["local"] = ""
    except Exception as error:
        wrong["local"] = "{}: {}".format(type(error).__name__, error)
    try:
        client.validate_jwt_svid(jwt_svid.token, audience + "-other")
        wrong["remote"] = ""
    except Exception as error:
        wrong["remote"] = "{}: {}".format(type(error).__name__, error)
    report["wrong_audience"] = wrong
    client.close()
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
