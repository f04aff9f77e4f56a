#!/usr/bin/env bash
# Container-sweep benchmark (issue 15: a sweep over a big tree must not stall writes). Starts a
# standalone release server (temp data dir), creates 1,000,000 znodes, measures 32-session
# setData for 15 s (baseline), makes 100,000 emptied containers (the client example
# `emptied_containers`), then measures setData for 30 s while the leader's sweeps delete them
# (znode.container.checkIntervalMs=20000, maxPerMinute as given). Not a test: prints the figures
# and how many containers the sweeps deleted inside the window.
#
#   scripts/sweep-bench.sh [maxPerMinute]      (`make bench-sweep`; default 10000, ZooKeeper's)
#
# Port: SWEEP_PORT (default 27300).
set -euo pipefail
cd "$(dirname "$0")/.."
readonly MPM=${1:-10000}
readonly PORT=${SWEEP_PORT:-27300}
readonly BIN=target/release
[[ -x $BIN/paddock && -x $BIN/paddock-bench && -x $BIN/examples/emptied_containers ]] ||
  cargo build --release -p paddock-node -p paddock-bench -p paddock-client --example emptied_containers
dir=$(mktemp -d)
pid=""
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
cat > "$dir/zoo.cfg" <<CFG
dataDir=$dir/data
grpcPort=$PORT
grpcAddress=127.0.0.1
clientPort=0
admin.enableServer=false
znode.container.checkIntervalMs=20000
znode.container.maxPerMinute=$MPM
CFG
NO_COLOR=1 "$BIN/paddock" --config "$dir/zoo.cfg" > "$dir/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "serving" "$dir/server.log" 2>/dev/null && break; sleep 0.1; done
bench() { "$BIN/paddock-bench" --server "127.0.0.1:$PORT" "$@" 2>/dev/null | grep -E "^(throughput|latency)"; }
echo "== 1,000,000 znodes"
bench --workload create --ops 1000000 --pipeline 8 --keep
echo "== baseline: setData, 32 sessions, 15 s"
bench --workload set --sessions 32 --duration 15
"$BIN/examples/emptied_containers" "127.0.0.1:$PORT" 100000
echo "== setData, 32 sessions, 30 s, while sweeps run (maxPerMinute=$MPM, checkIntervalMs=20000)"
bench --workload set --sessions 32 --duration 30
echo "containers deleted by the sweeps so far: $(grep -c 'deleting an empty container' "$dir/server.log" || true)"
