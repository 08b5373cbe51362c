// Command spiffetlspeer is an independent SPIFFE mTLS peer built on go-spiffe's spiffetls, used
// by tls-integration/tests/interop_go.rs to run our rustls client against go-spiffe's server and
// go-spiffe's client against our rustls server.
//
//	spiffetlspeer server -cert svid.pem -key key.pem -bundle TD=bundle.pem[,TD=bundle.pem] -authorize AUTHZ [-n N]
//	    Listens on 127.0.0.1 (random port), prints "listening HOST:PORT", and serves N
//	    connections (default 1): each one that passes the handshake and the authorizer gets
//	    "hello <client SPIFFE ID>\n" in answer to its first line. Refused ones are logged to
//	    stderr as "refused: <reason>" and get nothing.
//
//	spiffetlspeer client -addr HOST:PORT -cert svid.pem -key key.pem -bundle ... -authorize AUTHZ
//	    Dials with mTLS, sends "hi\n", prints "server <server SPIFFE ID>" and "reply <line>".
//	    Exits 1 with "error: ..." on stderr if the handshake, the authorizer or the exchange fails.
//
// AUTHZ is "any", "id:<SPIFFE ID>" or "member:<trust domain>".
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: spiffetlspeer server|client [flags]")
	}
	flags := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	addr := flags.String("addr", "127.0.0.1:0", "address to listen on or dial")
	cert := flags.String("cert", "", "SVID certificate chain (PEM)")
	key := flags.String("key", "", "SVID private key (PEM)")
	bundles := flags.String("bundle", "", "TD=bundle.pem,...")
	authz := flags.String("authorize", "", "any | id:<SPIFFE ID> | member:<trust domain>")
	count := flags.Int("n", 1, "connections to serve")
	_ = flags.Parse(os.Args[2:])

	svid, err := x509svid.Load(*cert, *key)
	if err != nil {
		fail("loading SVID: %v", err)
	}
	set := x509bundle.NewSet()
	for _, item := range strings.Split(*bundles, ",") {
		td, path, ok := strings.Cut(item, "=")
		if !ok {
			fail("bad -bundle item %q", item)
		}
		bundle, err := x509bundle.Load(spiffeid.RequireTrustDomainFromString(td), path)
		if err != nil {
			fail("loading bundle %s: %v", td, err)
		}
		set.Add(bundle)
	}
	authorizer := parseAuthorizer(*authz)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	switch os.Args[1] {
	case "server":
		serve(ctx, *addr, authorizer, svid, set, *count)
	case "client":
		dial(ctx, *addr, authorizer, svid, set)
	default:
		fail("unknown mode %q", os.Args[1])
	}
}

func parseAuthorizer(s string) tlsconfig.Authorizer {
	switch {
	case s == "any":
		return tlsconfig.AuthorizeAny()
	case strings.HasPrefix(s, "id:"):
		return tlsconfig.AuthorizeID(spiffeid.RequireFromString(strings.TrimPrefix(s, "id:")))
	case strings.HasPrefix(s, "member:"):
		return tlsconfig.AuthorizeMemberOf(spiffeid.RequireTrustDomainFromString(strings.TrimPrefix(s, "member:")))
	}
	fail("bad -authorize %q", s)
	return nil
}

func serve(ctx context.Context, addr string, authorizer tlsconfig.Authorizer, svid *x509svid.SVID, bundles *x509bundle.Set, count int) {
	listener, err := spiffetls.ListenWithMode(ctx, "tcp", addr, spiffetls.MTLSServerWithRawConfig(authorizer, svid, bundles))
	if err != nil {
		fail("listen: %v", err)
	}
	defer listener.Close()
	fmt.Printf("listening %s\n", listener.Addr())
	for i := 0; i < count; i++ {
		conn, err := listener.Accept()
		if err != nil {
			fail("accept: %v", err)
		}
		handle(conn)
	}
}

func handle(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if h, ok := conn.(interface{ Handshake() error }); ok {
		if err := h.Handshake(); err != nil {
			fmt.Fprintf(os.Stderr, "refused: %v\n", err)
			return
		}
	}
	peer, err := spiffetls.PeerIDFromConn(conn)
	if err != nil {
		fmt.Fprintf(os.Stderr, "refused: %v\n", err)
		return
	}
	if _, err := bufio.NewReader(conn).ReadString('\n'); err != nil {
		fmt.Fprintf(os.Stderr, "refused: read: %v\n", err)
		return
	}
	fmt.Fprintf(conn, "hello %s\n", peer)
	fmt.Fprintf(os.Stderr, "served: %s\n", peer)
}

func dial(ctx context.Context, addr string, authorizer tlsconfig.Authorizer, svid *x509svid.SVID, bundles *x509bundle.Set) {
	conn, err := spiffetls.DialWithMode(ctx, "tcp", addr, spiffetls.MTLSClientWithRawConfig(authorizer, svid, bundles))
	if err != nil {
		fail("dial: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	peer, err := spiffetls.PeerIDFromConn(conn)
	if err != nil {
		fail("peer id: %v", err)
	}
	fmt.Printf("server %s\n", peer)
	if _, err := fmt.Fprint(conn, "hi\n"); err != nil {
		fail("write: %v", err)
	}
	reply, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		fail("read: %v", err)
	}
	fmt.Printf("reply %s", reply)
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "error: "+format+"\n", args...)
	os.Exit(1)
}
