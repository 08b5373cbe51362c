#!/usr/bin/env bash
# Installs Go 1.24 and go-spiffe 2.5.0 from Debian trixie packages into interop/.go (git-ignored)
# and builds the Go interop programs into interop/.go/bin:
#
#   interop/.go/bin/spiffediff    go-spiffe's x509svid / jwtsvid verdicts for a JSON job
#                                 (svid/tests/go_spiffe_diff.rs)
#   interop/.go/bin/federationpeer  go-spiffe's federation package: FetchBundle (https_web,
#                                 https_spiffe) and NewHandler, for the federation interop tests
#
#   bash interop/go/setup.sh
#
# Nothing is installed on the machine: the packages are fetched with a private apt
# configuration (a sources list naming the system's own Debian mirror with suite `trixie`,
# private lists and cache, an empty dpkg status) and unpacked with `dpkg-deb -x` into
# interop/.go/root (without Go tests and test data). The machine's apt configuration and lists
# are never touched.
#
# Idempotent: the packages are fetched once (interop/.go/root/.complete records what was
# unpacked); the programs are rebuilt only when a source is newer than the binary. Set
# GO_SETUP_REFRESH=1 to fetch the packages again. Under CI=true any error fails loudly (as it
# does anyway: set -euo pipefail), with the step that failed named on stderr.
set -euo pipefail

started=$SECONDS
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
interop="$(cd "$here/.." && pwd)"
state="$interop/.go"
root="$state/root"
aptdir="$state/apt"
debs="$state/debs"
bin="$state/bin"
gopath="$here/gopath"

# The go-spiffe package and the toolchain it needs. Pinned to the versions trixie ships; a
# different version is reported (and refused under CI) rather than silently used.
spiffe_pkg="golang-github-spiffe-go-spiffe-dev"
spiffe_version_prefix="2.5.0"
go_pkgs=(golang-1.24-go golang-1.24-src)
# Collides with golang-github-golang-protobuf-1-5-dev (same import path, older code).
excluded_pkgs=(golang-github-golang-protobuf-1-3-dev)

step="start"
warmup="" # pid of the background standard-library build, stopped if anything fails
trap 'echo "interop/go/setup.sh: FAILED during: $step (after $((SECONDS - started)) s)" >&2
      [[ -z "$warmup" ]] || kill "$warmup" 2>/dev/null || true' ERR

log() { echo "go-setup: $*"; }

# ---- the mirror the system already uses --------------------------------------------------

system_mirror() {
    # Prints the first Debian (not debian-security) mirror URI of the system's apt sources.
    local uri=""
    if [[ -r /etc/apt/sources.list.d/debian.sources ]]; then
        uri="$(awk '
            /^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }
        ' /etc/apt/sources.list.d/debian.sources)"
    fi
    if [[ -z "$uri" && -r /etc/apt/sources.list ]]; then
        uri="$(awk '
            $1 == "deb" {
                for (i = 2; i <= NF; i++) {
                    if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; continue }
                    if ($i !~ /security/) { print $i; exit } else break
                }
            }
        ' /etc/apt/sources.list)"
    fi
    if [[ -z "$uri" ]]; then
        echo "no Debian mirror found in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list" >&2
        return 1
    fi
    echo "${uri%/}"
}

apt_opts() {
    # The private apt configuration: only our sources list, our lists and cache, no dpkg state.
    printf '%s\n' \
        -o "Dir::Etc::sourcelist=$aptdir/sources.list" \
        -o "Dir::Etc::sourceparts=-" \
        -o "Dir::State::Lists=$aptdir/lists" \
        -o "Dir::Cache=$aptdir/cache" \
        -o "Dir::State::status=/dev/null" \
        -o "APT::Get::List-Cleanup=0" \
        -o "Debug::NoLocking=1"
}

# GOPATH mode: no modules, no proxy, no toolchain download, only the unpacked packages.
export GOROOT="$root/usr/lib/go-1.24"
export GOPATH="$gopath:$root/usr/share/gocode"
export GO111MODULE=off GOPROXY=off GOTOOLCHAIN=local GOFLAGS="" CGO_ENABLED=0
export GOCACHE="$state/cache"
export GOTELEMETRY=off
go="$GOROOT/bin/go"
# Standard library packages the programs import, compiled while the libraries unpack.
warm_std=(crypto/x509 encoding/json encoding/pem compress/flate crypto/ed25519 crypto/hmac
    crypto/aes net/url fmt)

# ---- 1. packages ------------------------------------------------------------------------

unpack() {
    # `dpkg-deb -x` of one downloaded package into $root, minus what no build reads: Go tests,
    # test data, Go's own test suite and docs. They are half of the files, and creating files
    # is the slow part here.
    local deb
    # apt-get download names files <pkg>_<version>_<arch>.deb (epoch colons escaped).
    deb="$(ls -t "$debs/${1}_"*.deb | head -n1)"
    dpkg-deb --fsys-tarfile "$deb" |
        tar -x -C "$root" --no-same-owner \
            --exclude='*_test.go' --exclude='*/testdata' \
            --exclude='./usr/share/go-1.24/test' \
            --exclude='./usr/share/doc' --exclude='./usr/share/man'
}

