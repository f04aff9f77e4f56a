# shellcheck shell=bash
# The container chaos scenarios' shared parts (sourced by scripts/chaos.sh, not run): starting a
# compose project, finding the leader, the writers, the checker and the report.
# Expects the repository root as the working directory, `set -euo pipefail`, and
# scripts/docker-lib.sh sourced.
#
# Writers. Each writer K is one client loop on the host that issues, strictly one after another
# (the next only when the previous has returned), `paddock-cli create -s /chaos/wK/N- N` for
# N = 1, 2, ..., each through the whole server list ($WORK/servers when a scenario changes it
# under load, else SERVERS_ARG), and records "K N start_ms end_ms ok|fail
# created-path" per write in $WORK/writes. The server appends the 10-digit sequence number of the
# parent (its cversion), so the znode's name records both the writer's number N and the order in
# which the ensemble committed it: /chaos/wK/17-0000000016.
#
# Checker. After the load stops and the servers agree on Zxid and node count, it lists /chaos/wK
# on every server (inside its container, after a `sync`) and requires:
#   - every server holds exactly the same children;
#   - every acknowledged write is there under the very name the client was told (`Created ...`);
#   - nothing that was never issued: every child parses as N-SEQ with N a number this writer
#     issued, and no N appears twice (a create applied twice would);
#   - per-session order: sorted by sequence number, the acknowledged writes of each writer appear
#     in increasing N. Each write is issued only after the previous one of that writer was
#     answered, so a write acknowledged before the next was issued must have been committed
#     first; a reordering (or a commit "lost" and replayed later) breaks this. (Writes that failed
#     or timed out may or may not be present - their outcome is unknown to the client - and are
#     not ordered; if present out of order they are counted in the report.)
#
# Linearizability. Next to the writers, `paddock-lin run` (crates/bench/src/lin) runs LIN_CLIENTS
# (4) sessions through the same server list doing sync+getData, setData, versioned setData (CAS),
# create and delete on LIN_KEYS (3) znodes /lin0../lin2, every operation recorded with its call
# and answer times in $WORK/history.jsonl; when the writers stop it reads every znode through
# every server (sync+getData; each server's final state joins the history) and checks the
# history with paddock-lincheck (one order respecting real time must explain every answer: no
# stale read, no lost acknowledged write, no value never written). An anomaly FAILs the scenario
# and the report shows the operations of the znode that no order explains; so does an undecided
# check (the search budget ran out) or a server without a final read. The history is kept with
# the other work files on a failure; `paddock-lin check FILE` re-checks it.

# shellcheck disable=SC2034 # CHAOS_IMAGE, PORT_OF and NETWORK are for scripts/chaos.sh
readonly CHAOS_IMAGE=${PADDOCK_IMAGE:-paddock:local}
readonly UP_WAIT_S=${UP_WAIT_S:-60}
readonly WRITE_LIMIT_S=${WRITE_LIMIT_S:-5}
readonly WRITERS=${WRITERS:-2}
# How long a client tries one server (connect + handshake) before the next: short, so a write
# whose (random) first server is paused or cut off moves on instead of waiting out the 5 s default.
readonly CONNECT_TIMEOUT_MS=${CONNECT_TIMEOUT_MS:-1000}
readonly LIN_CLIENTS=${LIN_CLIENTS:-4}
readonly LIN_KEYS=${LIN_KEYS:-3}
# Each paddock-lin client's pause between operations (a few hundred operations a second in all:
# enough to interleave, little enough to leave the 2-core CI machine to the servers).
readonly LIN_THINK_MS=${LIN_THINK_MS:-10}
# Extra paddock-lin arguments (e.g. --reads-without-sync, to see the checker catch stale reads).
LIN_ARGS=${LIN_ARGS:-}
# The chaos runs use a short tick (ZooKeeper's 2000 ms default would make every timeout 10x longer).
export PADDOCK_TICK_TIME=${PADDOCK_TICK_TIME:-200}
export PADDOCK_SYNC_LIMIT=${PADDOCK_SYNC_LIMIT:-5}
export PADDOCK_INIT_LIMIT=${PADDOCK_INIT_LIMIT:-10}
# The leader's sync plan (DIFF / TRUNC / SNAP per learner) is a debug line of the quorum crate.
export RUST_LOG=${RUST_LOG:-info,paddock_quorum::leader::sync=debug}

say() { echo "chaos[$SCENARIO]: $*"; }
now_ms() { date +%s%3N; }

