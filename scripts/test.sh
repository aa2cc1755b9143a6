#!/usr/bin/env bash
# The one test command: installs what the tests need on a fresh machine
# (staticcheck, h2spec, Chromium, redis-server, curl), then checks formatting, go vet, staticcheck and runs
# every test with the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:$(go env GOPATH)/bin"

if ! command -v staticcheck >/dev/null; then
	go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi
# Pebble, a real ACME server, and its DNS server for names (the ACME tests in
# test/acme_test.go start and stop them).
for bin in pebble pebble-challtestsrv; do
	command -v "$bin" >/dev/null || go install "github.com/letsencrypt/pebble/v2/cmd/$bin@v2.10.3"
done
# h2spec v2.2.1, the HTTP/2 conformance suite that test/h2spec_test.go runs
# against usher's TLS and h2c entrypoints, built from scripts/h2spec so that
# its dependencies are the pinned ones (it has no go.mod of its own).
command -v h2spec >/dev/null || (cd scripts/h2spec && go build -o "$(go env GOPATH)/bin/h2spec" github.com/summerwind/h2spec/cmd/h2spec)
# The OpenID provider the oidc tests log in at (zitadel's example OP), in a
# folder of its own: its binary is called "server".
oidc_op="$(go env GOPATH)/lib/zitadel-oidc-v3.52.0"
if [ ! -x "$oidc_op/server" ]; then
	GOBIN="$oidc_op" go install github.com/zitadel/oidc/v3/example/server@v3.52.0
fi
# Debian packages the tests drive: headless Chromium (the dashboard's and the
# portal's browser tests), redis-server (the shared stores; each test starts
# its own on a port of its own), curl (digest auth as a real client does it),
# openssl (the CAs and client certificates of the mutual TLS tests).
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v redis-server >/dev/null || need+=(redis-server)
command -v curl >/dev/null || need+=(curl)
# bind9: the DNS server that dns-01 (RFC 2136 updates) is tested against; the
# test runs its own named on a port of its own.
command -v named >/dev/null || [ -x /usr/sbin/named ] || need+=(bind9)
command -v openssl >/dev/null || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
	sudo=""
	[ "$(id -u)" = 0 ] || sudo=sudo
	$sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
# Debian starts a redis-server (and a named) of its own on install: the tests need none.
for svc in redis-server named; do
	if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
		${sudo:-} systemctl stop "$svc" || true
	fi
done

unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted" >&2
	exit 1
fi
go vet ./...
staticcheck ./...
go test -race -count=1 -timeout 15m ./...
