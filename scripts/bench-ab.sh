#!/usr/bin/env bash
# A/B comparison of builds on a local 3-server ensemble, for machines whose speed drifts from run
# to run (figures in docs/architecture.md §9 were taken this way).
#
#   scripts/bench-ab.sh [-r ROUNDS] [-d SECONDS] [-u WARMUP_S] [-s SESSIONS] [-w "set get ..."] DIR_A DIR_B ...
#   (more paddock-bench flags for every run: BENCH_ARGS="--pipeline 8" scripts/bench-ab.sh ...)
#
# Each DIR holds release/paddock, release/paddock-bench and release/paddock-cli (a target dir, or
# a copy of one: `mkdir -p /tmp/a/release && cp target/release/paddock* /tmp/a/release/`). The
# word `zookeeper` instead of a DIR runs the same load against Apache ZooKeeper 3.8
# (scripts/zk-cluster.sh, same tick/limits, fsync on) with target/release/paddock-bench-zk
# (`cargo build --release -p paddock-bench --features zookeeper`; ZK_BENCH=path to use another).
# `wire:DIR` runs DIR's Paddock ensemble but loads it over ZooKeeper's protocol (clientPort
# 2181-2183) with that same paddock-bench-zk: the fairest comparison with ZooKeeper, and of the two
# Paddock gateways with each other.
# For every round and every DIR in turn: a fresh ensemble (data wiped), one run per workload
# (-s sessions over the three servers, default 32: over 180 need PADDOCK_SET=maxClientCnxns=0 for
# Paddock, whose per-address limit is ZooKeeper's default 60; after -u, an unmeasured run of each
# workload first, which a JVM needs to compile its hot paths: use it when comparing with
# ZooKeeper), the ensemble stopped. One line per run: build, workload,
# ops/s, p50 and p99 ms, and the servers' CPU time per operation (user + system of the three
# processes from /proc, in µs), which drifts less than ops/s when the machine is shared, then the
# load generator's own CPU time per operation (its setup and cleanup included), which bounds
# the rate on a machine it shares with the servers.
# Alternating the builds spreads the drift over all of them.
# Uses the ports of `make cluster` (7181-7183, 2888-2890, 3888-3890) and of
# scripts/zk-cluster.sh (2181-2183, 2981-2983, 3981-3983): stop those ensembles first.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=3 duration=8 warmup=0 sessions=32 workloads="set get"
while getopts "r:d:u:s:w:" opt; do
  case $opt in
    r) rounds=$OPTARG ;;
    d) duration=$OPTARG ;;
    u) warmup=$OPTARG ;;
    s) sessions=$OPTARG ;;
    w) workloads=$OPTARG ;;
    *) sed -n '2,22p' "$0" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
