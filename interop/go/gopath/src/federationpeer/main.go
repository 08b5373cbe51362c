// Command federationpeer is an independent SPIFFE Federation peer built on go-spiffe's
// federation package, for the federation crate's interop tests: go-spiffe fetches from our
// bundle endpoint, and our client fetches from go-spiffe's handler.
//
//	federationpeer fetch -url URL -td TD -roots roots.pem [-verify chain.pem]
//	federationpeer fetch -url URL -td TD -endpoint-id ID -endpoint-bundle bundle.json [-verify chain.pem]
//	    Fetches TD's bundle with federation.FetchBundle, under https_web (WebPKI roots) or
//	    https_spiffe (the endpoint's SPIFFE ID and its trust domain's bundle document), and
//	    prints one JSON line: trust_domain, sequence, refresh_hint_seconds, x509_authorities,
//	    jwt_authorities, and with -verify the SPIFFE ID of the chain verified against the
//	    fetched bundle. Exits 1 with "error: ..." on stderr if any step fails.
//
//	federationpeer serve -td TD -bundle bundle.json -cert cert.pem -key key.pem
//	    Serves TD's bundle with federation.NewHandler over TLS with the given certificate (a
//	    WebPKI one for https_web, an X509-SVID for https_spiffe) on 127.0.0.1 (random port) and
//	    prints "listening HOST:PORT". The bundle file is read again on each request, so a test
//	    can change it. Runs until killed or until stdin closes.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/federation"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: federationpeer fetch|serve [flags]")
	}
	switch os.Args[1] {
	case "fetch":
		fetch(os.Args[2:])
	case "serve":
		serve(os.Args[2:])
	default:
		fail("unknown command %q", os.Args[1])
	}
}

func fetch(args []string) {
	flags := flag.NewFlagSet("fetch", flag.ExitOnError)
	url := flags.String("url", "", "bundle endpoint URL")
	tdName := flags.String("td", "", "the trust domain the bundle belongs to")
	roots := flags.String("roots", "", "https_web: PEM roots for the server certificate")
	endpointID := flags.String("endpoint-id", "", "https_spiffe: the endpoint's SPIFFE ID")
	endpointBundle := flags.String("endpoint-bundle", "", "https_spiffe: bundle document of the endpoint ID's trust domain")
	verify := flags.String("verify", "", "a PEM X509-SVID chain to verify with the fetched bundle")
	_ = flags.Parse(args)

	td, err := spiffeid.TrustDomainFromString(*tdName)
	if err != nil {
		fail("trust domain: %v", err)
	}
	var option federation.FetchOption
	switch {
	case *roots != "" && *endpointID == "":
		text, err := os.ReadFile(*roots)
		if err != nil {
			fail("roots: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(text) {
			fail("roots: no certificate in %s", *roots)
		}
		option = federation.WithWebPKIRoots(pool)
	case *endpointID != "" && *endpointBundle != "" && *roots == "":
		id, err := spiffeid.FromString(*endpointID)
		if err != nil {
			fail("endpoint ID: %v", err)
		}
		bundle, err := spiffebundle.Load(id.TrustDomain(), *endpointBundle)
		if err != nil {
			fail("endpoint bundle: %v", err)
		}
		option = federation.WithSPIFFEAuth(bundle, id)
	default:
		fail("give either -roots, or -endpoint-id with -endpoint-bundle")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	bundle, err := federation.FetchBundle(ctx, td, *url, option)
	if err != nil {
		fail("fetch: %v", err)
	}
	out := map[string]any{
		"trust_domain":     bundle.TrustDomain().Name(),
		"x509_authorities": len(bundle.X509Authorities()),
		"jwt_authorities":  len(bundle.JWTAuthorities()),
	}
	if sequence, ok := bundle.SequenceNumber(); ok {
		out["sequence"] = sequence
	}
	if hint, ok := bundle.RefreshHint(); ok {
		out["refresh_hint_seconds"] = int64(hint / time.Second)
	}
	if *verify != "" {
		text, err := os.ReadFile(*verify)
		if err != nil {
			fail("verify: %v", err)
		}
		chain := parseCertificates(text)
		id, _, err := x509svid.Verify(chain, bundle)
		if err != nil {
			fail("verify: %v", err)
		}
		out["verified_id"] = id.String()
	}
	line, err := json.Marshal(out)
	if err != nil {
		fail("json: %v", err)
	}
	fmt.Println(string(line))
}

// fileSource reads the bundle document again on each request.
type fileSource struct {
	td   spiffeid.TrustDomain
	path string
}

func (s fileSource) GetBundleForTrustDomain(td spiffeid.TrustDomain) (*spiffebundle.Bundle, error) {
	if td != s.td {
		return nil, fmt.Errorf("no bundle for %s", td)
	}
	return spiffebundle.Load(s.td, s.path)
}

func serve(args []string) {
	flags := flag.NewFlagSet("serve", flag.ExitOnError)
	tdName := flags.String("td", "", "the trust domain whose bundle is served")
	bundlePath := flags.String("bundle", "", "its bundle document (JSON), read on each request")
	cert := flags.String("cert", "", "the server's certificate chain (PEM)")
	key := flags.String("key", "", "its private key (PEM)")
	_ = flags.Parse(args)

	td, err := spiffeid.TrustDomainFromString(*tdName)
	if err != nil {
		fail("trust domain: %v", err)
	}
	handler, err := federation.NewHandler(td, fileSource{td: td, path: *bundlePath})
	if err != nil {
		fail("handler: %v", err)
	}
	pair, err := tls.LoadX509KeyPair(*cert, *key)
	if err != nil {
		fail("certificate: %v", err)
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail("listen: %v", err)
	}
	server := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12},
	}
	fmt.Printf("listening %s\n", listener.Addr())
	go func() {
		// The test closes stdin (or exits) when it is done.
		_, _ = io.Copy(io.Discard, os.Stdin)
		_ = server.Close()
	}()
	if err := server.ServeTLS(listener, "", ""); err != nil && err != http.ErrServerClosed {
		fail("serve: %v", err)
	}
}

// parseCertificates reads every CERTIFICATE block of a PEM text.
func parseCertificates(text []byte) []*x509.Certificate {
	var chain []*x509.Certificate
	for {
		block, rest := pem.Decode(text)
		if block == nil {
			break
		}
		text = rest
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			fail("verify: %v", err)
		}
		chain = append(chain, cert)
	}
	if len(chain) == 0 {
		fail("verify: no certificate")
	}
	return chain
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "error: "+format+"\n", args...)
	os.Exit(1)
}
