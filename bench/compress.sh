#!/usr/bin/env bash
# CPU per MB served and compression ratio of usher's compress middleware
# beside nginx's gzip, in one run, on a text corpus (HTML, JSON, JS) taken
# from Go's own tree: both proxies in front of the same static backend
# (nginx serving the corpus), each proxy alone on core 1, wrk and the
# backend on core 0, as in ../shared/bench/peers.sh.
#
# Usage: bench/compress.sh [rounds] [seconds]   (default 3 rounds of 5 s: 3 minutes)
# Needs: apt-get install -y wrk nginx-light curl
# Figures: ratio = corpus bytes / body bytes sent (curl, every file once);
# cpu_us/MB = the proxy's CPU time (utime+stime from /proc) per MB of
# corpus served under load (wrk, the files in turn, keep-alive); "of it,
# compressing" = that minus the same proxy's figure without compression.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}; secs=${2:-5}; conns=${CONNS:-16}
dir=bench/compress; corpus=$dir/corpus
run=$(mktemp -d /tmp/usher-compress-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$run"; }
trap cleanup EXIT

# The corpus: HTML, JS and JSON files of Go's distribution, 1 MB in all.
goroot=$(go env GOROOT)
mkdir -p "$corpus"
files=(
  doc/go_spec.html doc/go_mem.html doc/asm.html
  lib/wasm/wasm_exec.js
  src/cmd/vendor/github.com/google/pprof/internal/driver/html/common.js
  src/cmd/vendor/github.com/google/pprof/internal/driver/html/stacks.js
  src/internal/trace/traceviewer/static/webcomponents.min.js
  src/cmd/vendor/golang.org/x/arch/arm64/arm64asm/inst.json
  src/cmd/vendor/golang.org/x/telemetry/package-lock.json
  src/crypto/hpke/testdata/rfc9180.json
  src/crypto/tls/bogo_config.json
)
paths=(); total=0
for f in "${files[@]}"; do
  name=$(basename "$f")
  cp "$goroot/$f" "$corpus/$name"
  paths+=("/$name"); total=$((total + $(stat -c %s "$corpus/$name")))
done
nfiles=${#paths[@]}
lua=$run/paths.lua
{ printf 'local paths = {'; printf '"%s",' "${paths[@]}"; printf '}\n'
  echo 'local i = 0'
  echo 'request = function() i = i % #paths + 1; return wrk.format("GET", paths[i]) end'; } > "$lua"

go build -o bin/usher ./cmd/usher
backend=19301; ng_off=19311; ng_1=19312; ng_6=19313; us_plain=19321; us_gz=19322; us_fast=19323
nginx_conf() { # role, server blocks
  cat <<CONF
worker_processes 1;
daemon off;
pid $run/nginx-$1.pid;
error_log $run/nginx-$1.err warn;
worker_rlimit_nofile 20000;
events { worker_connections 4096; }
http {
  access_log off;
  include /etc/nginx/mime.types;
  client_body_temp_path $run/body-$1; proxy_temp_path $run/proxy-$1;
  fastcgi_temp_path $run/fcgi-$1; uwsgi_temp_path $run/uwsgi-$1; scgi_temp_path $run/scgi-$1;
  $2
}
CONF
}
nginx_conf backend "server { listen 127.0.0.1:$backend reuseport; root $PWD/$corpus; }" > "$run/backend.conf"
proxy="upstream corpus { server 127.0.0.1:$backend; keepalive 64; }
  proxy_http_version 1.1; proxy_set_header Connection \"\";
  gzip_types text/html application/javascript application/json; gzip_min_length 1024;
  gzip_proxied any; gzip_vary on;
  server { listen 127.0.0.1:$ng_off reuseport; location / { proxy_pass http://corpus; } }
  server { listen 127.0.0.1:$ng_1 reuseport; gzip on; location / { proxy_pass http://corpus; } }
  server { listen 127.0.0.1:$ng_6 reuseport; gzip on; gzip_comp_level 6; location / { proxy_pass http://corpus; } }"
nginx_conf proxy "$proxy" > "$run/proxy.conf"

taskset -c 0 nginx -c "$run/backend.conf" >"$run/backend.log" 2>&1 & pids+=($!)
taskset -c 1 nginx -c "$run/proxy.conf" >"$run/nginx.log" 2>&1 & ngpid=$!; pids+=($!)
taskset -c 1 env PLAIN_PORT=$us_plain GZ_PORT=$us_gz FAST_PORT=$us_fast BACKEND_PORT=$backend \
  ./bin/usher run -c $dir/usher.yaml >"$run/usher.log" 2>&1 & uspid=$!; pids+=($!)
for p in $backend $ng_off $ng_1 $ng_6 $us_plain $us_gz $us_fast; do
  for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$p${paths[0]}" && break; sleep 0.1; done
done

# The configurations: name, proxy pid, port, Accept-Encoding sent, level.
configs=(
  "nginx identity $ngpid $ng_off gzip -"
  "nginx gzip $ngpid $ng_1 gzip 1"
  "nginx gzip $ngpid $ng_6 gzip 6"
  "usher identity $uspid $us_plain gzip,br,zstd -"
  "usher gzip $uspid $us_fast gzip 1"
  "usher gzip $uspid $us_gz gzip 5"
  "usher br $uspid $us_gz br 3"
  "usher zstd $uspid $us_fast zstd 1"
  "usher zstd $uspid $us_gz zstd 3"
)

ratio_of() { # port, accept-encoding, wanted encoding: corpus bytes / body bytes
  local sent=0 n ce
  for p in "${paths[@]}"; do
    read -r n ce < <(curl -s -o /dev/null -H "Accept-Encoding: $2" -w '%{size_download} %header{content-encoding}\n' "http://127.0.0.1:$1$p")
    [ "$3" = identity ] && ce=identity
    [ "${ce:-identity}" = "$3" ] || { echo "port $1 $p: Content-Encoding '${ce:-}', want $3" >&2; exit 1; }
    sent=$((sent + n))
  done
  awk -v a="$total" -v b="$sent" 'BEGIN{printf "%.2f", a/b}'
}
cpu_of() { # utime+stime ticks of a process and its children
  local t=0 p task
  for p in $1 $(pgrep -P "$1" 2>/dev/null); do
    for task in /proc/$p/task/*; do read -r -a f < "$task/stat" 2>/dev/null || continue; t=$((t + f[13] + f[14])); done
  done; echo $t; }
hz=$(getconf CLK_TCK)
declare -A ratio
for c in "${configs[@]}"; do
  read -r name enc pid port ae lvl <<<"$c"
  ratio["$name $enc $lvl"]=$(ratio_of "$port" "$ae" "$enc")
done
out=$run/rounds
for r in $(seq "$rounds"); do
  for c in "${configs[@]}"; do
    read -r name enc pid port ae lvl <<<"$c"
    c0=$(cpu_of "$pid")
    res=$(taskset -c 0 wrk -t1 -c"$conns" -d"${secs}s" -s "$lua" -H "Accept-Encoding: $ae" "http://127.0.0.1:$port/" 2>&1)
    c1=$(cpu_of "$pid")
    reqs=$(awk '/requests in/{print $1}' <<<"$res"); rps=$(awk '/Requests\/sec/{print $2}' <<<"$res")
    errs=$(awk '/Non-2xx|Socket errors/{printf "%s ", $0}' <<<"$res")
    us=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" -v n="$reqs" -v t="$total" -v f="$nfiles" \
      'BEGIN{ mb = n * t / f / 1e6; printf "%.0f", (b-a)/hz*1e6/mb }')
    echo "$r $name $enc $lvl $us $rps $errs" | tee -a "$out" >&2
  done
done

median() { sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }
echo
echo "corpus: $nfiles files, $total bytes (HTML, JS, JSON from Go $(go env GOVERSION)); $rounds rounds of ${secs}s, $conns connections"
printf "%-6s %-9s %5s %6s %10s %16s %10s\n" proxy encoding level ratio cpu_us/MB "of it, compressing" "req/s"
declare -A base
for c in "${configs[@]}"; do
  read -r name enc pid port ae lvl <<<"$c"
  us=$(awk -v n="$name" -v e="$enc" -v l="$lvl" '$2==n && $3==e && $4==l {print $5}' "$out" | median)
  rps=$(awk -v n="$name" -v e="$enc" -v l="$lvl" '$2==n && $3==e && $4==l {print $6}' "$out" | median)
  [ "$enc" = identity ] && base[$name]=$us
  extra=$(awk -v a="$us" -v b="${base[$name]}" 'BEGIN{printf "%.0f", a-b}')
  printf "%-6s %-9s %5s %6s %10s %16s %10s\n" "$name" "$enc" "$lvl" "${ratio["$name $enc $lvl"]}" "$us" "$extra" "$rps"
done
