#!/usr/bin/env bash
# Runs every fuzz target in the module for FUZZTIME each (default 10s), so
# `make test` keeps exploring the parsers instead of only replaying seeds,
# and fails a target whose throughput falls below FUZZ_MIN_RATE executions
# per second (default 1000; 0 turns the check off). A target that "passes"
# at a few executions per second explores nothing: that happened when
# seeds of many kilobytes sent the fuzzer into minimising inputs for a
# minute each, and a decoder that re-scanned every value made each input
# slow. The rate is all executions over the whole elapsed time, baseline
# coverage included, so it is the worst case; every target here runs at
# 2,000 or more per second on a 2-core machine under load.
#
# FUZZMINIMIZETIME bounds the minimisation of each new interesting input
# (default 500 executions; go test's default is a minute per input).
set -euo pipefail
fuzztime=${FUZZTIME:-10s}
minimize=${FUZZMINIMIZETIME:-500x}
min_rate=${FUZZ_MIN_RATE:-1000}
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
failed=0
targets=$(grep -rl --include='*_test.go' '^func Fuzz' pkg cmd 2>/dev/null | sort | while read -r file; do
  for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | sed 's/^func //'); do
    echo "./$(dirname "$file") $target"
  done
done)
while read -r pkg target; do
  [ -n "$pkg" ] || continue
  echo "fuzz: $pkg $target ($fuzztime)"
  go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" -fuzzminimizetime="$minimize" "$pkg" 2>&1 | tee "$log"
  # The last progress line: "fuzz: elapsed: 12s, execs: 29064 (612/sec), …".
  read -r elapsed execs < <(sed -n 's/^fuzz: elapsed: \([0-9]*\)s, execs: \([0-9]*\) .*/\1 \2/p' "$log" | tail -n 1) || true
  if [ -z "${execs:-}" ] || [ "${elapsed:-0}" -eq 0 ]; then
    echo "fuzz: $target: no progress line in the output" >&2
    failed=1
    continue
  fi
  rate=$((execs / elapsed))
  echo "fuzz: $target: $execs executions in ${elapsed}s, $rate/s (floor $min_rate/s)"
  if [ "$rate" -lt "$min_rate" ]; then
    echo "fuzz: $target runs at $rate executions/s, below the floor of $min_rate/s: it explores almost nothing" >&2
    failed=1
  fi
done <<<"$targets"
exit "$failed"
