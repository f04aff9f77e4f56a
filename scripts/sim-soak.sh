#!/usr/bin/env bash
# The whole-server simulator (crates/node/tests/sim.rs) over many seeds, in release, in
# parallel: JOBS processes, each running its own range of seeds for the 3- and the 5-server
# ensembles, then one summary: seeds, failures, simulated hours, faults injected, seeds/s.
#
#   scripts/sim-soak.sh [SEEDS] [JOBS] [FIRST_SEED]
#
# SEEDS per ensemble size (default 100000), JOBS processes (default: the number of CPUs),
# seeds from FIRST_SEED (default 1000000, clear of the seeds CI runs). A failing seed's report
# (with its replay command) is in the log named at the end.
set -euo pipefail
seeds=${1:-100000}
jobs=${2:-$(nproc)}
first=${3:-1000000}
cd "$(dirname "$0")/.."
bin=$(cargo test --release -p paddock-node --test sim --no-run --message-format=json 2>/dev/null \
  | grep '"kind":\["test"\]' | grep '"name":"sim"' \
  | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
[ -x "$bin" ] || { echo "sim-soak: could not build the simulator"; exit 1; }
logs=$(mktemp -d /tmp/sim-soak.XXXXXX)
per=$(( (seeds + jobs - 1) / jobs ))
started=$(date +%s.%N)
pids=()
for j in $(seq 0 $((jobs - 1))); do
  start=$((first + j * per))
  count=$(( per < seeds - j * per ? per : seeds - j * per ))
  [ "$count" -gt 0 ] || break
  PADDOCK_SIM_SEED_START=$start PADDOCK_SIM_SEEDS=$count \
    "$bin" --nocapture --test-threads 1 --exact three_servers_under_random_faults five_servers_under_random_faults \
    >"$logs/job$j.log" 2>&1 &
  pids+=($!)
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
ended=$(date +%s.%N)
cat "$logs"/job*.log | awk -v wall="$(echo "$ended - $started" | bc)" '
  /^SIM-SUMMARY/ {
    for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] += kv[2] }
  }
  END {
    printf "sim-soak: %d seeds (3 and 5 servers), %d failed; %.1f simulated hours, %d faults injected; %.0f s wall, %.1f seeds/s\n",
      v["seeds"], v["failed"], v["sim_ms"] / 3600000, v["faults"], wall, v["seeds"] / wall
  }'
grep -h "replay:" "$logs"/job*.log || true
echo "sim-soak: logs in $logs"
exit $status
