#!/usr/bin/env bash
# Failover benchmark: starts a local 3-server ensemble (release binaries, temp data dirs), kills
# the leader with SIGKILL and measures the time until the first acknowledged write through a
# survivor (one-shot `paddock-cli create` in a loop, so each attempt includes a process start and
# a new session). Not a test: prints the figure.
#
#   scripts/failover-bench.sh [tickTime_ms] [rounds]      (`make bench-failover`)
#
# Ports: FAILOVER_BASE_PORT (default 17380) + 1..3 for gRPC, +11..13 quorum, +21..23 election.
set -euo pipefail
cd "$(dirname "$0")/.."
readonly TICK=${1:-2000}
readonly ROUNDS=${2:-3}
readonly BASE=${FAILOVER_BASE_PORT:-17380}
readonly BIN=target/release
[[ -x $BIN/paddock && -x $BIN/paddock-cli ]] || cargo build --release -p paddock-node -p paddock-cli

run_once() {
  local dir pids=() leader="" via="" i n t0 t1
  dir=$(mktemp -d)
  for i in 1 2 3; do
    mkdir -p "$dir/$i"
    {
      echo "tickTime=$TICK"; echo "initLimit=10"; echo "syncLimit=5"
      echo "dataDir=$dir/$i"; echo "grpcPort=$((BASE + i))"; echo "grpcAddress=127.0.0.1"
      echo "clientPort=$((BASE + 30 + i))"
      echo "admin.enableServer=false"
      for n in 1 2 3; do echo "server.$n=127.0.0.1:$((BASE + 10 + n)):$((BASE + 20 + n))"; done
    } > "$dir/zoo$i.cfg"
    NO_COLOR=1 "$BIN/paddock" --config "$dir/zoo$i.cfg" --myid "$i" > "$dir/$i.log" 2>&1 &
    pids[i]=$!
    disown "${pids[i]}"  # no "Killed" job notices: SIGKILL is the point here
  done
  for (( n = 0; n < 150; n++ )); do
    [[ -z $leader ]] || break
    for i in 1 2 3; do
      if "$BIN/paddock-cli" -server "127.0.0.1:$((BASE + i))" srvr 2>/dev/null | grep -q "Mode: leader"; then
        leader=$i
      fi
    done
    [[ -n $leader ]] || sleep 0.2
  done
  [[ -n $leader ]] || { echo "no leader elected; logs in $dir" >&2; kill -9 "${pids[@]}"; exit 1; }
  for i in 1 2 3; do [[ $i != "$leader" ]] && via=$i; done
  "$BIN/paddock-cli" -server "127.0.0.1:$((BASE + via))" create /warm x > /dev/null
  kill -9 "${pids[leader]}"
  t0=$(date +%s%N)
  for (( n = 1; n <= 3000; n++ )); do
    if "$BIN/paddock-cli" -server "127.0.0.1:$((BASE + via))" create "/after-$n" x 2>/dev/null | grep -q Created; then
      break
    fi
  done
  t1=$(date +%s%N)
  echo "tickTime=$TICK: killed leader server.$leader, first acknowledged write through server.$via after $(( (t1 - t0) / 1000000 )) ms"
  kill -9 "${pids[@]}" 2>/dev/null || true
  sleep 0.2
  rm -rf "$dir"
}

for (( r = 1; r <= ROUNDS; r++ )); do run_once; done
