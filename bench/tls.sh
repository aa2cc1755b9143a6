#!/usr/bin/env bash
# CPU per new TLS connection: usher beside nginx and HAProxy, every request
# on a connection of its own (wrk with Connection: close, so each is a new
# handshake; wrk resumes sessions, so each is a PSK one with a fresh X25519
# exchange), ECDSA P-256 certificate, TLS 1.3 as negotiated, each proxy alone on core 1, wrk and the backend on core 0,
# medians of rounds (the method of ../shared/bench/tls.sh, self-contained).
#
# Usage: bench/tls.sh [rounds] [seconds]   (default 3 rounds of 5 s: under 2 min)
# Installs wrk, nginx-light and haproxy from Debian when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}; secs=${2:-5}
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx-light)
command -v haproxy >/dev/null || need+=(haproxy)
if [ ${#need[@]} -gt 0 ]; then
	sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
	$sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
T=$(mktemp -d /tmp/usher-tls-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $T/key.pem -out $T/cert.pem -days 30 \
	-subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
cat $T/cert.pem $T/key.pem > $T/both.pem
cat > $T/backend.go <<'GO'
package main

import "net/http"

func main() {
	body := []byte("hello from the benchmark backend, a hundred bytes or so of body for each request served.........\n")
	http.ListenAndServe("127.0.0.1:19101", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
}
GO
(cd $T && go mod init tlsbench >/dev/null 2>&1 && go build -o backend .)
go build -o $T/usher ./cmd/usher
cat > $T/nginx.conf <<CONF
worker_processes 1;
daemon off;
pid $T/nginx.pid;
error_log $T/nginx.err warn;
events { worker_connections 1024; }
http {
  access_log off;
  upstream app { server 127.0.0.1:19101; keepalive 16; }
  server {
    listen 127.0.0.1:18541 ssl http2;
    ssl_certificate $T/cert.pem; ssl_certificate_key $T/key.pem;
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
CONF
cat > $T/haproxy.cfg <<CONF
global
  maxconn 1000
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend fe
  bind 127.0.0.1:18542 ssl crt $T/both.pem alpn h2,http/1.1
  default_backend be
backend be
  server s1 127.0.0.1:19101
CONF
cat > $T/usher.yaml <<CONF
log: { level: warn }
entrypoints:
  websecure: { address: "127.0.0.1:18543", tls: {} }
tls:
  certificates: [ { certFile: "$T/cert.pem", keyFile: "$T/key.pem" } ]
http:
  routers:
    all: { rule: "PathPrefix(\`/\`)", service: be }
  services:
    be: { loadBalancer: { servers: [ { url: "http://127.0.0.1:19101" } ] } }
CONF
taskset -c 0 $T/backend & pids+=($!)
declare -A port cmd ppid
port[nginx]=18541;   cmd[nginx]="nginx -c $T/nginx.conf"
port[haproxy]=18542; cmd[haproxy]="haproxy -f $T/haproxy.cfg"
port[usher]=18543;   cmd[usher]="$T/usher run -c $T/usher.yaml"
names=(nginx haproxy usher)
for n in "${names[@]}"; do taskset -c 1 ${cmd[$n]} >$T/$n.log 2>&1 & ppid[$n]=$!; pids+=($!); done
for n in "${names[@]}"; do
	for _ in $(seq 50); do curl -sk -o /dev/null "https://127.0.0.1:${port[$n]}/" && break; sleep 0.1; done
done
cpu_of() { local t=0 p task; for p in $1 $(pgrep -P "$1"); do for task in /proc/$p/task/*; do read -r -a f < "$task/stat" 2>/dev/null || continue; t=$((t + f[13] + f[14])); done; done; echo $t; }
hz=$(getconf CLK_TCK); out=$T/out
for r in $(seq "$rounds"); do for n in "${names[@]}"; do
	c0=$(cpu_of "${ppid[$n]}")
	res=$(taskset -c 0 wrk -t1 -c20 -d"${secs}s" -H "Connection: close" "https://127.0.0.1:${port[$n]}/" 2>&1)
	c1=$(cpu_of "${ppid[$n]}")
	rps=$(awk '/Requests\/sec/{print $2}' <<<"$res"); total=$(awk '/requests in/{print $1}' <<<"$res")
	us=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" -v n="$total" 'BEGIN{ if (n>0) printf "%.1f", (b-a)/hz*1e6/n; else print "nan" }')
	echo "$r $n $rps $us $(grep -E 'Non-2xx|Socket errors' <<<"$res" | tr '\n' ' ')" | tee -a "$out" >&2
done; done
printf "%-10s %12s %16s %10s\n" proxy "req/s(med)" "cpu_us/conn(med)" "÷nginx"
med() { sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }
base=$(awk '$2=="nginx"{print $4}' "$out" | med)
for n in "${names[@]}"; do
	r=$(awk -v n="$n" '$2==n{print $3}' "$out" | med)
	u=$(awk -v n="$n" '$2==n{print $4}' "$out" | med)
	printf "%-10s %12s %16s %10s\n" "$n" "$r" "$u" "$(awk -v u="$u" -v b="$base" 'BEGIN{printf "%.2f", u/b}')"
done