dirs=("$@")
read -r -a extra <<<"${BENCH_ARGS:-}"
zk_bench=${ZK_BENCH:-target/release/paddock-bench-zk}
[[ ${#dirs[@]} -ge 1 ]] || { sed -n '2,22p' "$0" >&2; exit 2; }
for d in "${dirs[@]}"; do
  if [[ $d == zookeeper || $d == wire:* ]]; then
    [[ -x "$zk_bench" ]] || {
      echo "bench-ab: $zk_bench is missing (cargo build --release -p paddock-bench --features zookeeper)" >&2
      exit 2
    }
    [[ $d == zookeeper ]] && continue
  fi
  for b in paddock paddock-bench paddock-cli; do
    [[ -x "${d#wire:}/release/$b" ]] || { echo "bench-ab: $d/release/$b is missing" >&2; exit 2; }
  done
done

cpu_ticks() {  # user + system clock ticks of the given pids, summed
  local total=0 p
  for p in "$@"; do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo "$total"
}

# start / stop / pids / servers / bench of build $1. What `up` printed (on a failure the servers'
# log tails, which `stop` then wipes with the data) is kept in $start_log for the error message.
start_log=$(mktemp "${TMPDIR:-/tmp}/bench-ab-start.XXXXXX")
trap 'rm -f "$start_log"' EXIT
start() {
  if [[ $1 == zookeeper ]]; then
    scripts/zk-cluster.sh down >/dev/null 2>&1 || true
    scripts/zk-cluster.sh up >"$start_log" 2>&1
  else
    CARGO_TARGET_DIR=${1#wire:} scripts/cluster.sh down --wipe >/dev/null 2>&1 || true
    CARGO_TARGET_DIR=${1#wire:} scripts/cluster.sh up >"$start_log" 2>&1
  fi
}
stop() {
  if [[ $1 == zookeeper ]]; then
    scripts/zk-cluster.sh down >/dev/null 2>&1 || true
  else
    CARGO_TARGET_DIR=${1#wire:} scripts/cluster.sh down --wipe >/dev/null 2>&1 || true
  fi
}
pids_of() {
  if [[ $1 == zookeeper ]]; then cat data/zk/*/pid; else cat data/cluster/*/paddock.pid; fi | tr '\n' ' '
}
servers_of() {
  if [[ $1 == zookeeper || $1 == wire:* ]]; then
    echo 127.0.0.1:2181,127.0.0.1:2182,127.0.0.1:2183
  else
    echo 127.0.0.1:7181,127.0.0.1:7182,127.0.0.1:7183
  fi
}
bench_of() {
  if [[ $1 == zookeeper || $1 == wire:* ]]; then echo "$zk_bench"; else echo "$1/release/paddock-bench"; fi
}

hz=$(getconf CLK_TCK)
for ((r = 1; r <= rounds; r++)); do
  for d in "${dirs[@]}"; do
    if ! start "$d"; then
      echo "$d: the ensemble did not start; what starting it printed:" >&2
      sed 's/^/  /' "$start_log" >&2
      stop "$d"
      continue
    fi
    read -r -a pids <<<"$(pids_of "$d")"
    if [[ $warmup != 0 ]]; then
      for w in $workloads; do
        "$(bench_of "$d")" --server "$(servers_of "$d")" --sessions "$sessions" --duration "$warmup" \
          --workload "$w" --quiet ${extra[@]+"${extra[@]}"} >/dev/null 2>&1 || true
      done
    fi
    for w in $workloads; do
      before=$(cpu_ticks "${pids[@]}")
      # The subshell's reaped children's user + system ticks (fields 16-17 of its stat, read by
      # the subshell itself once the bench has exited) are the load generator's CPU.
      out=$( (
        "$(bench_of "$d")" --server "$(servers_of "$d")" --sessions "$sessions" --duration "$duration" \
          --workload "$w" --quiet ${extra[@]+"${extra[@]}"} 2>&1 || true
        read -r -a st <"/proc/$BASHPID/stat"
        echo "bench-ticks $((st[15] + st[16]))"
      ) )
      after=$(cpu_ticks "${pids[@]}")
      bench_ticks=$(sed -n 's/^bench-ticks \([0-9]*\)$/\1/p' <<<"$out")
      ops=$(sed -n 's/^throughput *\([0-9]*\) ops.*/\1/p' <<<"$out")
      rate=$(sed -n 's/^throughput.*= *\([0-9.]*\) ops\/s.*/\1/p' <<<"$out")
      p50=$(sed -n 's/^latency ms *p50 *\([0-9.]*\).*/\1/p' <<<"$out")
      p99=$(sed -n 's/^latency ms .* p99  *\([0-9.]*\).*/\1/p' <<<"$out")
      if [[ -z "$ops" || "$ops" -eq 0 ]]; then
        echo "round $r $d $w: no result"; echo "$out" | tail -3; continue
      fi
      us=$(( (after - before) * 1000000 / hz / ops ))
      bench_us=$(( ${bench_ticks:-0} * 1000000 / hz / ops ))
      echo "round $r  $d  $w  ${rate} ops/s  p50 ${p50} ms  p99 ${p99} ms  servers ${us} us/op  bench ${bench_us} us/op"
    done
    stop "$d"
  done
done
