#!/usr/bin/env bash
# The one test command: installs what the tests need on a fresh machine
# (staticcheck, Chromium, redis-server, curl), then checks formatting, go vet, staticcheck and runs
# every test with the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:$(go env GOPATH)/bin"

if ! command -v staticcheck >/dev/null; then
	go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi
# Debian packages the tests drive: headless Chromium (the dashboard's and the
# portal's browser tests), redis-server (the shared stores; each test starts
# its own on a port of its own), curl (digest auth as a real client does it),
# openssl (the CAs and client certificates of the mutual TLS tests).
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v redis-server >/dev/null || need+=(redis-server)
command -v curl >/dev/null || need+=(curl)
command -v openssl >/dev/null || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
	sudo=""
	[ "$(id -u)" = 0 ] || sudo=sudo
	$sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
# Debian starts a redis-server of its own on install: the tests need none.
if command -v systemctl >/dev/null && systemctl is-active --quiet redis-server 2>/dev/null; then
	${sudo:-} systemctl stop redis-server || true
fi

unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted" >&2
	exit 1
fi
go vet ./...
staticcheck ./...
go test -race -count=1 -timeout 15m ./...