# A check failed: remember it (the scenario goes on to clean up and report, then FAILs).
FAILURES=()
fail_check() {
  say "FAIL: $*"
  FAILURES+=("$*")
}
# A step the rest depends on failed: abort the scenario (the EXIT trap of the subshell cleans up).
abort() {
  fail_check "$*"
  exit 1
}

# project_start SIZE: a fresh compose project of SIZE (3|5|reconfig) servers (only the SERVICES
# select_ensemble names are started); sets PROJECT, SERVICES, CID,
# PORT_OF, SERVERS_ARG, NETWORK, WORK, and the trap that removes everything on exit.
declare -A CID=() PORT_OF=()
project_start() {
  local size=$1 i svc
  select_ensemble "$size" "chaos${SCENARIO//-/}"
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/paddock-chaos-$SCENARIO.XXXXXX")
  : >"$WORK/writes"
  trap project_cleanup EXIT
  for i in "${!SERVICES[@]}"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$(( 7181 + i ))") 2>/dev/null; then
      abort "host port $(( 7181 + i )) is already in use (a \`make up\` ensemble? \`make down\` first)"
    fi
  done
  dc down -v --remove-orphans >/dev/null 2>&1 || true
  local t0 out
  t0=$(now_ms)
  out=$(dc up -d "${SERVICES[@]}" 2>&1) || abort "compose up failed: $(tail -3 <<<"$out")"
  wait_for_ensemble "$UP_WAIT_S" >"$WORK/modes0" 2>&1 || abort "no leader within ${UP_WAIT_S}s: $(tr '\n' ' ' <"$WORK/modes0")"
  STARTUP_MS=$(( $(now_ms) - t0 ))
  SERVERS_ARG=""
  for i in "${!SERVICES[@]}"; do
    svc=${SERVICES[$i]}
    CID[$svc]=$(cid_of "$svc")
    # shellcheck disable=SC2034
    PORT_OF[$svc]=$(( 7181 + i ))
    SERVERS_ARG+="127.0.0.1:$(( 7181 + i )),"
  done
  SERVERS_ARG=${SERVERS_ARG%,}
  # shellcheck disable=SC2034
  NETWORK=$(docker inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}' "${CID[${SERVICES[0]}]}" | awk '{print $1}')
  say "$size servers up in ${STARTUP_MS} ms (tickTime ${PADDOCK_TICK_TIME} ms, syncLimit ${PADDOCK_SYNC_LIMIT}): $(tr '\n' ' ' <"$WORK/modes0")"
  cli_ok create /chaos >/dev/null || abort "cannot create /chaos"
  for (( k = 1; k <= WRITERS; k++ )); do
    cli_ok create "/chaos/w$k" >/dev/null || abort "cannot create /chaos/w$k"
  done
}

