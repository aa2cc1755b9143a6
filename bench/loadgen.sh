#!/usr/bin/env bash
# CPU per request of the load generator itself: `usher bench` beside wrk,
# both driving the same nginx (one worker answering `return 200` with a
# 64-byte body) over HTTP/1.1 keep-alive, one thread each, alone on core 0,
# nginx alone on core 1, interleaved rounds.
#
# Usage: bench/loadgen.sh [rounds] [seconds]   (default 5 rounds of 3 s, at
# -c 32 and -c 64: about a minute). BIN=path uses that usher binary instead
# of building one; OLD=path adds a row for another build (to put two side
# by side: OLD=/tmp/usher-old).
# Installs wrk, nginx-light and GNU time from Debian when they are missing.
# Figure: cpu_us/req = the generator's CPU time (user+system, from getrusage
# of the child through GNU time) over the requests it completed, median of
# the rounds. The machine is shared: CPU per request, not req/s, is the
# figure to compare.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}; secs=${2:-3}; conns_list=${CONNS:-32 64}

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx-light)
command -v curl >/dev/null || need+=(curl)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

run=$(mktemp -d /tmp/usher-loadgen-bench.XXXXXX)
chmod 755 "$run"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$run"
}
trap cleanup EXIT

bin=${BIN:-}
if [ -z "$bin" ]; then
  go build -o bin/usher ./cmd/usher
  bin=./bin/usher
fi
port=19501
body=$(head -c 64 /dev/zero | tr '\0' x)
cat > "$run/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $run/nginx.pid;
error_log $run/nginx.err warn;
worker_rlimit_nofile 20000;
events { worker_connections 4096; }
http {
  access_log off;
  default_type text/plain;
  keepalive_requests 1000000;
  client_body_temp_path $run/body; proxy_temp_path $run/proxy;
  fastcgi_temp_path $run/fcgi; uwsgi_temp_path $run/uwsgi; scgi_temp_path $run/scgi;
  server { listen 127.0.0.1:$port reuseport; location / { return 200 "$body"; } }
}
CONF
taskset -c 1 nginx -c "$run/nginx.conf" >"$run/nginx.log" 2>&1 & pids+=($!)
up=""
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$port/" && { up=1; break; }; sleep 0.1; done
[ -n "$up" ] || { echo "nginx does not answer on port $port" >&2; cat "$run/nginx.err" >&2 2>/dev/null; exit 1; }

url="http://127.0.0.1:$port/"
threads=""; "$bin" bench -h 2>&1 | grep -q -- '^  -t ' && threads="-t 1" # builds from before -t
out=$run/rounds
# measure name conns: runs one generator under GNU time, prints
# "name conns cpu_us/req req/s errors".
measure() {
  local name=$1 c=$2 res cpu reqs rps errs
  case $name in
    wrk)
      res=$(taskset -c 0 /usr/bin/time -f 'CPU %U %S' wrk -t1 -c"$c" -d"${secs}s" "$url" 2>&1)
      reqs=$(awk '/requests in/{print $1}' <<<"$res"); rps=$(awk '/Requests\/sec/{print $2}' <<<"$res")
      errs=$(awk '/Non-2xx/{n+=$NF} /Socket errors/{gsub(/,/,""); n+=$4+$6+$8+$10} END{print n+0}' <<<"$res") ;;
    usher|old)
      local b=$bin t=$threads
      if [ "$name" = old ]; then b=$OLD; t=""; "$b" bench -h 2>&1 | grep -q -- '^  -t ' && t="-t 1"; fi
      res=$(taskset -c 0 /usr/bin/time -f 'CPU %U %S' "$b" bench $t -c "$c" -d "${secs}s" --json "$url" 2>&1 || true)
      reqs=$(awk -F'[:,]' '/^  "requests"/{gsub(/ /,"",$2); print $2}' <<<"$res")
      rps=$(awk -F'[:,]' '/^  "rps"/{gsub(/ /,"",$2); printf "%.0f", $2}' <<<"$res")
      errs=$(awk -F'[:,]' '/^  "errors"/{gsub(/ /,"",$2); e=$2} /^    "[0-9]+"/{gsub(/[ "]/,"",$1); gsub(/ /,"",$2); if ($1 !~ /^[23]/) e+=$2} END{print e+0}' <<<"$res") ;;
  esac
  cpu=$(awk '/^CPU /{print $2+$3}' <<<"$res")
  [ -n "$reqs" ] && [ "$reqs" -gt 0 ] || { echo "$name -c $c: no requests:" >&2; echo "$res" >&2; exit 1; }
  awk -v n="$name" -v c="$c" -v cpu="$cpu" -v r="$reqs" -v rps="$rps" -v e="$errs" \
    'BEGIN{ printf "%s %s %.2f %s %s\n", n, c, cpu*1e6/r, rps, e }'
}
gens="wrk usher"; [ -n "${OLD:-}" ] && gens="wrk usher old"
for r in $(seq "$rounds"); do
  for c in $conns_list; do
    for g in $gens; do
      line=$(measure "$g" "$c")
      echo "$r $line" | tee -a "$out" >&2
    done
  done
done

median() { sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }
echo
echo "64-byte body, HTTP/1.1 keep-alive, 1 thread; $rounds rounds of ${secs}s; $(go env GOVERSION), $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}'), $(nginx -v 2>&1 | sed 's/.*: //')"
printf "%-6s %6s %12s %10s %8s\n" gen conns cpu_us/req "req/s" errors
for c in $conns_list; do
  declare -A med=()
  for g in $gens; do
    med[$g]=$(awk -v g="$g" -v c="$c" '$2==g && $3==c {print $4}' "$out" | median)
    rps=$(awk -v g="$g" -v c="$c" '$2==g && $3==c {print $5}' "$out" | median)
    errs=$(awk -v g="$g" -v c="$c" '$2==g && $3==c {n+=$6} END{print n+0}' "$out")
    printf "%-6s %6s %12s %10s %8s\n" "$g" "$c" "${med[$g]}" "$rps" "$errs"
  done
  awk -v u="${med[usher]}" -v w="${med[wrk]}" -v c="$c" 'BEGIN{ printf "-c %s: usher bench / wrk CPU per request: %.2f (bar: <= 1)\n", c, u/w }'
done
