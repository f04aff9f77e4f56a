#!/usr/bin/env bash
# A local 3-server Paddock ensemble on 127.0.0.1, for trying the replicated mode by hand.
#
#   scripts/cluster.sh up [--build]   start server.1..3 (deploy/cluster/zoo{1,2,3}.cfg), those not
#                                     running already, and wait until all serve with one leader
#   scripts/cluster.sh status         print each server's srvr block
#   scripts/cluster.sh kill N         kill -9 server.N (try a failover; `up` restarts it)
#   scripts/cluster.sh down [--wipe]  stop them (SIGTERM, then SIGKILL after 10 s); --wipe deletes their data
#
# (`make cluster` / `make cluster-down`.) Runs from the repository root whatever the current
# directory. Builds the release binaries first if they are missing (--build: always rebuild).
# Each server N keeps everything in data/cluster/N: its data, myid, paddock.log and paddock.pid.
# Clients: paddock-cli -server 127.0.0.1:7181,127.0.0.1:7182,127.0.0.1:7183
# Ports: gRPC 7181-7183, quorum 2888-2890, election 3888-3890, metrics 7001-7003, HTTP admin API
# 8081-8083 (on 127.0.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."

readonly IDS=(1 2 3)
readonly UP_WAIT_S=30
readonly DOWN_WAIT_S=10
readonly CALL_LIMIT_S=5
readonly BIN_DIR="${CARGO_TARGET_DIR:-target}/release"
readonly PADDOCK="$BIN_DIR/paddock"
readonly CLI="$BIN_DIR/paddock-cli"
readonly DATA_ROOT="data/cluster"

usage() {
  echo "usage: $0 {up [--build] | status | kill N | down [--wipe]}" >&2
  exit 2
}

die() {
  echo "cluster: $*" >&2
  exit 1
}

cfg_of() { echo "deploy/cluster/zoo$1.cfg"; }
dir_of() { echo "$DATA_ROOT/$1"; }
pidfile_of() { echo "$DATA_ROOT/$1/paddock.pid"; }
log_of() { echo "$DATA_ROOT/$1/paddock.log"; }
grpc_of() { echo "127.0.0.1:718$1"; }

# The pid in server N's pid file if that process is alive and is this cluster's server N
# (so a stale pid file whose pid was reused by another program is never signalled).
live_pid() {
  local n=$1 pidfile pid
  pidfile=$(pidfile_of "$n")
  [[ -f "$pidfile" ]] || return 1
  pid=$(<"$pidfile")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  ps -o args= -p "$pid" 2>/dev/null | grep -qF -- "$(cfg_of "$n")" || return 1
  echo "$pid"
}

# Server N's srvr block (empty if it does not answer).
srvr() {
  timeout "$CALL_LIMIT_S" "$CLI" -server "$(grpc_of "$1")" srvr 2>/dev/null || true
}

mode_of() {
  srvr "$1" | sed -n 's/^Mode: //p'
}

log_tails() {
  local n
  for n in "${IDS[@]}"; do
    echo "--- server.$n: $(log_of "$n") (last 20 lines) ---" >&2
    tail -n 20 "$(log_of "$n")" >&2 2>/dev/null || echo "(no log)" >&2
  done
}

build_if_needed() {
  local force=$1
  if [[ "$force" == yes || ! -x "$PADDOCK" || ! -x "$CLI" ]]; then
    echo "cluster: building release binaries"
    cargo build --release -p paddock-node -p paddock-cli
  fi
}

# SIGTERM every live server, wait up to DOWN_WAIT_S, then SIGKILL what is left; remove pid files.
stop_all() {
  local n pid pids=() deadline
  for n in "${IDS[@]}"; do
    if pid=$(live_pid "$n"); then
      echo "cluster: stopping server.$n (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
  done
  deadline=$((SECONDS + DOWN_WAIT_S))
  for pid in "${pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "cluster: pid $pid still running after ${DOWN_WAIT_S}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  for n in "${IDS[@]}"; do
    rm -f "$(pidfile_of "$n")"
  done
}

