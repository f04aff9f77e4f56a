#!/usr/bin/env bash
# A/B comparison of builds on a local 3-server ensemble, for machines whose speed drifts from run
# to run (figures in docs/architecture.md §9 were taken this way).
#
#   scripts/bench-ab.sh [-r ROUNDS] [-d SECONDS] [-w "set get ..."] DIR_A DIR_B ...
#   (more paddock-bench flags for every run: BENCH_ARGS="--pipeline 8" scripts/bench-ab.sh ...)
#
# Each DIR holds release/paddock, release/paddock-bench and release/paddock-cli (a target dir, or
# a copy of one: `mkdir -p /tmp/a/release && cp target/release/paddock* /tmp/a/release/`). For
# every round and every DIR in turn: a fresh ensemble (scripts/cluster.sh up, data wiped), one
# paddock-bench run per workload (32 sessions over the three servers), the ensemble stopped. One
# line per run: build, workload, ops/s, p50 ms, and the servers' CPU time per operation (user +
# system of the three processes from /proc, in µs), which drifts less than ops/s when the machine
# is shared. Alternating the builds spreads the drift over all of them.
# Uses the ports of `make cluster` (7181-7183, 2888-2890, 3888-3890): stop that ensemble first.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=3 duration=8 workloads="set get"
while getopts "r:d:w:" opt; do
  case $opt in
    r) rounds=$OPTARG ;;
    d) duration=$OPTARG ;;
    w) workloads=$OPTARG ;;
    *) sed -n '2,17p' "$0" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
dirs=("$@")
read -r -a extra <<<"${BENCH_ARGS:-}"
[[ ${#dirs[@]} -ge 1 ]] || { sed -n '2,17p' "$0" >&2; exit 2; }
for d in "${dirs[@]}"; do
  for b in paddock paddock-bench paddock-cli; do
    [[ -x "$d/release/$b" ]] || { echo "bench-ab: $d/release/$b is missing" >&2; exit 2; }
  done
done

cpu_ticks() {  # user + system clock ticks of the given pids, summed
  local total=0 p
  for p in "$@"; do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo "$total"
}

hz=$(getconf CLK_TCK)
servers=127.0.0.1:7181,127.0.0.1:7182,127.0.0.1:7183
for ((r = 1; r <= rounds; r++)); do
  for d in "${dirs[@]}"; do
    CARGO_TARGET_DIR=$d scripts/cluster.sh down --wipe >/dev/null 2>&1 || true
    if ! CARGO_TARGET_DIR=$d scripts/cluster.sh up >/dev/null 2>&1; then
      echo "$d: the ensemble did not start (see data/cluster/*/paddock.log)" >&2
      continue
    fi
    read -r -a pids <<<"$(cat data/cluster/*/paddock.pid | tr '\n' ' ')"
    for w in $workloads; do
      before=$(cpu_ticks "${pids[@]}")
      out=$("$d/release/paddock-bench" --server "$servers" --sessions 32 --duration "$duration" \
        --workload "$w" --quiet ${extra[@]+"${extra[@]}"} 2>&1) || true
      after=$(cpu_ticks "${pids[@]}")
      ops=$(sed -n 's/^throughput *\([0-9]*\) ops.*/\1/p' <<<"$out")
      rate=$(sed -n 's/^throughput.*= *\([0-9.]*\) ops\/s.*/\1/p' <<<"$out")
      p50=$(sed -n 's/^latency ms *p50 *\([0-9.]*\).*/\1/p' <<<"$out")
      if [[ -z "$ops" || "$ops" -eq 0 ]]; then
        echo "round $r $d $w: no result"; echo "$out" | tail -3; continue
      fi
      us=$(( (after - before) * 1000000 / hz / ops ))
      echo "round $r  $d  $w  ${rate} ops/s  p50 ${p50} ms  servers ${us} us/op"
    done
    CARGO_TARGET_DIR=$d scripts/cluster.sh down --wipe >/dev/null 2>&1 || true
  done
done