project_cleanup() {
  touch "$WORK/stop" 2>/dev/null || true
  local p
  for p in "${WRITER_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  # A scenario that aborted before stop_writers: its paddock-lin has no verdict to give.
  if [[ -n "${LIN_PID:-}" ]]; then
    kill "$LIN_PID" 2>/dev/null || true
    wait "$LIN_PID" 2>/dev/null || true
  fi
  if (( ${#FAILURES[@]} > 0 )); then
    say "server logs (last 20 lines each, without the per-write session lines):"
    local svc
    for svc in "${!CID[@]}"; do
      docker logs "${CID[$svc]}" 2>&1 | grep -v 'session created\|session closed\|new session' | tail -20 | sed "s/^/  $svc: /" || true
    done
    say "failed checks:"
    printf '  %s\n' "${FAILURES[@]}"
    say "work files kept in $WORK"
  else
    rm -rf "$WORK"
  fi
  # A container left paused by an aborted scenario would not stop.
  local c
  for c in "${CID[@]}"; do docker unpause "$c" >/dev/null 2>&1 || true; done
  dc down -v --remove-orphans >/dev/null 2>&1 || true
}

# One one-shot paddock-cli call from the host through every server, bounded.
cli_ok() {
  timeout "$WRITE_LIMIT_S" "$CLI" -server "$SERVERS_ARG" -connect-timeout "$CONNECT_TIMEOUT_MS" "$@"
}

# Mode of service $1 (leader, follower, observer, looking, or empty: no answer / not serving).
svc_mode() { mode_of "${CID[$1]}"; }
# grpc.health.v1 of service $1, asked inside its container: SERVING, NOT_SERVING or empty.
svc_health() {
  timeout "$CALL_LIMIT_S" docker exec "${CID[$1]}" paddock-cli -server 127.0.0.1:7181 health 2>/dev/null || true
}

# The service that reports Mode: leader among $@ (default: all); empty if none.
find_leader() {
  local svc svcs
  if (( $# )); then svcs=("$@"); else svcs=("${SERVICES[@]}"); fi
  for svc in "${svcs[@]}"; do
    if [[ "$(svc_mode "$svc")" == leader ]]; then
      echo "$svc"
      return 0
    fi
  done
}

# wait_until LIMIT_S CMD...: runs CMD every 0.2 s until it succeeds; prints the ms it took.
wait_until() {
  local limit_ms=$(( $1 * 1000 )) t0
  shift
  t0=$(now_ms)
  while :; do
    if "$@"; then
      echo $(( $(now_ms) - t0 ))
      return 0
    fi
    (( $(now_ms) - t0 < limit_ms )) || return 1
    sleep 0.2
  done
}
is_mode() { [[ "$(svc_mode "$1")" == "$2" ]]; }
is_voting() { local m; m=$(svc_mode "$1"); [[ $m == leader || $m == follower || $m == observer ]]; }
not_leading() { [[ "$(svc_mode "$1")" != leader ]]; }
not_serving() { [[ "$(svc_health "$1")" != SERVING ]]; }
# True when every service answers, exactly one is the leader and the others follow or observe.
ensemble_whole() {
  local svc m leaders=0
  for svc in "${SERVICES[@]}"; do
    m=$(svc_mode "$svc")
    case "$m" in
      leader) leaders=$(( leaders + 1 )) ;;
      follower | observer) ;;
      *) return 1 ;;
    esac
  done
  (( leaders == 1 ))
}

# sync_plan LEADER_SVC SINCE LEARNER_SVC: the last sync plan (debug line of
# paddock_quorum::leader::sync) that LEADER_SVC's log shows for LEARNER_SVC since SINCE (an RFC 3339
# time), as "mode Diff peer_last=0x.. leader_last=0x.." (Diff, Trunc(..), TruncDiff(..) or Snap).
sync_plan() {
  local id=${3#paddock} line
  line=$(docker logs --since "$2" "${CID[$1]}" 2>&1 | grep 'sync plan' | grep -E "learner=($id|ServerId\($id\))[ ,]" | tail -1 || true)
  if [[ -z "$line" ]]; then
    echo "(no sync plan line for $3 in $1's log; RUST_LOG=$RUST_LOG)"
    return 0
  fi
  sed -E 's/.*peer_last=([^ ]*) leader_last=([^ ]*) plan=SyncPlan \{ mode: ([A-Za-z]+(\([^)]*\))?).*/mode \3 (learner at \1, leader at \2)/' <<<"$line"
}

# --- writers -------------------------------------------------------------------------------------
WRITER_PIDS=()
writer() {
  local k=$1 n=0 start end out path outcome servers
  while [[ ! -e "$WORK/stop" ]]; do
    n=$(( n + 1 ))
    servers=$SERVERS_ARG
    [[ -s "$WORK/servers" ]] && servers=$(<"$WORK/servers")
    start=$(now_ms)
    if out=$(timeout "$WRITE_LIMIT_S" "$CLI" -server "$servers" -connect-timeout "$CONNECT_TIMEOUT_MS" create -s "/chaos/w$k/$n-" "$n" 2>>"$WORK/errors.w$k"); then
      outcome=ok
      path=$(sed -n 's/^Created //p' <<<"$out")
    else
      [[ $? == 124 ]] && echo "timed out after ${WRITE_LIMIT_S}s" >>"$WORK/errors.w$k"
      outcome=fail
      path=-
    fi
    end=$(now_ms)
    echo "$k $n $start $end $outcome ${path:--}" >>"$WORK/writes"
  done
}
start_writers() {
  local k
  rm -f "$WORK/stop"
  for (( k = 1; k <= WRITERS; k++ )); do
    writer "$k" &
    WRITER_PIDS+=($!)
  done
  start_lin
}
stop_writers() {
  touch "$WORK/stop"
  local p
  for p in "${WRITER_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  WRITER_PIDS=()
  finish_lin
}

# --- linearizability workload (paddock-lin) ------------------------------------------------------
LIN_PID=""
LIN_RC=""
start_lin() {
  # shellcheck disable=SC2086 # LIN_ARGS is a list of words
  "$LIN" run --servers "$SERVERS_ARG" --servers-file "$WORK/servers" --stop-file "$WORK/stop" \
    --secs 900 --clients "$LIN_CLIENTS" --keys "$LIN_KEYS" --think-ms "$LIN_THINK_MS" \
    --connect-timeout-ms "$CONNECT_TIMEOUT_MS" --seed "${LIN_SEED:-1}" \
    --history "$WORK/history.jsonl" $LIN_ARGS >"$WORK/lin.out" 2>&1 &
  LIN_PID=$!
}
# Waits for paddock-lin (the stop file is there: its clients stop, it reads every server and
# checks the history); an anomaly, an undecided check or a failed run is a failed check.
finish_lin() {
  [[ -n "$LIN_PID" ]] || return 0
  LIN_RC=0
  wait "$LIN_PID" || LIN_RC=$?
  LIN_PID=""
  case "$LIN_RC" in
    0) ;;
    1) fail_check "linearizability: $(grep -m1 'ANOMALY' "$WORK/lin.out" | sed 's/^paddock-lin: //')" ;;
    *) fail_check "linearizability: no verdict (paddock-lin exit $LIN_RC): $(tail -1 "$WORK/lin.out")" ;;
  esac
}
acked_count() { awk '$5 == "ok"' "$WORK/writes" | wc -l; }
# Waits (up to $2 s) for a write started after time $1 (ms) to be acknowledged; prints the ms from
# $1 to that acknowledgement.
first_ack_after() {
  local t=$1 limit_ms=$(( $2 * 1000 )) end
  while :; do
    end=$(awk -v t="$t" '$3 > t && $5 == "ok" { print $4; exit }' "$WORK/writes")
    if [[ -n "$end" ]]; then
      echo $(( end - t ))
      return 0
    fi
    (( $(now_ms) - t < limit_ms )) || return 1
    sleep 0.2
  done
}