fetch_packages() {
    local t0=$SECONDS mirror keyring
    mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial" "$debs"
    step="reading the system's Debian mirror"
    mirror="$(system_mirror)"
    keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    [[ -r "$keyring" ]] || keyring=/usr/share/keyrings/debian-archive-trixie-stable.gpg
    # Private file under the git-ignored interop/.go: the mirror host never lands in the repo.
    echo "deb [signed-by=$keyring] $mirror trixie main" >"$aptdir/sources.list"
    log "private apt sources: $aptdir/sources.list (suite trixie on the system mirror)"

    local -a opts
    mapfile -t opts < <(apt_opts)

    step="apt-get update (private lists)"
    apt-get "${opts[@]}" -q update >"$aptdir/update.log" 2>&1 || {
        cat "$aptdir/update.log" >&2
        return 1
    }
    log "apt-get update: $(grep -c '^\(Get\|Hit\)' "$aptdir/update.log" || true) index files ($((SECONDS - t0)) s)"

    step="checking $spiffe_pkg version"
    local candidate
    candidate="$(apt-cache "${opts[@]}" policy "$spiffe_pkg" | awk '/Candidate:/ { print $2 }')"
    if [[ -z "$candidate" || "$candidate" == "(none)" ]]; then
        echo "$spiffe_pkg is not in trixie on $mirror" >&2
        return 1
    fi
    if [[ "$candidate" != "$spiffe_version_prefix"* ]]; then
        echo "warning: trixie has $spiffe_pkg $candidate, expected $spiffe_version_prefix" >&2
        [[ "${CI:-}" != "true" ]] || return 1
    fi

    step="computing the dependency closure of $spiffe_pkg"
    local -a pkgs
    mapfile -t pkgs < <(
        {
            apt-cache "${opts[@]}" depends --recurse --no-recommends --no-suggests \
                --no-conflicts --no-breaks --no-replaces --no-enhances "$spiffe_pkg" |
                grep -E '^golang-.*-dev$'
            printf '%s\n' "${go_pkgs[@]}"
        } | grep -vxF -f <(printf '%s\n' "${excluded_pkgs[@]}") | sort -u
    )
    log "${#pkgs[@]} packages: $spiffe_pkg $candidate, ${go_pkgs[*]} and $((${#pkgs[@]} - 3)) Go library packages"

    step="apt-get download"
    local t1=$SECONDS
    (cd "$debs" && apt-get "${opts[@]}" -q download "${pkgs[@]}" >"$aptdir/download.log" 2>&1) || {
        cat "$aptdir/download.log" >&2
        return 1
    }
    log "downloaded $(du -sh "$debs" | cut -f1) of .deb files ($((SECONDS - t1)) s)"

    step="unpacking into $root"
    local t2=$SECONDS
    rm -rf "$root"
    mkdir -p "$root"
    # The toolchain first: while the libraries unpack, compile the standard library packages
    # the programs use (only a build-cache warm-up: the real build below reports any error).
    local pkg
    for pkg in "${go_pkgs[@]}"; do
        unpack "$pkg"
    done
    "$go" build -trimpath "${warm_std[@]}" >"$state/warmup.log" 2>&1 &
    warmup=$!
    for pkg in "${pkgs[@]}"; do
        [[ " ${go_pkgs[*]} " == *" $pkg "* ]] || unpack "$pkg"
    done
    printf '%s\n' "${pkgs[@]}" >"$root/.packages"
    echo "$spiffe_pkg $candidate" >"$root/.complete"
    log "unpacked $(du -sh "$root" | cut -f1) into $root ($((SECONDS - t2)) s; package stage $((SECONDS - t0)) s)"
    step="standard library warm-up"
    wait "$warmup" || log "standard library warm-up failed (see $state/warmup.log); building anyway"
    warmup=""
}

step="checking packages"
if [[ -f "$root/.complete" && -x "$root/usr/lib/go-1.24/bin/go" && "${GO_SETUP_REFRESH:-0}" != "1" ]]; then
    log "packages already unpacked in $root: $(cat "$root/.complete") (GO_SETUP_REFRESH=1 refetches)"
else
    fetch_packages
fi

# ---- 2. the Go programs -----------------------------------------------------------------

step="checking the Go toolchain"
log "$("$go" version)"

mkdir -p "$bin"
# Every program under gopath/src/<name> (one `package main` each) is built into $bin/<name>;
# a program is rebuilt only when one of its sources is newer than its binary.
for src in "$gopath"/src/*/; do
    src="${src%/}"
    name="$(basename "$src")"
    out="$bin/$name"
    if [[ -x "$out" && -z "$(find "$src" -newer "$out" -print -quit)" && "$out" -nt "$root/.complete" ]]; then
        log "$out is up to date"
        continue
    fi
    step="go build $name"
    t0=$SECONDS
    (cd "$src" && "$go" build -trimpath -ldflags='-s -w' -o "$out" .)
    log "built $out ($((SECONDS - t0)) s)"
done

step="smoke test"
echo '{"now":0,"bundles":{},"cases":[]}' | "$bin/spiffediff" >/dev/null
log "done in $((SECONDS - started)) s"
