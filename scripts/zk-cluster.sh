#!/usr/bin/env bash
# A local 3-server Apache ZooKeeper ensemble on 127.0.0.1, set up like `make cluster` (tickTime
# 2000, initLimit 10, syncLimit 5, fsync on, separate data dirs), to compare with Paddock on the
# same machine (`make bench-zk`).
#
#   scripts/zk-cluster.sh up      start zk.1..3 and wait until one leads (installs nothing:
#                                 needs Debian's `zookeeper` package and java, see below)
#   scripts/zk-cluster.sh status  print each server's mode
#   scripts/zk-cluster.sh down    stop them and delete their data (data/zk)
#   scripts/zk-cluster.sh stop [N...]   stop zk.N (default: all), keeping its data
#   scripts/zk-cluster.sh start [N...]  start zk.N again (default: all) from its data, without
#                                 waiting (scripts/bench-report.py restarts and catches up this way)
#
# ZK_HEAP sets the JVM heap (-Xms/-Xmx, default 512m; a million znodes need ~2g).
#
# Ports: clients 2181-2183 (the ports of `make cluster`'s ZooKeeper protocol too: run one ensemble at a
# time), quorum 2981-2983, election 3981-3983.
# Needs /usr/share/java/zookeeper.jar: `apt-get install zookeeper` (Debian 12: ZooKeeper 3.8).
set -euo pipefail
cd "$(dirname "$0")/.."

readonly IDS=(1 2 3)
readonly ROOT="data/zk"
readonly JAR="/usr/share/java/zookeeper.jar"
readonly UP_WAIT_S=60
readonly HEAP=${ZK_HEAP:-512m}

die() {
  echo "zk-cluster: $*" >&2
  exit 1
}

mode_of() {  # "leader", "follower" or "" when server N does not answer `srvr`
  local out
  out=$( { exec 3<>"/dev/tcp/127.0.0.1/218$1" && printf 'srvr' >&3 && timeout 2 cat <&3; } 2>/dev/null) || true
  sed -n 's/^Mode: //p' <<<"$out"
}

# Starts zk.N from its zoo.cfg (written by `up`).
launch() {
  local n=$1 dir="$ROOT/$1"
  nohup java -Xms"$HEAP" -Xmx"$HEAP" -Dzookeeper.root.logger=INFO,CONSOLE \
    -Dzookeeper.console.threshold=WARN -cp "/etc/zookeeper/conf:$JAR" \
    org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/zoo.cfg" >>"$dir/zk.log" 2>&1 &
  echo "$!" >"$dir/pid"
  echo "zk-cluster: started zk.$n (pid $!, client port 218$n, heap $HEAP, log $dir/zk.log)"
}

# The pid of zk.N if it runs (and is this ensemble's zk.N).
live_pid() {
  local n=$1 pid
  [[ -f "$ROOT/$n/pid" ]] || return 1
  pid=$(<"$ROOT/$n/pid")
  kill -0 "$pid" 2>/dev/null && ps -o args= -p "$pid" | grep -qF "$ROOT/$n/zoo.cfg" || return 1
  echo "$pid"
}

stop() {
  local n pid
  for n in "${@:-${IDS[@]}}"; do
    pid=$(live_pid "$n") || continue
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$ROOT/$n/pid"
    echo "zk-cluster: stopped zk.$n (data kept)"
  done
}

start() {
  local n
  for n in "${@:-${IDS[@]}}"; do
    [[ -f "$ROOT/$n/zoo.cfg" ]] || die "zk.$n has no $ROOT/$n/zoo.cfg: run '$0 up' first"
    if live_pid "$n" >/dev/null; then
      echo "zk-cluster: zk.$n is running already"
      continue
    fi
    launch "$n"
  done
}

up() {
  [[ -f "$JAR" ]] || die "$JAR is missing: apt-get install zookeeper"
  command -v java >/dev/null || die "java is missing"
  for n in "${IDS[@]}"; do
    local dir="$ROOT/$n"
    if [[ -f "$dir/pid" ]] && kill -0 "$(<"$dir/pid")" 2>/dev/null; then
      die "zk.$n is already running (pid $(<"$dir/pid")); run '$0 down' first"
    fi
    mkdir -p "$dir/data"
    echo "$n" >"$dir/data/myid"
    cat >"$dir/zoo.cfg" <<EOF
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$PWD/$dir/data
clientPort=218$n
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=*
server.1=127.0.0.1:2981:3981
server.2=127.0.0.1:2982:3982
server.3=127.0.0.1:2983:3983
EOF
    launch "$n"
  done
  local deadline=$((SECONDS + UP_WAIT_S)) leaders answered m
  while :; do
    leaders=0 answered=0
    for n in "${IDS[@]}"; do
      m=$(mode_of "$n")
      [[ -n "$m" ]] && answered=$((answered + 1))
      [[ "$m" == leader ]] && leaders=$((leaders + 1))
    done
    if [[ $leaders -eq 1 && $answered -eq ${#IDS[@]} ]]; then
      status
      return
    fi
    ((SECONDS < deadline)) || die "no leader after ${UP_WAIT_S}s (see $ROOT/*/zk.log)"
    sleep 0.5
  done
}

status() {
  for n in "${IDS[@]}"; do
    echo "zk.$n 127.0.0.1:218$n: $(mode_of "$n")"
  done
}

down() {
  stop >/dev/null
  rm -rf "$ROOT"
  echo "zk-cluster: down, data removed"
}

case "${1:-}" in
  up) up ;;
  status) status ;;
  down) down ;;
  stop) shift; stop "$@" ;;
  start) shift; start "$@" ;;
  *) sed -n '2,18p' "$0" >&2; exit 2 ;;
esac