# --- checker -------------------------------------------------------------------------------------
# check_agreement [SERVICES...]: every given server (default all) reports the same Zxid and node
# count within AGREE_BOUND_S, then the checks described at the top on their /chaos/wK children.
check_agreement() {
  local svcs svc k deadline first
  if (( $# )); then svcs=("$@"); else svcs=("${SERVICES[@]}"); fi
  local agree_bound_s=${AGREE_BOUND_S:-30}
  deadline=$(( $(now_ms) + agree_bound_s * 1000 ))
  while :; do
    : >"$WORK/state"
    for svc in "${svcs[@]}"; do
      srvr_of "${CID[$svc]}" | awk -v s="$svc" '/^Zxid:/ { z = $2 } /^Node count:/ { c = $3 } END { print s, z, c }' >>"$WORK/state"
    done
    if [[ $(awk '{ print $2, $3 }' "$WORK/state" | sort -u | wc -l) == 1 ]] && ! grep -q ' $' "$WORK/state"; then
      break
    fi
    if (( $(now_ms) >= deadline )); then
      fail_check "the servers do not agree on Zxid and node count: $(tr '\n' ';' <"$WORK/state")"
      return 0
    fi
    sleep 0.5
  done
  AGREEMENT=$(awk '{ printf "%s %s %s; ", $1, $2, $3 }' "$WORK/state")
  for svc in "${svcs[@]}"; do
    for (( k = 1; k <= WRITERS; k++ )); do
      printf 'sync /chaos/w%d\nls /chaos/w%d\n' "$k" "$k" |
        timeout 30 docker exec -i "${CID[$svc]}" paddock-cli -server 127.0.0.1:7181 >"$WORK/ls.$svc.$k" 2>&1 ||
        fail_check "cannot list /chaos/w$k on $svc: $(tail -2 "$WORK/ls.$svc.$k")"
      grep -o '[0-9]*-[0-9]\{10\}' "$WORK/ls.$svc.$k" | sort >"$WORK/children.$svc.$k" || true
    done
  done
  first=${svcs[0]}
  OUT_OF_ORDER_UNACKED=0
  PRESENT=0
  for (( k = 1; k <= WRITERS; k++ )); do
    for svc in "${svcs[@]:1}"; do
      cmp -s "$WORK/children.$first.$k" "$WORK/children.$svc.$k" ||
        fail_check "$svc and $first hold different children of /chaos/w$k ($(wc -l <"$WORK/children.$svc.$k") vs $(wc -l <"$WORK/children.$first.$k"))"
    done
    PRESENT=$(( PRESENT + $(wc -l <"$WORK/children.$first.$k") ))
    # Acknowledged names, exactly as the client was told.
    awk -v k="$k" '$1 == k && $5 == "ok" { sub(".*/", "", $6); print $6 }' "$WORK/writes" | sort >"$WORK/acked.$k"
    local lost phantom dup bad
    lost=$(comm -23 "$WORK/acked.$k" "$WORK/children.$first.$k" | wc -l)
    (( lost == 0 )) || fail_check "writer $k: $lost acknowledged writes missing, e.g. $(comm -23 "$WORK/acked.$k" "$WORK/children.$first.$k" | head -3 | tr '\n' ' ')"
    # Never issued: N not in this writer's records.
    awk -v k="$k" '$1 == k { print $2 }' "$WORK/writes" | sort >"$WORK/issued.$k"
    phantom=$(cut -d- -f1 "$WORK/children.$first.$k" | sed 's/^0*//' | sort | comm -13 "$WORK/issued.$k" - | wc -l)
    (( phantom == 0 )) || fail_check "writer $k: $phantom children were never issued, e.g. $(cut -d- -f1 "$WORK/children.$first.$k" | sort | comm -13 "$WORK/issued.$k" - | head -3 | tr '\n' ' ')"
    dup=$(cut -d- -f1 "$WORK/children.$first.$k" | sort | uniq -d | wc -l)
    (( dup == 0 )) || fail_check "writer $k: $dup writes present twice, e.g. $(cut -d- -f1 "$WORK/children.$first.$k" | sort | uniq -d | head -3 | tr '\n' ' ')"
    # Order: children by sequence number; the acknowledged ones must have increasing N.
    sort -t- -k2,2n "$WORK/children.$first.$k" >"$WORK/bycommit.$k"
    bad=$(awk -F- 'NR == FNR { acked[$0] = 1; next }
      ($0 in acked) { if ($1 + 0 <= last) bad++; last = $1 + 0 }
      END { print bad + 0 }' "$WORK/acked.$k" "$WORK/bycommit.$k")
    (( bad == 0 )) || fail_check "writer $k: per-session order broken: $bad acknowledged writes committed before an earlier acknowledged one"
    OUT_OF_ORDER_UNACKED=$(( OUT_OF_ORDER_UNACKED + $(awk -F- '{ if ($1 + 0 <= last) bad++; if ($1 + 0 > last) last = $1 + 0 } END { print bad + 0 }' "$WORK/bycommit.$k") ))
  done
}

# --- report --------------------------------------------------------------------------------------
# report LINE...: the common figures, the scenario's own lines, then PASS or FAIL (the return code).
report() {
  local issued acked failed gap errors
  issued=$(wc -l <"$WORK/writes")
  acked=$(acked_count)
  failed=$(( issued - acked ))
  gap=$(awk '$5 == "ok" { if (last && $4 - last > max) max = $4 - last; last = $4 } END { print max + 0 }' "$WORK/writes")
  errors=$(cat "$WORK"/errors.w* 2>/dev/null | sed -E 's/0x[0-9a-f]+|[0-9]+/N/g' | sort | uniq -c | sort -rn | head -4 | sed 's/^ */      /' || true)
  say "report:"
  echo "    startup (up -d to one leader): ${STARTUP_MS:-?} ms"
  local l
  for l in "$@"; do echo "    $l"; done
  echo "    writes ($WRITERS writers): $issued issued, $acked acknowledged, $failed failed or timed out; ${PRESENT:-?} present on every server; longest gap between acknowledgements ${gap} ms"
  (( ${OUT_OF_ORDER_UNACKED:-0} == 0 )) || echo "    unacknowledged writes present out of writer order: $OUT_OF_ORDER_UNACKED"
  [[ -n "$errors" ]] && { echo "    client errors (count, text):"; echo "$errors"; }
  echo "    agreement (server Zxid nodes): ${AGREEMENT:-none}"
  if [[ -s "$WORK/lin.out" ]]; then
    echo "    linearizability (paddock-lin, $LIN_CLIENTS sessions on $LIN_KEYS znodes):"
    # The counts and the verdict; for an anomaly also the operations around it.
    grep -v '^paddock-lin: checked in' "$WORK/lin.out" | sed 's/^paddock-lin: //; s/^/      /' | head -60
  fi
  if (( ${#FAILURES[@]} > 0 )); then
    say "FAIL (${#FAILURES[@]} checks failed)"
    return 1
  fi
  say "PASS"
}
