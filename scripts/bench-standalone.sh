#!/usr/bin/env bash
# Standalone A/B: one Paddock server beside one Apache ZooKeeper 3.8 server (issue 17's standalone
# targets), the same closed loops on each, in alternating rounds, each round on fresh data.
#
#   scripts/bench-standalone.sh [-r ROUNDS] [-d SECONDS] [-u WARMUP_S] [-w "set get create"]
#                               [-s "32 1"] DIR|zookeeper ...
#   (more flags for every load run, both benches: BENCH_ARGS="--value-size 10240" ...)
#
# DIR holds release/paddock and release/paddock-bench (a target dir or a copy, as for
# scripts/bench-ab.sh); `zookeeper` runs Debian's ZooKeeper 3.8 (ZooKeeperServerMain, fsync on,
# 512 MiB heap) driven by target/release/paddock-bench-zk (`cargo build --release -p
# paddock-bench --features zookeeper`; ZK_BENCH=path for another). Every workload runs once per
# session count in -s, after an unmeasured -u second run of it (a JVM compiles its hot paths
# then: use -u when ZooKeeper is in the comparison). One line per run: round, build, workload,
# sessions, ops/s, p50 and p99 ms, and the server's CPU per operation (user + system from /proc).
# Data in data/standalone-bench (wiped each round). Ports: 7181 (Paddock gRPC), 2181 (ZooKeeper,
# and Paddock's ZooKeeper-protocol port), 7001/8081 (Paddock metrics/admin): the ports of `make
# cluster` and scripts/bench-ab.sh, so hold the same lock (`flock /tmp/bench.lock ...`).
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=3 duration=8 warmup=0 workloads="set get create" sessions="32 1"
while getopts "r:d:u:w:s:" opt; do
  case $opt in
    r) rounds=$OPTARG ;;
    d) duration=$OPTARG ;;
    u) warmup=$OPTARG ;;
    w) workloads=$OPTARG ;;
    s) sessions=$OPTARG ;;
    *) sed -n '2,18p' "$0" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
builds=("$@")
[[ ${#builds[@]} -ge 1 ]] || { sed -n '2,18p' "$0" >&2; exit 2; }
zk_bench=${ZK_BENCH:-target/release/paddock-bench-zk}
read -r -a extra <<<"${BENCH_ARGS:-}"
readonly JAR=/usr/share/java/zookeeper.jar ROOT=data/standalone-bench UP_WAIT_S=60
for b in "${builds[@]}"; do
  if [[ $b == zookeeper ]]; then
    [[ -x $zk_bench ]] || { echo "bench-standalone: $zk_bench is missing" >&2; exit 2; }
    [[ -f $JAR ]] || { echo "bench-standalone: $JAR is missing (apt-get install zookeeper)" >&2; exit 2; }
  else
    for x in paddock paddock-bench; do
      [[ -x $b/release/$x ]] || { echo "bench-standalone: $b/release/$x is missing" >&2; exit 2; }
    done
  fi
done

pid=""
stop() {
  if [[ -n $pid ]]; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=""
  fi
  rm -rf "$ROOT"
}
trap stop EXIT

# The server's Mode line from the srvr four-letter word on 2181 (both systems answer it).
mode() {
  { exec 3<>/dev/tcp/127.0.0.1/2181 && printf 'srvr' >&3 && timeout 2 cat <&3; } 2>/dev/null \
    | sed -n 's/^Mode: //p' || true
}

start() {
  stop
  mkdir -p "$ROOT/data"
  if [[ $1 == zookeeper ]]; then
    cat >"$ROOT/zoo.cfg" <<EOF
tickTime=2000
dataDir=$PWD/$ROOT/data
clientPort=2181
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=*
EOF
    java -Xms512m -Xmx512m -Dzookeeper.root.logger=WARN,CONSOLE -cp "/etc/zookeeper/conf:$JAR" \
      org.apache.zookeeper.server.ZooKeeperServerMain "$ROOT/zoo.cfg" >"$ROOT/server.log" 2>&1 &
  else
    cat >"$ROOT/zoo.cfg" <<EOF
tickTime=2000
dataDir=$PWD/$ROOT/data
grpcPort=7181
grpcAddress=127.0.0.1
clientPort=2181
maxClientCnxns=0
metricsProvider.httpPort=7001
admin.serverAddress=127.0.0.1
admin.serverPort=8081
4lw.commands.whitelist=*
EOF
    NO_COLOR=1 "$1/release/paddock" --config "$ROOT/zoo.cfg" >"$ROOT/server.log" 2>&1 &
  fi
  pid=$!
  local deadline=$((SECONDS + UP_WAIT_S))
  until [[ $(mode) == standalone ]]; do
    kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)) || {
      echo "bench-standalone: $1 did not start; its log:" >&2
      tail -n 20 "$ROOT/server.log" >&2
      return 1
    }
    sleep 0.3
  done
}

bench() {  # build sessions workload seconds
  local b=$1
  if [[ $b == zookeeper ]]; then
    "$zk_bench" --server 127.0.0.1:2181 --sessions "$2" --workload "$3" --duration "$4" --quiet \
      ${extra[@]+"${extra[@]}"} 2>&1
  else
    "$b/release/paddock-bench" --server 127.0.0.1:7181 --sessions "$2" --workload "$3" \
      --duration "$4" --quiet ${extra[@]+"${extra[@]}"} 2>&1
  fi
}

hz=$(getconf CLK_TCK)
for ((r = 1; r <= rounds; r++)); do
  for b in "${builds[@]}"; do
    start "$b" || continue
    for s in $sessions; do
      for w in $workloads; do
        [[ $warmup != 0 ]] && { bench "$b" "$s" "$w" "$warmup" >/dev/null || true; }
        before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
        out=$(bench "$b" "$s" "$w" "$duration") || true
        after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
        ops=$(sed -n 's/^throughput *\([0-9]*\) ops.*/\1/p' <<<"$out")
        rate=$(sed -n 's/^throughput.*= *\([0-9.]*\) ops\/s.*/\1/p' <<<"$out")
        p50=$(sed -n 's/^latency ms *p50 *\([0-9.]*\).*/\1/p' <<<"$out")
        p99=$(sed -n 's/^latency ms .* p99  *\([0-9.]*\).*/\1/p' <<<"$out")
        if [[ -z $ops || $ops -eq 0 ]]; then
          echo "round $r $b $w x$s: no result"; tail -n 3 <<<"$out"; continue
        fi
        echo "round $r  $b  $w  x$s  ${rate} ops/s  p50 ${p50} ms  p99 ${p99} ms  server $(( (after - before) * 1000000 / hz / ops )) us/op"
      done
    done
    stop
  done
done
