#!/usr/bin/env bash
# What one replicated setData costs each server of a local 3-server ensemble, per role:
# task-clock (CPU µs), instructions (when the machine has a PMU; a VM often has none), system
# calls, context switches and, with -a, heap allocations — each counted over a run and divided
# by the writes the load generator completed.
#
#   scripts/write-cost.sh [-d SECONDS] [-s SESSIONS] [-a] [-w WORKLOAD] DIR ...
#
# DIR holds release/paddock, release/paddock-bench and release/paddock-cli (a target dir or a
# copy of one, as for scripts/bench-ab.sh). For each DIR in turn: a fresh ensemble (make
# cluster's ports and configs: take `flock /tmp/bench.lock`), an unmeasured 3 s warm-up (so every
# thread exists before perf attaches: `perf stat -p` counts the threads alive when it starts),
# then `perf stat -p PID` on each server during one paddock-bench run (SESSIONS sessions over the
# three servers, default 32, WORKLOAD default set). One line per role: the leader, and the mean
# of the two followers.
#
# Counts, and why they are steadier than ops/s on a shared machine: syscalls, context switches
# and allocations per write depend on how many writes share a wakeup (so on the load), but not on
# the CPU speed; task-clock µs per write moves with the machine's load like the rest.
#
# -a counts allocations in a second, separate run (the counting slows the servers down, so its
# ops/s and CPU are not reported): uprobes on the allocator's entry points in the paddock binary
# (mimalloc's mi_malloc_aligned, mi_zalloc_aligned and mi_realloc_aligned, which Rust's global
# allocator calls; `perf probe -x`), counted with `perf stat -e 'probe_paddock:*'`. Needs root
# and a kernel with uprobes; the probes are removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=8 sessions=32 allocs=no workload=set
while getopts "d:s:aw:" opt; do
  case $opt in
    d) duration=$OPTARG ;;
    s) sessions=$OPTARG ;;
    a) allocs=yes ;;
    w) workload=$OPTARG ;;
    *) sed -n '2,24p' "$0" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[[ $# -ge 1 ]] || { sed -n '2,24p' "$0" >&2; exit 2; }
servers=127.0.0.1:7181,127.0.0.1:7182,127.0.0.1:7183
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Events perf can count here (instructions are missing in most VMs).
events=task-clock,context-switches,raw_syscalls:sys_enter
if perf stat -e instructions -x, -- true 2>&1 | grep -q '^[0-9]'; then
  events=instructions,$events
fi
alloc_probes=(mi_malloc_aligned mi_zalloc_aligned mi_realloc_aligned)

start() { CARGO_TARGET_DIR=$1 scripts/cluster.sh down --wipe >/dev/null 2>&1 || true
          CARGO_TARGET_DIR=$1 scripts/cluster.sh up >/dev/null 2>&1; }
stop() { CARGO_TARGET_DIR=$1 scripts/cluster.sh down --wipe >/dev/null 2>&1 || true; }
mode_of() { timeout 5 "$1/release/paddock-cli" -server "127.0.0.1:718$2" srvr 2>/dev/null |
            sed -n 's/^Mode: //p'; }

# run DIR EVENTS: one measured bench run with `perf stat -e EVENTS` on every server; prints
# "ops" then, per server, "role event=count ...".
measure() {
  local d=$1 ev=$2 n pid out ops
  local -a perfs=()
  "$d/release/paddock-bench" --server "$servers" --sessions "$sessions" --duration 3 \
    --workload "$workload" --quiet >/dev/null 2>&1 || true
  for n in 1 2 3; do
    pid=$(<"data/cluster/$n/paddock.pid")
    perf stat -x, -e "$ev" -p "$pid" -o "$tmp/perf.$n" &
    perfs+=($!)
  done
  sleep 0.5
  out=$("$d/release/paddock-bench" --server "$servers" --sessions "$sessions" \
    --duration "$duration" --workload "$workload" --quiet 2>&1) || true
  kill -INT "${perfs[@]}" 2>/dev/null || true
  wait "${perfs[@]}" 2>/dev/null || true
  ops=$(sed -n 's/^throughput *\([0-9]*\) ops.*/\1/p' <<<"$out")
  rate=$(sed -n 's/^throughput.*= *\([0-9.]*\) ops\/s.*/\1/p' <<<"$out")
  echo "ops ${ops:-0} ${rate:-0}"
  for n in 1 2 3; do
    echo -n "$(mode_of "$d" "$n")"
    awk -F, '$1 ~ /^[0-9.]+$/ { printf " %s=%s", $3, $1 }' "$tmp/perf.$n"
    echo
  done
}

# report LABEL < measure-output: per role, each event divided by ops (task-clock in µs).
report() {
  awk -v label="$1" '
    /^ops / { ops = $2; rate = $3; next }
    {
      role = ($1 == "leader") ? "leader" : "follower"; n[role]++
      for (i = 2; i <= NF; i++) { split($i, kv, "="); sum[role, kv[1]] += kv[2]; names[kv[1]] = 1 }
    }
    END {
      if (ops == 0) { print label ": no result"; exit }
      printf "%s: %d writes, %s ops/s (while counted)\n", label, ops, rate
      for (r = 0; r < 2; r++) {
        role = r == 0 ? "leader" : "follower"; if (!n[role]) continue
        printf "  %-8s per write:", role
        allocs = 0
        split("instructions task-clock raw_syscalls:sys_enter context-switches", order, " ")
        for (i = 1; i <= 4; i++) {
          e = order[i]; if (!(e in names)) continue
          v = sum[role, e] / n[role] / ops
          name = e
          if (e == "task-clock") { v = v * 1000; name = "cpu_us" }          # msec -> µs
          else if (e == "raw_syscalls:sys_enter") name = "syscalls"
          else if (e == "context-switches") name = "ctx_switches"
          printf " %s=%.2f", name, v
        }
        for (e in names) if (e ~ /^probe_paddock:/) allocs += sum[role, e] / n[role] / ops
        if (allocs > 0) printf " allocations=%.1f", allocs
        printf "\n"
      }
    }'
}

for d in "$@"; do
  for b in paddock paddock-bench paddock-cli; do
    [[ -x "$d/release/$b" ]] || { echo "write-cost: $d/release/$b is missing" >&2; exit 2; }
  done
  start "$d" || { echo "write-cost: $d: the ensemble did not start" >&2; stop "$d"; continue; }
  measure "$d" "$events" | report "$d" || true
  stop "$d"
  if [[ $allocs == yes ]]; then
    perf probe -d 'probe_paddock:*' >/dev/null 2>&1 || true
    for p in "${alloc_probes[@]}"; do
      perf probe -q -x "$d/release/paddock" "$p" >/dev/null
    done
    start "$d" || { echo "write-cost: $d: the ensemble did not start" >&2; stop "$d"; continue; }
    measure "$d" 'probe_paddock:*' | report "$d (allocations; slowed by the probes)" || true
    stop "$d"
    perf probe -d 'probe_paddock:*' >/dev/null 2>&1 || true
  fi
done
