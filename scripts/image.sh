#!/usr/bin/env bash
# Builds usher's image without pulling anything: the static binary is built
# on this machine (CGO_ENABLED=0, -trimpath, the version in -ldflags), and
# the final stage of the Dockerfile, FROM scratch (packaging/Dockerfile.scratch),
# by `docker build` around it. Where the golang image can be pulled,
# `docker build .` at the root does the same in two stages.
#
#   scripts/image.sh                         # usher:latest and usher-demoapp:latest
#   USHER_IMAGE=usher:1.0 DEMOAPP_IMAGE= scripts/image.sh   # usher only, tagged 1.0
set -euo pipefail
cd "$(dirname "$0")/.."

usher_image=${USHER_IMAGE-usher:latest}
demo_image=${DEMOAPP_IMAGE-usher-demoapp:latest}
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
commit=${COMMIT:-$(git rev-parse HEAD 2>/dev/null || true)}
certs=${CA_CERTIFICATES:-/etc/ssl/certs/ca-certificates.crt}

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT

export CGO_ENABLED=0 GOOS=linux
if [ -n "$usher_image" ]; then
	[ -r "$certs" ] || { echo "image.sh: no CA certificates at $certs (set CA_CERTIFICATES)" >&2; exit 1; }
	go build -trimpath -ldflags "-s -w -X main.version=$version -X main.commit=$commit" -o "$ctx/usher/usher" ./cmd/usher
	mkdir -p "$ctx/usher/rootfs/etc/ssl/certs" "$ctx/usher/rootfs/etc/usher" "$ctx/usher/rootfs/tmp" "$ctx/usher/data"
	chmod 1777 "$ctx/usher/rootfs/tmp"
	cp "$certs" "$ctx/usher/rootfs/etc/ssl/certs/ca-certificates.crt"
	cp packaging/usher.yaml "$ctx/usher/rootfs/etc/usher/usher.yaml"
	cp packaging/Dockerfile.scratch "$ctx/usher/Dockerfile"
	docker build -q -t "$usher_image" "$ctx/usher" >/dev/null
	echo "built $usher_image ($version)"
fi
if [ -n "$demo_image" ]; then
	go build -trimpath -ldflags "-s -w" -o "$ctx/demoapp/demoapp" ./packaging/demoapp
	cp packaging/demoapp/Dockerfile.scratch "$ctx/demoapp/Dockerfile"
	docker build -q -t "$demo_image" "$ctx/demoapp" >/dev/null
	echo "built $demo_image"
fi
