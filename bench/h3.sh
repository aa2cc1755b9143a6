#!/usr/bin/env bash
# Requests/s and usher's CPU per request over HTTP/3 beside HTTP/2, on one
# TLS entrypoint with http3 (both protocols on the same port), in front of a
# 1 KiB backend. usher alone on core 1; the Go load client (bench/h3load,
# quic-go's HTTP/3 client and Go's HTTP/2 client) and the backend on core 0.
#
# Usage: bench/h3.sh [rounds] [seconds]   (default 3 rounds of 3 s: 18 s of load)
# Needs: Go, taskset (util-linux). CONNS and STREAMS set the shape of the
# load (default 4 connections with 8 requests in flight on each).
# Figures: req/s = requests answered per second by the client's count;
# cpu_us/req = usher's utime+stime (from /proc) per request.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}; secs=${2:-3}; conns=${CONNS:-4}; streams=${STREAMS:-8}
run=$(mktemp -d /tmp/usher-h3-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$run"; }
trap cleanup EXIT

go build -o bin/usher ./cmd/usher
go build -o "$run/h3load" ./bench/h3load
port=19401; backend=19402
"$run/h3load" cert "$run"
taskset -c 0 "$run/h3load" backend "127.0.0.1:$backend" & pids+=($!)
taskset -c 1 env PORT=$port BACKEND_PORT=$backend DIR="$run" \
  ./bin/usher run -c bench/h3/usher.yaml >"$run/usher.log" 2>&1 & uspid=$!; pids+=($!)
# Ready when a request gets through (the load client's own warm-up GET).
for _ in $(seq 100); do
  "$run/h3load" load -proto h2 -addr "127.0.0.1:$port" -ca "$run/cert.pem" -d 1ms -conns 1 -streams 1 >/dev/null 2>&1 && break
  sleep 0.1
done

out=$run/rounds
for r in $(seq "$rounds"); do
  for proto in h2 h3; do
    res=$(taskset -c 0 "$run/h3load" load -proto $proto -addr "127.0.0.1:$port" -ca "$run/cert.pem" \
      -pid "$uspid" -d "${secs}s" -conns "$conns" -streams "$streams")
    echo "$r $res" | tee -a "$out" >&2
  done
done
grep -i warn "$run/usher.log" >&2 || true

median() { sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }
echo
echo "$(go env GOVERSION), $rounds rounds of ${secs}s, $conns connections x $streams requests in flight, 1 KiB responses"
printf "%-9s %10s %11s %7s\n" protocol "req/s" "cpu_us/req" errors
for proto in h2 h3; do
  rps=$(awk -v p=$proto '$2==p{print $3}' "$out" | median)
  us=$(awk -v p=$proto '$2==p{print $4}' "$out" | median)
  errs=$(awk -v p=$proto '$2==p{s+=$5} END{print s+0}' "$out")
  printf "%-9s %10s %11s %7s\n" "$([ $proto = h2 ] && echo HTTP/2 || echo HTTP/3)" "$rps" "$us" "$errs"
done
