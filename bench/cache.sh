#!/usr/bin/env bash
# CPU per request of a cache hit beside a proxied request, usher's cache
# middleware beside nginx's proxy_cache, in one run: one backend (nginx,
# answering a 1000-byte body with Cache-Control: max-age=3600, and the same
# with no-store on /nostore) on core 0 with wrk; nginx (proxy_cache and
# plain proxy_pass) and usher (bench/cache/usher.yaml: the cache middleware
# at its defaults, and no middleware) alone on core 1, as in
# ../shared/bench/peers.sh.
#
# Usage: bench/cache.sh [rounds] [seconds]   (default 3 rounds of 3 s: under a minute)
#        BODY=16384 bench/cache.sh ...         (the body's size in bytes; default 1000)
# Installs wrk and nginx-light from Debian when they are missing.
# Figure: cpu_us/req = the proxy's CPU time (utime+stime of the process and
# its children, from /proc) per request served under load (wrk,
# keep-alive), median of the rounds.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}; secs=${2:-3}; conns=${CONNS:-32}

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx-light)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

run=$(mktemp -d /tmp/usher-cache-bench.XXXXXX)
chmod 755 "$run" # nginx's workers (www-data when started as root) keep their cache there
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$run"
}
trap cleanup EXIT

go build -o bin/usher ./cmd/usher
backend=19401; ng_cache=19411; ng_plain=19412; us_cache=19421; us_plain=19422
bodybytes=${BODY:-1000}
body=$(head -c "$bodybytes" /dev/zero | tr '\0' x)
# nginx takes a string of up to 4 KiB in its config; a larger body is a file.
answer="return 200 \"$body\";"
if [ "$bodybytes" -gt 4000 ]; then
  mkdir -p "$run/www"; chmod 755 "$run/www"
  printf '%s' "$body" > "$run/www/hit"; cp "$run/www/hit" "$run/www/nostore"; chmod 644 "$run/www"/*
  answer="root $run/www; try_files \$uri /hit;"
fi
nginx_conf() { # role, http-level lines
  cat <<CONF
worker_processes 1;
daemon off;
pid $run/nginx-$1.pid;
error_log $run/nginx-$1.err warn;
worker_rlimit_nofile 20000;
events { worker_connections 4096; }
http {
  access_log off;
  default_type text/plain;
  client_body_temp_path $run/body-$1; proxy_temp_path $run/proxy-$1;
  fastcgi_temp_path $run/fcgi-$1; uwsgi_temp_path $run/uwsgi-$1; scgi_temp_path $run/scgi-$1;
  $2
}
CONF
}
nginx_conf backend "server { listen 127.0.0.1:$backend reuseport;
    location / { add_header Cache-Control \"max-age=3600\" always; $answer }
    location /nostore { add_header Cache-Control \"no-store\" always; $answer } }" > "$run/backend.conf"
nginx_conf proxy "upstream be { server 127.0.0.1:$backend; keepalive 64; }
  proxy_http_version 1.1; proxy_set_header Connection \"\";
  proxy_cache_path $run/ngcache levels=1:2 keys_zone=c:10m max_size=100m;
  server { listen 127.0.0.1:$ng_cache reuseport; location / { proxy_cache c; add_header X-Cache \$upstream_cache_status; proxy_pass http://be; } }
  server { listen 127.0.0.1:$ng_plain reuseport; location / { proxy_pass http://be; } }" > "$run/proxy.conf"

taskset -c 0 nginx -c "$run/backend.conf" >"$run/backend.log" 2>&1 & pids+=($!)
taskset -c 1 nginx -c "$run/proxy.conf" >"$run/nginx.log" 2>&1 & ngpid=$!; pids+=($!)
taskset -c 1 env CACHED_PORT=$us_cache PLAIN_PORT=$us_plain BACKEND_PORT=$backend \
  ./bin/usher run -c bench/cache/usher.yaml >"$run/usher.log" 2>&1 & uspid=$!; pids+=($!)
for p in $backend $ng_cache $ng_plain $us_cache $us_plain; do
  up=""
  for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$p/" && { up=1; break; }; sleep 0.1; done
  [ -n "$up" ] || { echo "nothing answers on port $p" >&2; tail -n 5 "$run"/*.log "$run"/*.err >&2 2>/dev/null; exit 1; }
done

# Each row must be what it says: a hit is a hit, a miss is a miss.
check() { # port, path, header, wanted (substring)
  local got
  got=$(curl -s -o /dev/null -D - "http://127.0.0.1:$1$2" | tr -d '\r' | awk -v h="$3" 'tolower($0) ~ "^"tolower(h)":" {sub(/^[^:]*: */, ""); print}')
  [[ "$got" == *"$4"* ]] || { echo "port $1 $2: $3 is '$got', want $4" >&2; exit 1; }
}
check $us_cache /hit Cache-Status fwd=uri-miss
check $us_cache /hit Cache-Status "usher; hit"
check $us_cache /nostore Cache-Status fwd=uri-miss
check $us_cache /nostore Cache-Status fwd=uri-miss
check $ng_cache /hit X-Cache MISS
check $ng_cache /hit X-Cache HIT

