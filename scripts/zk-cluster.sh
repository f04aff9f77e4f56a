#!/usr/bin/env bash
# A local 3-server Apache ZooKeeper ensemble on 127.0.0.1, set up like `make cluster` (tickTime
# 2000, initLimit 10, syncLimit 5, fsync on, separate data dirs), to compare with Paddock on the
# same machine (`make bench-zk`).
#
#   scripts/zk-cluster.sh up      start zk.1..3 and wait until one leads (installs nothing:
#                                 needs Debian's `zookeeper` package and java, see below)
#   scripts/zk-cluster.sh status  print each server's mode
#   scripts/zk-cluster.sh down    stop them and delete their data (data/zk)
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

die() {
  echo "zk-cluster: $*" >&2
  exit 1
}

mode_of() {  # "leader", "follower" or "" when server N does not answer `srvr`
  local out
  out=$( { exec 3<>"/dev/tcp/127.0.0.1/218$1" && printf 'srvr' >&3 && timeout 2 cat <&3; } 2>/dev/null) || true
  sed -n 's/^Mode: //p' <<<"$out"
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
    nohup java -Xms512m -Xmx512m -Dzookeeper.root.logger=INFO,CONSOLE \
      -Dzookeeper.console.threshold=WARN -cp "/etc/zookeeper/conf:$JAR" \
      org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/zoo.cfg" >"$dir/zk.log" 2>&1 &
    echo "$!" >"$dir/pid"
    echo "zk-cluster: started zk.$n (pid $!, client port 218$n, log $dir/zk.log)"
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
  local n pid
  for n in "${IDS[@]}"; do
    [[ -f "$ROOT/$n/pid" ]] || continue
    pid=$(<"$ROOT/$n/pid")
    if kill -0 "$pid" 2>/dev/null && ps -o args= -p "$pid" | grep -qF "$ROOT/$n/zoo.cfg"; then
      kill "$pid"
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$ROOT"
  echo "zk-cluster: down, data removed"
}

case "${1:-}" in
  up) up ;;
  status) status ;;
  down) down ;;
  *) sed -n '2,12p' "$0" >&2; exit 2 ;;
esac
