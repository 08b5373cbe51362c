// Command workloadclient drives a Workload API server with go-spiffe's workloadapi client (the
// client SPIRE's ecosystem uses) and reports what it got, so a test can check an agent against
// an independent implementation.
//
//	workloadclient -addr unix:///path/agent.sock -audience aud [-timeout 20s]
//	workloadclient -addr unix:///path/agent.sock -watch N [-timeout 20s]
//
// Fetch mode (default) runs FetchX509Context, FetchX509Bundles, FetchJWTSVIDs, FetchJWTBundles
// and ValidateJWTSVID, verifies every X509-SVID with x509svid.Verify against the fetched
// bundles and every JWT-SVID with jwtsvid.ParseAndValidate against the fetched JWT bundles,
// and writes one JSON document to stdout:
//
//	{"x509_svids": [{"spiffe_id": "...", "hint": "...", "verified_id": "...", "error": ""}],
//	 "x509_bundles": ["example.org", ...], "jwt_bundles": [...],
//	 "jwt_svids": [{"spiffe_id": "...", "hint": "...", "validated_id": "...", "error": ""}],
//	 "validate": {"spiffe_id": "...", "error": ""},
//	 "validate_wrong_audience_error": "...", "local_wrong_audience_error": "..."}
//
// Watch mode runs WatchX509Context and prints one JSON line per update,
// {"update": 1, "ids": [...], "leaf_sha256": "<hex of the first SVID's leaf>", "federated":
// [...]}, exiting 0 after N updates.
//
// Any failed fetch prints the error to stderr and exits 1.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/jwtbundle"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
)

type x509Result struct {
	SpiffeID   string `json:"spiffe_id"`
	Hint       string `json:"hint"`
	VerifiedID string `json:"verified_id"`
	Error      string `json:"error"`
}

type jwtResult struct {
	SpiffeID    string `json:"spiffe_id"`
	Hint        string `json:"hint"`
	ValidatedID string `json:"validated_id"`
	Error       string `json:"error"`
}

type validateResult struct {
	SpiffeID string `json:"spiffe_id"`
	Error    string `json:"error"`
}

type report struct {
	X509SVIDs                  []x509Result   `json:"x509_svids"`
	X509Bundles                []string       `json:"x509_bundles"`
	JWTSVIDs                   []jwtResult    `json:"jwt_svids"`
	JWTBundles                 []string       `json:"jwt_bundles"`
	Validate                   validateResult `json:"validate"`
	ValidateWrongAudienceError string         `json:"validate_wrong_audience_error"`
	LocalWrongAudienceError    string         `json:"local_wrong_audience_error"`
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "workloadclient: "+format+"\n", args...)
	os.Exit(1)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func x509Names(set *x509bundle.Set) []string {
	names := []string{}
	for _, b := range set.Bundles() {
		names = append(names, b.TrustDomain().Name())
	}
	sort.Strings(names)
	return names
}

func jwtNames(set *jwtbundle.Set) []string {
	names := []string{}
	for _, b := range set.Bundles() {
		names = append(names, b.TrustDomain().Name())
	}
	sort.Strings(names)
	return names
}