# The rows: name, proxy pid, port, path.
configs=(
  "usher-hit $uspid $us_cache /hit"
  "usher-miss $uspid $us_cache /nostore"
  "usher-proxied $uspid $us_plain /hit"
  "nginx-hit $ngpid $ng_cache /hit"
  "nginx-proxied $ngpid $ng_plain /hit"
)
cpu_of() { # utime+stime ticks of a process and its children
  local t=0 p task
  for p in $1 $(pgrep -P "$1" 2>/dev/null); do
    for task in /proc/$p/task/*; do read -r -a f < "$task/stat" 2>/dev/null || continue; t=$((t + f[13] + f[14])); done
  done; echo $t; }
hz=$(getconf CLK_TCK)
out=$run/rounds
for r in $(seq "$rounds"); do
  for c in "${configs[@]}"; do
    read -r name pid port path <<<"$c"
    c0=$(cpu_of "$pid")
    res=$(taskset -c 0 wrk -t1 -c"$conns" -d"${secs}s" "http://127.0.0.1:$port$path" 2>&1)
    c1=$(cpu_of "$pid")
    reqs=$(awk '/requests in/{print $1}' <<<"$res"); rps=$(awk '/Requests\/sec/{print $2}' <<<"$res")
    errs=$(awk '/Non-2xx|Socket errors/{printf "%s ", $0}' <<<"$res")
    us=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" -v n="$reqs" 'BEGIN{ printf "%.1f", (b-a)/hz*1e6/n }')
    echo "$r $name $us $rps $errs" | tee -a "$out" >&2
  done
done

median() { sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }
echo
echo "$bodybytes-byte body, HTTP/1.1 keep-alive, $conns connections; $rounds rounds of ${secs}s; $(go env GOVERSION), $(nginx -v 2>&1 | sed 's/.*: //')"
printf "%-14s %12s %10s\n" row cpu_us/req "req/s"
declare -A med
for c in "${configs[@]}"; do
  read -r name _ <<<"$c"
  med[$name]=$(awk -v n="$name" '$2==n {print $3}' "$out" | median)
  rps=$(awk -v n="$name" '$2==n {print $4}' "$out" | median)
  printf "%-14s %12s %10s\n" "$name" "${med[$name]}" "$rps"
done
awk -v h="${med[usher-hit]}" -v p="${med[usher-proxied]}" -v nh="${med[nginx-hit]}" -v np="${med[nginx-proxied]}" \
  -v m="${med[usher-miss]}" \
  'BEGIN{ printf "usher hit / usher proxied: %.2f (bar: < 0.5); usher hit / usher miss: %.2f; nginx hit / nginx proxied: %.2f; usher hit / nginx hit: %.2f\n", h/p, h/m, nh/np, h/nh }'
