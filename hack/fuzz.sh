#!/usr/bin/env bash
# Runs every fuzz target in the module for FUZZTIME each (default 10s), so
# `make test` keeps exploring the parsers instead of only replaying seeds,
# and fails a target whose throughput falls below a floor. A target that
# "passes" at a few executions per second explores nothing: that happened
# when seeds of many kilobytes sent the fuzzer into minimising inputs for a
# minute each (minimisation is not counted as executions), and a decoder
# that re-scanned every value made each input slow.
#
# Floors, in executions per second over the fuzzing phase (after the
# baseline run of the cached corpus): FUZZ_MIN_RATE (default 1000) for
# targets that parse in memory — pkg/snipeit's decoders (list pages, the
# activity report, webhook messages) make 3,000 to 18,000 on this 2-core
# machine with other work running —, and
# FUZZ_MIN_RATE_IO (default 20) for pkg/api's, where every input goes
# through PostgreSQL or a file: 50 to 3,500 here under load, thousands when
# the machine is quiet; 20 still catches a target that stalls (the decoder
# targets made 0 to 17 before). 0 turns a check off.
#
# FUZZMINIMIZETIME bounds the minimisation of each new interesting input
# (default 500 executions; go test's default is a minute per input).
set -euo pipefail
fuzztime=${FUZZTIME:-10s}
minimize=${FUZZMINIMIZETIME:-500x}
min_rate() {
  case "$1" in
  ./pkg/api) echo "${FUZZ_MIN_RATE_IO:-20}" ;;
  *) echo "${FUZZ_MIN_RATE:-1000}" ;;
  esac
}
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
failed=0
targets=$(grep -rl --include='*_test.go' '^func Fuzz' pkg cmd 2>/dev/null | sort | while read -r file; do
  grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | sed "s|^func |./$(dirname "$file") |"
done)
while read -r pkg target; do
  [ -n "$pkg" ] || continue
  echo "fuzz: $pkg $target ($fuzztime)"
  go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" -fuzzminimizetime="$minimize" "$pkg" 2>&1 | tee "$log"
  # "fuzz: elapsed: 2s, gathering baseline coverage: 57/57 completed, now
  # fuzzing with 2 workers", then "fuzz: elapsed: 12s, execs: 29064 (612/sec), …".
  start=$(sed -n 's/^fuzz: elapsed: \([0-9]*\)s, gathering baseline coverage: .*now fuzzing.*/\1/p' "$log" | tail -n 1)
  read -r elapsed execs < <(sed -n 's/^fuzz: elapsed: \([0-9]*\)s, execs: \([0-9]*\) .*/\1 \2/p' "$log" | tail -n 1) || true
  if [ -z "${execs:-}" ] || [ -z "$start" ]; then
    echo "fuzz: $target: no progress line in the output" >&2
    failed=1
    continue
  fi
  if [ $((elapsed - start)) -lt 2 ]; then
    # The baseline run of a large cached corpus took (nearly) all of
    # FUZZTIME: too short a phase to judge the rate.
    echo "fuzz: $target: the baseline took ${start}s of ${elapsed}s; rate not checked (raise FUZZTIME)"
    continue
  fi
  rate=$((execs / (elapsed - start)))
  floor=$(min_rate "$pkg")
  echo "fuzz: $target: $execs executions in $((elapsed - start))s of fuzzing (baseline ${start}s), $rate/s (floor $floor/s)"
  if [ "$rate" -lt "$floor" ]; then
    echo "fuzz: $target runs at $rate executions/s, below the floor of $floor/s: it explores almost nothing" >&2
    failed=1
  fi
done <<<"$targets"
exit "$failed"
