// Command spiffe-diff reports go-spiffe's verdicts on X.509-SVID chains and JWT-SVIDs, so a
// test can compare them with another implementation's on the same inputs.
//
// It reads one JSON job from the file named by its only argument, or from stdin:
//
//	{
//	  "now": 1780272000,
//	  "bundles": {"example.org": <SPIFFE bundle document>, ...},
//	  "cases": [
//	    {"name": "leaf", "kind": "x509", "chain_der_b64": ["<leaf DER>", "<intermediate DER>"]},
//	    {"name": "es256", "kind": "jwt", "token": "<compact JWS>", "audience": ["spiffe://..."]},
//	    {"name": "own-bundles", "kind": "x509", "chain_der_b64": [...], "bundles": {...}}
//	  ]
//	}
//
// "bundles" maps trust domain names (bare or spiffe://) to SPIFFE bundle documents, each read
// with spiffebundle.Parse; a case's own "bundles" replaces the job's. The X.509 authorities of
// all documents form one x509bundle.Set, the JWT authorities one jwtbundle.Set. X.509 cases run
// x509svid.ParseAndVerify at "now" (x509svid.WithTime); JWT cases run jwtsvid.ParseAndValidate,
// which always uses the current time (go-spiffe 2.5.0 has no time option), with "audience" as
// given (null and [] both mean an empty expected audience).
//
// It writes one JSON document to stdout:
//
//	{"go": "go1.24.4", "now": 1780272000, "jwt_clock": <Go's Unix time>,
//	 "results": [{"name": "leaf", "ok": true, "spiffe_id": "spiffe://...", "error": ""}, ...]}
//
// A bundle document go-spiffe refuses makes every case using it fail with "bundle ...: <error>".
// The exit status is 0 whenever the job itself could be read, whatever the verdicts.
package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/jwtbundle"
	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

type job struct {
	Now     int64                      `json:"now"`
	Bundles map[string]json.RawMessage `json:"bundles"`
	Cases   []testCase                 `json:"cases"`
}

type testCase struct {
	Name        string                     `json:"name"`
	Kind        string                     `json:"kind"`
	ChainDERB64 []string                   `json:"chain_der_b64"`
	Token       string                     `json:"token"`
	Audience    []string                   `json:"audience"`
	Bundles     map[string]json.RawMessage `json:"bundles"`
}

type result struct {
	Name     string `json:"name"`
	OK       bool   `json:"ok"`
	SpiffeID string `json:"spiffe_id"`
	Error    string `json:"error"`
}

type output struct {
	Go       string   `json:"go"`
	Now      int64    `json:"now"`
	JWTClock int64    `json:"jwt_clock"`
	Results  []result `json:"results"`
}

// bundleSets are the go-spiffe bundle sets built from one "bundles" object.
type bundleSets struct {
	x509 *x509bundle.Set
	jwt  *jwtbundle.Set
	err  error
}

func buildSets(docs map[string]json.RawMessage) bundleSets {
	names := make([]string, 0, len(docs))
	for name := range docs {
		names = append(names, name)
	}
	sort.Strings(names)
	sets := bundleSets{x509: x509bundle.NewSet(), jwt: jwtbundle.NewSet()}
	for _, name := range names {
		td, err := spiffeid.TrustDomainFromString(name)
		if err != nil {
			sets.err = fmt.Errorf("bundle %q: %w", name, err)
			return sets
		}
		bundle, err := spiffebundle.Parse(td, docs[name])
		if err != nil {
			sets.err = fmt.Errorf("bundle %q: %w", name, err)
			return sets
		}
		sets.x509.Add(bundle.X509Bundle())
		sets.jwt.Add(bundle.JWTBundle())
	}
	return sets
}

func runX509(c testCase, sets bundleSets, now time.Time) result {
	r := result{Name: c.Name}
	raw := make([][]byte, 0, len(c.ChainDERB64))
	for i, b64 := range c.ChainDERB64 {
		der, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			r.Error = fmt.Sprintf("harness: chain_der_b64[%d]: %v", i, err)
			return r
		}
		raw = append(raw, der)
	}
	id, chains, err := x509svid.ParseAndVerify(raw, sets.x509, x509svid.WithTime(now))
	if err != nil {
		r.Error = err.Error()
		return r
	}
	if len(chains) == 0 {
		r.Error = "harness: verified without a chain"
		return r
	}
	r.OK = true
	r.SpiffeID = id.String()
	return r
}

func runJWT(c testCase, sets bundleSets) result {
	r := result{Name: c.Name}
	svid, err := jwtsvid.ParseAndValidate(c.Token, sets.jwt, c.Audience)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.OK = true
	r.SpiffeID = svid.ID.String()
	return r
}

func main() {
	var in io.Reader = os.Stdin
	if len(os.Args) > 1 && os.Args[1] != "-" {
		f, err := os.Open(os.Args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, "spiffe-diff:", err)
			os.Exit(2)
		}
		defer f.Close()
		in = f
	}
	var j job
	dec := json.NewDecoder(in)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		fmt.Fprintln(os.Stderr, "spiffe-diff: bad job:", err)
		os.Exit(2)
	}

	now := time.Unix(j.Now, 0)
	shared := buildSets(j.Bundles)
	out := output{Go: runtime.Version(), Now: j.Now, JWTClock: time.Now().Unix(), Results: []result{}}
	for _, c := range j.Cases {
		sets := shared
		if c.Bundles != nil {
			sets = buildSets(c.Bundles)
		}
		var r result
		switch {
		case sets.err != nil:
			r = result{Name: c.Name, Error: sets.err.Error()}
		case c.Kind == "x509":
			r = runX509(c, sets, now)
		case c.Kind == "jwt":
			r = runJWT(c, sets)
		default:
			fmt.Fprintf(os.Stderr, "spiffe-diff: case %q: unknown kind %q\n", c.Name, c.Kind)
			os.Exit(2)
		}
		out.Results = append(out.Results, r)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "spiffe-diff:", err)
		os.Exit(2)
	}
}
