"""An independent SPIFFE Workload API server on Python grpcio (gRPC C-core).

Serves fixed credentials from a JSON config so workload-client/tests/interop_servers.rs can
prove our tonic client against a server not built on tonic. The stubs are generated from
workload-api/proto/workload.proto at test time with grpcio-tools:

    python -m grpc_tools.protoc -I workload-api/proto \
        --python_out=STUBS --grpc_python_out=STUBS workload.proto
    python interop/python/workload_server.py STUBS config.json

The config has the same shape as interop/go/gopath/src/workloadserver (byte fields base64).
Every RPC requires `workload.spiffe.io: true` and answers INVALID_ARGUMENT without it. Streams
send one message and stay open until the client leaves. Prints "listening <socket>" once
serving.
"""

import base64
import json
import os
import sys
import threading
from concurrent import futures


def main():
    stubs, config_path = sys.argv[1], sys.argv[2]
    sys.path.insert(0, stubs)
    import grpc
    import workload_pb2
    import workload_pb2_grpc
    from google.protobuf import struct_pb2

    with open(config_path) as f:
        cfg = json.load(f)

    def b64(value):
        return base64.b64decode(value)

    def b64map(mapping):
        return {key: b64(value) for key, value in (mapping or {}).items()}

    def check(context):
        values = [v for k, v in context.invocation_metadata() if k == "workload.spiffe.io"]
        if values != ["true"]:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "security header missing from request")

    def hold(context):
        done = threading.Event()
        context.add_callback(done.set)
        done.wait()

    class Servicer(workload_pb2_grpc.SpiffeWorkloadAPIServicer):
        def FetchX509SVID(self, request, context):
            check(context)
            svids = [
                workload_pb2.X509SVID(
                    spiffe_id=s["spiffe_id"],
                    x509_svid=b64(s["x509_svid"]),
                    x509_svid_key=b64(s["x509_svid_key"]),
                    bundle=b64(s["bundle"]),
                    hint=s.get("hint", ""),
                )
                for s in cfg.get("x509_svids") or []
            ]
            if not svids:
                context.abort(grpc.StatusCode.PERMISSION_DENIED, "no identity issued")
            yield workload_pb2.X509SVIDResponse(
                svids=svids, federated_bundles=b64map(cfg.get("federated_bundles"))
            )
            hold(context)

        def FetchX509Bundles(self, request, context):
            check(context)
            yield workload_pb2.X509BundlesResponse(bundles=b64map(cfg.get("x509_bundles")))
            hold(context)

        def FetchJWTSVID(self, request, context):
            check(context)
            if not request.audience:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "audience must be specified")
            svids = [
                workload_pb2.JWTSVID(spiffe_id=s["spiffe_id"], svid=s["svid"], hint=s.get("hint", ""))
                for s in cfg.get("jwt_svids") or []
                if not request.spiffe_id or request.spiffe_id == s["spiffe_id"]
            ]
            if not svids:
                context.abort(grpc.StatusCode.PERMISSION_DENIED, "no identity issued")
            return workload_pb2.JWTSVIDResponse(svids=svids)

        def FetchJWTBundles(self, request, context):
            check(context)
            yield workload_pb2.JWTBundlesResponse(bundles=b64map(cfg.get("jwt_bundles")))
            hold(context)

        def ValidateJWTSVID(self, request, context):
            check(context)
            if not request.audience:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "audience must be specified")
            if not request.svid:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "svid must be specified")
            validate = cfg.get("validate") or {}
            claims = struct_pb2.Struct()
            claims.update(validate.get("claims") or {})
            return workload_pb2.ValidateJWTSVIDResponse(
                spiffe_id=validate.get("spiffe_id", ""), claims=claims
            )

    socket = cfg["socket"]
    if os.path.exists(socket):
        os.remove(socket)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    workload_pb2_grpc.add_SpiffeWorkloadAPIServicer_to_server(Servicer(), server)
    server.add_insecure_port("unix:" + socket)
    server.start()
    print("listening", socket, flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