func fetch(ctx context.Context, client *workloadapi.Client, audience string) report {
	var out report
	x509ctx, err := client.FetchX509Context(ctx)
	if err != nil {
		fail("FetchX509Context: %v", err)
	}
	for _, svid := range x509ctx.SVIDs {
		r := x509Result{SpiffeID: svid.ID.String(), Hint: svid.Hint}
		id, _, err := x509svid.Verify(svid.Certificates, x509ctx.Bundles)
		if err == nil {
			r.VerifiedID = id.String()
		}
		r.Error = errString(err)
		out.X509SVIDs = append(out.X509SVIDs, r)
	}
	bundles, err := client.FetchX509Bundles(ctx)
	if err != nil {
		fail("FetchX509Bundles: %v", err)
	}
	out.X509Bundles = x509Names(bundles)

	jwtBundles, err := client.FetchJWTBundles(ctx)
	if err != nil {
		fail("FetchJWTBundles: %v", err)
	}
	out.JWTBundles = jwtNames(jwtBundles)
	svids, err := client.FetchJWTSVIDs(ctx, jwtsvid.Params{Audience: audience})
	if err != nil {
		fail("FetchJWTSVIDs: %v", err)
	}
	for _, svid := range svids {
		r := jwtResult{SpiffeID: svid.ID.String(), Hint: svid.Hint}
		validated, err := jwtsvid.ParseAndValidate(svid.Marshal(), jwtBundles, []string{audience})
		if err == nil {
			r.ValidatedID = validated.ID.String()
		}
		r.Error = errString(err)
		out.JWTSVIDs = append(out.JWTSVIDs, r)
	}
	if len(svids) == 0 {
		fail("FetchJWTSVIDs returned nothing")
	}
	token := svids[0].Marshal()
	validated, err := client.ValidateJWTSVID(ctx, token, audience)
	if err == nil {
		out.Validate.SpiffeID = validated.ID.String()
	}
	out.Validate.Error = errString(err)
	_, err = client.ValidateJWTSVID(ctx, token, audience+"-other")
	out.ValidateWrongAudienceError = errString(err)
	_, err = jwtsvid.ParseAndValidate(token, jwtBundles, []string{audience + "-other"})
	out.LocalWrongAudienceError = errString(err)
	return out
}

type watcher struct {
	want    int
	seen    int
	done    chan struct{}
	encoder *json.Encoder
}

func (w *watcher) OnX509ContextUpdate(c *workloadapi.X509Context) {
	w.seen++
	ids := []string{}
	for _, svid := range c.SVIDs {
		ids = append(ids, svid.ID.String())
	}
	leaf := ""
	if len(c.SVIDs) > 0 && len(c.SVIDs[0].Certificates) > 0 {
		sum := sha256.Sum256(c.SVIDs[0].Certificates[0].Raw)
		leaf = hex.EncodeToString(sum[:])
	}
	federated := []string{}
	for _, name := range x509Names(c.Bundles) {
		federated = append(federated, name)
	}
	_ = w.encoder.Encode(map[string]interface{}{
		"update": w.seen, "ids": ids, "leaf_sha256": leaf, "bundles": federated,
	})
	if w.seen == w.want {
		close(w.done)
	}
}

func (w *watcher) OnX509ContextWatchError(err error) {
	fmt.Fprintf(os.Stderr, "workloadclient: watch error: %v\n", err)
}

func main() {
	addr := flag.String("addr", "", "Workload API address (unix:///path or tcp://ip:port)")
	audience := flag.String("audience", "workloadclient", "JWT-SVID audience")
	watch := flag.Int("watch", 0, "watch X.509 contexts and exit after this many updates")
	timeout := flag.Duration("timeout", 20*time.Second, "give up after this long")
	flag.Parse()
	if *addr == "" {
		fail("-addr is required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	client, err := workloadapi.New(ctx, workloadapi.WithAddr(*addr))
	if err != nil {
		fail("connect: %v", err)
	}
	defer client.Close()

	if *watch > 0 {
		w := &watcher{want: *watch, done: make(chan struct{}), encoder: json.NewEncoder(os.Stdout)}
		watchCtx, stop := context.WithCancel(ctx)
		errs := make(chan error, 1)
		go func() { errs <- client.WatchX509Context(watchCtx, w) }()
		select {
		case <-w.done:
			stop()
			<-errs
			return
		case <-ctx.Done():
			fail("timed out after %d of %d updates", w.seen, *watch)
		case err := <-errs:
			fail("watch ended after %d updates: %v", w.seen, err)
		}
	}

	out := fetch(ctx, client, *audience)
	encoder := json.NewEncoder(os.Stdout)
	encoder.SetIndent("", "  ")
	if err := encoder.Encode(out); err != nil {
		fail("encode: %v", err)
	}
}
