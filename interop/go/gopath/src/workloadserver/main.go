// Command workloadserver is an independent SPIFFE Workload API server built on grpc-go and
// go-spiffe's generated proto package (the transport stack of the SPIRE agent). It serves fixed
// credentials read from a JSON file, so workload-client/tests/interop_servers.rs can prove our
// tonic client against a server that is not built on tonic.
//
//	workloadserver -config config.json
//
// The config names the Unix socket to listen on and what each RPC returns; byte fields are
// base64 (Go's encoding/json default for []byte):
//
//	{"socket": "/tmp/x/agent.sock",
//	 "x509_svids": [{"spiffe_id": "...", "x509_svid": "<b64 DER chain>", "x509_svid_key": "<b64 PKCS#8>",
//	                 "bundle": "<b64 DER>", "hint": "..."}],
//	 "federated_bundles": {"spiffe://partner.example": "<b64 DER>"},
//	 "x509_bundles": {"example.org": "<b64 DER>"},
//	 "jwt_svids": [{"spiffe_id": "...", "svid": "<token>", "hint": ""}],
//	 "jwt_bundles": {"spiffe://example.org": "<b64 JWKS JSON>"},
//	 "validate": {"spiffe_id": "...", "claims": {...}}}
//
// Every RPC requires the `workload.spiffe.io: true` header and answers InvalidArgument without
// it, as SPIRE does. Streams send one message and stay open until the client leaves. The
// server prints "listening <socket>" once it accepts connections.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"

	"github.com/spiffe/go-spiffe/v2/proto/spiffe/workload"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
)

type x509SVID struct {
	SpiffeID    string `json:"spiffe_id"`
	X509SVID    []byte `json:"x509_svid"`
	X509SVIDKey []byte `json:"x509_svid_key"`
	Bundle      []byte `json:"bundle"`
	Hint        string `json:"hint"`
}

type jwtSVID struct {
	SpiffeID string `json:"spiffe_id"`
	SVID     string `json:"svid"`
	Hint     string `json:"hint"`
}

type config struct {
	Socket           string            `json:"socket"`
	X509SVIDs        []x509SVID        `json:"x509_svids"`
	FederatedBundles map[string][]byte `json:"federated_bundles"`
	X509Bundles      map[string][]byte `json:"x509_bundles"`
	JWTSVIDs         []jwtSVID         `json:"jwt_svids"`
	JWTBundles       map[string][]byte `json:"jwt_bundles"`
	Validate         struct {
		SpiffeID string                 `json:"spiffe_id"`
		Claims   map[string]interface{} `json:"claims"`
	} `json:"validate"`
}

type server struct {
	workload.UnimplementedSpiffeWorkloadAPIServer
	cfg config
}

// checkHeader mirrors SPIRE: exactly one value, equal to "true".
func checkHeader(ctx context.Context) error {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return status.Error(codes.InvalidArgument, "security header missing from request")
	}
	values := md.Get("workload.spiffe.io")
	if len(values) != 1 || values[0] != "true" {
		return status.Error(codes.InvalidArgument, "security header missing from request")
	}
	return nil
}

func (s *server) FetchX509SVID(_ *workload.X509SVIDRequest, stream workload.SpiffeWorkloadAPI_FetchX509SVIDServer) error {
	if err := checkHeader(stream.Context()); err != nil {
		return err
	}
	resp := &workload.X509SVIDResponse{FederatedBundles: s.cfg.FederatedBundles}
	for _, svid := range s.cfg.X509SVIDs {
		resp.Svids = append(resp.Svids, &workload.X509SVID{
			SpiffeId:    svid.SpiffeID,
			X509Svid:    svid.X509SVID,
			X509SvidKey: svid.X509SVIDKey,
			Bundle:      svid.Bundle,
			Hint:        svid.Hint,
		})
	}
	if len(resp.Svids) == 0 {
		return status.Error(codes.PermissionDenied, "no identity issued")
	}
	if err := stream.Send(resp); err != nil {
		return err
	}
	<-stream.Context().Done()
	return nil
}

func (s *server) FetchX509Bundles(_ *workload.X509BundlesRequest, stream workload.SpiffeWorkloadAPI_FetchX509BundlesServer) error {
	if err := checkHeader(stream.Context()); err != nil {
		return err
	}
	if err := stream.Send(&workload.X509BundlesResponse{Bundles: s.cfg.X509Bundles}); err != nil {
		return err
	}
	<-stream.Context().Done()
	return nil
}

func (s *server) FetchJWTSVID(ctx context.Context, req *workload.JWTSVIDRequest) (*workload.JWTSVIDResponse, error) {
	if err := checkHeader(ctx); err != nil {
		return nil, err
	}
	if len(req.Audience) == 0 {
		return nil, status.Error(codes.InvalidArgument, "audience must be specified")
	}
	resp := &workload.JWTSVIDResponse{}
	for _, svid := range s.cfg.JWTSVIDs {
		if req.SpiffeId != "" && req.SpiffeId != svid.SpiffeID {
			continue
		}
		resp.Svids = append(resp.Svids, &workload.JWTSVID{SpiffeId: svid.SpiffeID, Svid: svid.SVID, Hint: svid.Hint})
	}
	if len(resp.Svids) == 0 {
		return nil, status.Error(codes.PermissionDenied, "no identity issued")
	}
	return resp, nil
}

func (s *server) FetchJWTBundles(_ *workload.JWTBundlesRequest, stream workload.SpiffeWorkloadAPI_FetchJWTBundlesServer) error {
	if err := checkHeader(stream.Context()); err != nil {
		return err
	}
	if err := stream.Send(&workload.JWTBundlesResponse{Bundles: s.cfg.JWTBundles}); err != nil {
		return err
	}
	<-stream.Context().Done()
	return nil
}

func (s *server) ValidateJWTSVID(ctx context.Context, req *workload.ValidateJWTSVIDRequest) (*workload.ValidateJWTSVIDResponse, error) {
	if err := checkHeader(ctx); err != nil {
		return nil, err
	}
	if req.Audience == "" {
		return nil, status.Error(codes.InvalidArgument, "audience must be specified")
	}
	if req.Svid == "" {
		return nil, status.Error(codes.InvalidArgument, "svid must be specified")
	}
	claims, err := structpb.NewStruct(s.cfg.Validate.Claims)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &workload.ValidateJWTSVIDResponse{SpiffeId: s.cfg.Validate.SpiffeID, Claims: claims}, nil
}

func main() {
	path := flag.String("config", "", "JSON config file")
	flag.Parse()
	raw, err := os.ReadFile(*path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	var cfg config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	_ = os.Remove(cfg.Socket)
	listener, err := net.Listen("unix", cfg.Socket)
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	grpcServer := grpc.NewServer()
	workload.RegisterSpiffeWorkloadAPIServer(grpcServer, &server{cfg: cfg})
	fmt.Println("listening", cfg.Socket)
	if err := grpcServer.Serve(listener); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
