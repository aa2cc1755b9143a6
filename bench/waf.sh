#!/bin/sh
# The WAF's figures (bench/RESULTS.md, ## WAF): the block rate on the attack
# corpus and the false-positive rate on the benign one
# (test/testdata/waf/*.jsonl), CPU time and p99 per request with the WAF at
# paranoia 1 and 2 beside the same request without it, and the memory of one
# compiled Core Rule Set. In process, one goroutine; each benchmark runs for
# about BENCHTIME (default 2s), well under 10 s.
set -e
cd "$(dirname "$0")/.."
go test -count=1 -run 'TestCorpora$' -v ./internal/middleware/waf | grep 'paranoia [12]: blocked'
go test -run '^$' -bench 'BenchmarkWAF$' -benchtime "${BENCHTIME:-2s}" -benchmem ./internal/middleware/waf
# Alone in its process: the first compile is measured from nothing.
go test -run '^$' -bench 'BenchmarkRuleSetMemory' -benchtime 2x ./internal/middleware/waf | grep Benchmark
