#!/usr/bin/env bash
# Runs usher beside nginx, HAProxy and Caddy in one run of the shared peer
# harness and prints its table. Usage: bench/run.sh [rounds] [seconds]
# Needs: apt-get install -y wrk nginx-light haproxy caddy
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}; secs=${2:-8}
peers=${PEERS:-../shared/bench/peers.sh}
go build -o bin/usher ./cmd/usher
exec "$peers" "$rounds" "$secs" "usher=env PORT={port} ./bin/usher run -c bench/usher.yaml"