up() {
  local force_build=no n pid deadline leaders answered dead
  case "${1:-}" in
    "") ;;
    --build) force_build=yes ;;
    *) usage ;;
  esac
  build_if_needed "$force_build"

  # The three servers share this host's cores: one async worker thread per server per third of
  # the cores (at least one) unless PADDOCK_WORKER_THREADS says otherwise. A worker thread per
  # core in every server only adds cross-thread wake-ups (docs/architecture.md §9).
  local workers=${PADDOCK_WORKER_THREADS:-$(( $(nproc) / ${#IDS[@]} > 0 ? $(nproc) / ${#IDS[@]} : 1 ))}
  # And each client port served by a thread of its own (zoo.cfg servingThreads) unless
  # PADDOCK_SERVING_THREADS says otherwise: with servers sharing cores this halved getData's p99
  # (docs/architecture.md §9, "Serving threads").
  local serving=${PADDOCK_SERVING_THREADS:-1}

  for n in "${IDS[@]}"; do
    if pid=$(live_pid "$n"); then
      echo "cluster: server.$n is running already (pid $pid)"
      continue
    fi
    mkdir -p "$(dir_of "$n")"
    echo "$n" >"$(dir_of "$n")/myid"
    NO_COLOR=1 PADDOCK_WORKER_THREADS=$workers nohup "$PADDOCK" --config "$(cfg_of "$n")" \
      --set "servingThreads=$serving" >>"$(log_of "$n")" 2>&1 &
    echo "$!" >"$(pidfile_of "$n")"
    echo "cluster: started server.$n (pid $!, gRPC $(grpc_of "$n"), $workers worker thread(s), $serving serving thread(s) per client port, log $(log_of "$n"))"
  done

  echo "cluster: waiting up to ${UP_WAIT_S}s for a leader"
  deadline=$((SECONDS + UP_WAIT_S))
  while :; do
    leaders=0 answered=0 dead=""
    for n in "${IDS[@]}"; do
      live_pid "$n" >/dev/null || dead+=" server.$n"
      case "$(mode_of "$n")" in
        leader) leaders=$((leaders + 1)) answered=$((answered + 1)) ;;
        "") ;;
        *) answered=$((answered + 1)) ;;
      esac
    done
    if [[ -n "$dead" ]]; then
      log_tails
      stop_all
      die "exited during startup:$dead (logs above)"
    fi
    if ((answered == ${#IDS[@]} && leaders == 1)); then
      break
    fi
    if ((SECONDS >= deadline)); then
      log_tails
      stop_all
      die "no leader within ${UP_WAIT_S}s ($answered of ${#IDS[@]} serving, $leaders leader(s)); logs above"
    fi
    sleep 0.5
  done
  for n in "${IDS[@]}"; do
    echo "server.$n $(grpc_of "$n"): $(mode_of "$n")"
  done
  echo "cluster: up. Try: $CLI -server $(grpc_of 1),$(grpc_of 2),$(grpc_of 3)"
}

status() {
  local n pid out
  for n in "${IDS[@]}"; do
    if pid=$(live_pid "$n"); then
      echo "== server.$n $(grpc_of "$n") (pid $pid)"
      out=$(srvr "$n")
      echo "${out:-(no answer)}"
    else
      echo "== server.$n $(grpc_of "$n"): not running"
    fi
  done
}

kill_one() {
  local n=${1:-} pid
  [[ " ${IDS[*]} " == *" $n "* ]] || usage
  pid=$(live_pid "$n") || die "server.$n is not running"
  kill -KILL "$pid"
  rm -f "$(pidfile_of "$n")"
  echo "cluster: killed server.$n (pid $pid, SIGKILL); '$0 up' restarts it"
}

down() {
  case "${1:-}" in
    "") stop_all ;;
    --wipe)
      stop_all
      rm -rf "$DATA_ROOT"
      echo "cluster: removed $DATA_ROOT"
      ;;
    *) usage ;;
  esac
  echo "cluster: down"
}

[[ $# -ge 1 ]] || usage
cmd=$1
shift
case "$cmd" in
  up) up "$@" ;;
  status) status ;;
  kill) kill_one "$@" ;;
  down) down "$@" ;;
  *) usage ;;
esac
