#!/usr/bin/env bash
# Container chaos tests against the compose ensembles (`make chaos`).
#
#   scripts/chaos.sh [--no-image] [SCENARIO...]      default: every scenario, in this order
#
# Scenarios (3 servers, docker-compose.yml, unless said):
#   leader-kill   docker kill (SIGKILL) the leader under write load; a new leader serves; the old
#                 one restarts and follows
#   partition     docker network disconnect the leader: the majority elects a leader and writes
#                 resume; the old leader stops serving within syncLimit*tickTime (+ slack); writes
#                 tried through it meanwhile are never acknowledged and are gone after the heal,
#                 when it follows again
#   pause         docker pause a follower past syncLimit*tickTime, unpause: it is dropped, rejoins,
#                 re-syncs (the leader's sync plan, DIFF / TRUNC / SNAP, is reported) and agrees
#   rolling       docker restart every server in turn (followers first, the leader last) under load
#   kill-all      docker kill all three at once, start them again: every acknowledged write is there
#   five          5 servers + observer (deploy/docker-compose.5.yml): kill two voters (the leader
#                 and a follower), writes go on; kill a third, writes fail (and the survivors report
#                 NOT_SERVING); restart the three: nothing acknowledged is lost
#   reconfig      dynamic reconfiguration (deploy/docker-compose.reconfig.yml, reconfigEnabled):
#                 under write load, start paddock4 and paddock5 (configured with the ensemble plus
#                 themselves: they sync and follow without a vote), `reconfig -add` them, then
#                 `reconfig -remove` the leader and one more of the first three; /zookeeper/config
#                 equal on all five after each change, the removed two observe, the longest write
#                 outage at most RECONFIG_OUTAGE_BOUND_S (10 s); stop the removed two and restart
#                 the three: the same roles and configuration come back from the data volumes
#
# Every scenario starts its own compose project with fresh volumes, runs WRITERS (2) writers on the
# host (scripts/chaos-lib.sh explains them and the checker: every acknowledged write on every
# server under the name the client was told, nothing never issued, per-writer order) and, beside
# them, the linearizability workload `paddock-lin` (LIN_CLIENTS (4) sessions doing sync+getData,
# setData, CAS, create and delete on LIN_KEYS (3) znodes, the history in JSON lines, checked with
# paddock-lincheck after every server's final read: an anomaly FAILs the scenario), is bounded in
# time, removes everything it started, and prints a report and PASS or FAIL. The script exits 1 if
# any scenario failed, 0 if all passed, and 0 with SKIP when no Docker daemon / compose answers.
# It first rebuilds paddock:local (scripts/docker-image.sh; quick when target/ is warm) unless
# --no-image. The servers run with tickTime 200 ms, syncLimit 5, initLimit 10 (PADDOCK_TICK_TIME,
# PADDOCK_SYNC_LIMIT, PADDOCK_INIT_LIMIT override). Needs host ports 7181-7186 free.
# shellcheck disable=SC2317,SC2119 # scenario_* are called indirectly; check_agreement takes no script args
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/docker-lib.sh
source scripts/docker-lib.sh
# shellcheck source=scripts/chaos-lib.sh
source scripts/chaos-lib.sh

readonly ALL_SCENARIOS=(leader-kill partition pause rolling kill-all five reconfig)
SCENARIO=main
TICK_MS=$PADDOCK_TICK_TIME
SYNC_BOUND_MS=$(( PADDOCK_SYNC_LIMIT * PADDOCK_TICK_TIME ))
# Slack on top of syncLimit*tickTime for "the isolated leader stops serving": the leader checks
# its quorum every half tick, then polling through docker exec takes ~100-300 ms a call.
readonly STEPDOWN_SLACK_MS=${STEPDOWN_SLACK_MS:-2000}
readonly FAILOVER_BOUND_S=${FAILOVER_BOUND_S:-20}
readonly REJOIN_BOUND_S=${REJOIN_BOUND_S:-30}
# Longest write outage allowed while the ensemble is reconfigured (one election, ~0.1-0.3 s at
# 200 ms ticks, plus clients finding the new leader; generous for loaded CI machines).
readonly RECONFIG_OUTAGE_BOUND_S=${RECONFIG_OUTAGE_BOUND_S:-10}

# --- scenarios -----------------------------------------------------------------------------------

scenario_leader_kill() {
  project_start 3
  start_writers
  sleep 2
  local leader t_kill failover new_leader rejoin survivors=()
  leader=$(find_leader) || true
  [[ -n "$leader" ]] || abort "no leader"
  docker kill "${CID[$leader]}" >/dev/null
  t_kill=$(now_ms)
  say "killed the leader $leader after $(acked_count) acknowledged writes"
  for s in "${SERVICES[@]}"; do [[ $s != "$leader" ]] && survivors+=("$s"); done
  failover=$(first_ack_after "$t_kill" "$FAILOVER_BOUND_S") || abort "no write acknowledged within ${FAILOVER_BOUND_S}s of the kill"
  new_leader=$(find_leader "${survivors[@]}") || true
  [[ -n "$new_leader" ]] || fail_check "no leader among the survivors"
  sleep 2
  docker start "${CID[$leader]}" >/dev/null
  rejoin=$(wait_until "$REJOIN_BOUND_S" is_mode "$leader" follower) || fail_check "$leader did not rejoin as a follower within ${REJOIN_BOUND_S}s"
  sleep 1
  stop_writers
  check_agreement
  report "leader killed: $leader; new leader: ${new_leader:-none}" \
    "failover (kill to the first acknowledged write started after it): ${failover} ms (bound ${FAILOVER_BOUND_S} s)" \
    "old leader back as a follower ${rejoin:-?} ms after docker start"
}

scenario_partition() {
  project_start 3
  start_writers
  sleep 2
  local leader t_cut failover new_leader stepdown rejoin aliases survivors=() s
  leader=$(find_leader) || true
  [[ -n "$leader" ]] || abort "no leader"
  for s in "${SERVICES[@]}"; do [[ $s != "$leader" ]] && survivors+=("$s"); done
  local since
  since=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
  aliases=$(docker inspect -f "{{range (index .NetworkSettings.Networks \"$NETWORK\").Aliases}}{{.}} {{end}}" "${CID[$leader]}")
  docker network disconnect "$NETWORK" "${CID[$leader]}"
  t_cut=$(now_ms)
  say "cut the leader $leader off $NETWORK after $(acked_count) acknowledged writes"
  # Writes tried through the isolated leader itself (from inside its container): none may be
  # acknowledged, none may survive the heal.
  (
    n=0
    while [[ ! -e "$WORK/stop-iso" ]]; do
      n=$(( n + 1 ))
      if timeout 4 docker exec "${CID[$leader]}" paddock-cli -server 127.0.0.1:7181 create "/chaos/iso-$n" "$n" >/dev/null 2>>"$WORK/errors.iso"; then
        echo "$n ok" >>"$WORK/iso"
      else
        echo "$n fail" >>"$WORK/iso"
      fi
    done
  ) &
  local iso_pid=$!
  stepdown=$(wait_until 10 not_leading "$leader") || fail_check "$leader still reports Mode: leader 10 s after the cut"
  wait_until 10 not_serving "$leader" >/dev/null || fail_check "$leader still reports SERVING 10 s after the cut"
  local stepdown_ms=$(( $(now_ms) - t_cut ))
  (( ${stepdown:-99999} <= SYNC_BOUND_MS + STEPDOWN_SLACK_MS )) ||
    fail_check "$leader stopped leading ${stepdown:-never} ms after the cut, bound syncLimit*tickTime ${SYNC_BOUND_MS} + ${STEPDOWN_SLACK_MS} ms"
  failover=$(first_ack_after "$t_cut" "$FAILOVER_BOUND_S") || abort "no write acknowledged within ${FAILOVER_BOUND_S}s of the cut"
  new_leader=$(find_leader "${survivors[@]}") || true
  [[ -n "$new_leader" ]] || fail_check "the majority has no leader"
  local old_mode
  old_mode=$(srvr_of "${CID[$leader]}" | head -1)
  sleep 3
  touch "$WORK/stop-iso"
  wait "$iso_pid" || true
  local a alias_args=()
  for a in $aliases; do alias_args+=(--alias "$a"); done
  docker network connect "${alias_args[@]}" "$NETWORK" "${CID[$leader]}"
  rejoin=$(wait_until "$REJOIN_BOUND_S" is_mode "$leader" follower) || fail_check "$leader did not follow within ${REJOIN_BOUND_S}s of the heal (mode: $(svc_mode "$leader"))"
  sleep 1
  stop_writers
  check_agreement
  local iso_tried iso_acked iso_present
  iso_tried=$(wc -l <"$WORK/iso" 2>/dev/null || echo 0)
  iso_acked=$(grep -c ' ok$' "$WORK/iso" 2>/dev/null || true)
  (( ${iso_acked:-0} == 0 )) || fail_check "$iso_acked writes through the isolated leader were acknowledged"
  iso_present=$(printf 'sync /chaos\nls /chaos\n' | timeout 20 docker exec -i "${CID[$new_leader]}" paddock-cli -server 127.0.0.1:7181 2>&1 | grep -o 'iso-[0-9]*' | wc -l || true)
  (( iso_present == 0 )) || fail_check "$iso_present writes tried through the isolated leader are present after the heal"
  local iso_err
  iso_err=$(sed -E 's/0x[0-9a-f]+|[0-9]+/N/g' "$WORK/errors.iso" 2>/dev/null | sort | uniq -c | sort -rn | head -2 | sed 's/^ *//' | tr '\n' ';' || true)
  report "partitioned leader: $leader; new leader of the majority: ${new_leader:-none}" \
    "old leader stopped leading ${stepdown:-?} ms after the cut (bound syncLimit*tickTime ${SYNC_BOUND_MS} ms + ${STEPDOWN_SLACK_MS} ms slack), health NOT_SERVING by ${stepdown_ms} ms; its srvr then: ${old_mode:-no answer}" \
    "failover (cut to the first acknowledged write started after it): ${failover} ms" \
    "writes tried through the isolated leader: ${iso_tried}, acknowledged ${iso_acked:-0}, present after the heal ${iso_present} (errors: ${iso_err:-none})" \
    "old leader following ${rejoin:-?} ms after the heal; sync: $(sync_plan "${new_leader:-paddock1}" "$since" "$leader")"
}

scenario_pause() {
  project_start 3
  start_writers
  sleep 2
  local leader follower s hold_ms t_pause rejoin dropped since plan
  leader=$(find_leader) || true
  [[ -n "$leader" ]] || abort "no leader"
  for s in "${SERVICES[@]}"; do [[ $s != "$leader" ]] && follower=$s && break; done
  hold_ms=$(( SYNC_BOUND_MS * 3 > 3000 ? SYNC_BOUND_MS * 3 : 3000 ))
  since=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
  docker pause "${CID[$follower]}" >/dev/null
  t_pause=$(now_ms)
  say "paused the follower $follower for ${hold_ms} ms (syncLimit*tickTime ${SYNC_BOUND_MS} ms) after $(acked_count) acknowledged writes"
  sleep "$(awk -v m="$hold_ms" 'BEGIN { printf "%.1f", m / 1000 }')"
  local acked_during
  acked_during=$(awk -v t="$t_pause" '$3 > t && $5 == "ok"' "$WORK/writes" | wc -l)
  (( acked_during > 0 )) || fail_check "no write started while $follower was paused was acknowledged"
  docker unpause "${CID[$follower]}" >/dev/null
  rejoin=$(wait_until "$REJOIN_BOUND_S" is_mode "$follower" follower) || fail_check "$follower is not following ${REJOIN_BOUND_S}s after unpause"
  sleep 1
  stop_writers
  check_agreement
  local leader_now
  leader_now=$(find_leader) || true
  dropped=$(docker logs --since "$since" "${CID[$leader]}" 2>&1 | grep -c 'dropping learner' || true)
  # The sync plan the leader chose for the follower when it came back: DIFF, TRUNC, TRUNCDIFF or SNAP.
  plan=$(sync_plan "${leader_now:-$leader}" "$since" "$follower")
  report "paused follower: $follower for ${hold_ms} ms; leader: $leader (after: ${leader_now:-none}); writes acknowledged while paused: $acked_during" \
    "leader's 'dropping learner' lines during the pause: $dropped" \
    "follower following again ${rejoin:-?} ms after unpause; sync: $plan"
}

scenario_rolling() {
  project_start 3
  start_writers
  sleep 2
  local leader order=() s t0 back lines=() total_t0
  leader=$(find_leader) || true
  [[ -n "$leader" ]] || abort "no leader"
  for s in "${SERVICES[@]}"; do [[ $s != "$leader" ]] && order+=("$s"); done
  order+=("$leader")
  total_t0=$(now_ms)
  for s in "${order[@]}"; do
    t0=$(now_ms)
    docker restart -t 10 "${CID[$s]}" >/dev/null
    back=$(wait_until "$REJOIN_BOUND_S" ensemble_whole) || abort "the ensemble is not whole ${REJOIN_BOUND_S}s after restarting $s"
    back=$(( $(now_ms) - t0 ))
    local fa
    fa=$(first_ack_after "$t0" "$FAILOVER_BOUND_S") || fa="none within ${FAILOVER_BOUND_S}s"
    lines+=("restarted $s ($( [[ $s == "$leader" ]] && echo leader || echo follower)): whole again after ${back} ms, first acknowledged write started after the restart at +${fa} ms, now $(svc_mode "$s")")
    sleep 1
  done
  local total=$(( $(now_ms) - total_t0 ))
  stop_writers
  check_agreement
  report "${lines[@]}" "rolling restart of all three under load: ${total} ms"
}

scenario_kill_all() {
  project_start 3
  start_writers
  sleep 3
  local s t_kill t_start up before
  before=$(acked_count)
  docker kill "${CID[paddock1]}" "${CID[paddock2]}" "${CID[paddock3]}" >/dev/null
  t_kill=$(now_ms)
  say "killed all three (SIGKILL) after $before acknowledged writes"
  sleep 2
  t_start=$(now_ms)
  for s in "${SERVICES[@]}"; do docker start "${CID[$s]}" >/dev/null; done
  up=$(wait_until "$UP_WAIT_S" ensemble_whole) || abort "no ensemble ${UP_WAIT_S}s after starting them again"
  local fa
  fa=$(first_ack_after "$t_start" "$FAILOVER_BOUND_S") || fail_check "no write acknowledged within ${FAILOVER_BOUND_S}s of the restart"
  sleep 2
  stop_writers
  check_agreement
  report "all three killed at once after $before acknowledged writes (down 2 s)" \
    "docker start to one leader + two followers: ${up} ms; to the first acknowledged write: ${fa:-?} ms" \
    "writes acknowledged before the kill: $(awk -v t="$t_kill" '$5 == "ok" && $4 <= t' "$WORK/writes" | wc -l), all checked present below"
}

scenario_five() {
  project_start 5
  start_writers
  sleep 2
  local leader s voters=() f1 f2 f3 t_kill2 fo2 t_kill3 hold_s=4 fails3 acked3 health3 s_h
  leader=$(find_leader) || true
  [[ -n "$leader" ]] || abort "no leader"
  for s in paddock1 paddock2 paddock3 paddock4 paddock5; do [[ $s != "$leader" ]] && voters+=("$s"); done
  f1=$leader f2=${voters[0]} f3=${voters[1]}
  docker kill "${CID[$f1]}" "${CID[$f2]}" >/dev/null
  t_kill2=$(now_ms)
  say "killed two voters: $f1 (leader) and $f2"
  fo2=$(first_ack_after "$t_kill2" "$FAILOVER_BOUND_S") || abort "no write acknowledged within ${FAILOVER_BOUND_S}s with two voters down"
  sleep 2
  local acked_with3
  acked_with3=$(awk -v t="$t_kill2" '$3 > t && $5 == "ok"' "$WORK/writes" | wc -l)
  docker kill "${CID[$f3]}" >/dev/null
  t_kill3=$(now_ms)
  say "killed a third voter: $f3 (two of five voters left)"
  sleep "$hold_s"
  # Writes started one syncLimit after the third kill must all fail.
  local settle=$(( t_kill3 + SYNC_BOUND_MS + 1000 ))
  fails3=$(awk -v t="$settle" '$3 > t && $5 == "fail"' "$WORK/writes" | wc -l)
  acked3=$(awk -v t="$settle" '$3 > t && $5 == "ok"' "$WORK/writes" | wc -l)
  (( acked3 == 0 )) || fail_check "$acked3 writes acknowledged without a quorum"
  (( fails3 > 0 )) || fail_check "no write was even tried without a quorum"
  health3=""
  for s in "${voters[@]:2}" paddock6; do
    s_h=$(svc_health "$s")
    health3+="$s ${s_h:-no-answer}, "
    if [[ $s_h == SERVING ]]; then fail_check "$s reports SERVING without a quorum"; fi
  done
  local err3
  err3=$(tail -50 "$WORK"/errors.w1 | sed -E 's/0x[0-9a-f]+|[0-9]+/N/g' | sort | uniq -c | sort -rn | head -2 | sed 's/^ *//' | tr '\n' ';')
  local t_start up fa
  t_start=$(now_ms)
  docker start "${CID[$f1]}" "${CID[$f2]}" "${CID[$f3]}" >/dev/null
  up=$(wait_until "$UP_WAIT_S" ensemble_whole) || abort "no whole ensemble ${UP_WAIT_S}s after restarting the three"
  fa=$(first_ack_after "$t_start" "$FAILOVER_BOUND_S") || fail_check "no write acknowledged within ${FAILOVER_BOUND_S}s of the restart"
  sleep 1
  stop_writers
  check_agreement
  report "killed $f1 (leader) + $f2: first acknowledged write ${fo2} ms after; $acked_with3 acknowledged with three voters" \
    "killed $f3 too: writes started > syncLimit*tickTime+1s after: $fails3 failed, $acked3 acknowledged; health: ${health3%, }" \
    "errors without a quorum (last seen): ${err3:-none}" \
    "restarted the three: whole ensemble after ${up} ms, first acknowledged write after ${fa:-?} ms"
}

# The super user's commands LINE... in one paddock-cli session on host port $1 (after `addauth
# digest super:test`, deploy/docker-compose.reconfig.yml's superDigest); prints the output.
super_cli() {
  local port=$1
  shift
  { echo "addauth digest super:test"; printf '%s\n' "$@"; } |
    timeout 30 "$CLI" -server "127.0.0.1:$port" -connect-timeout "$CONNECT_TIMEOUT_MS" 2>&1 || true
}
# The configuration lines (server.N=..., version=...) of paddock-cli output on stdin.
config_lines() { grep -E '^(server\.[0-9]+=|version=)' || true; }
# /zookeeper/config as service $1 has it (asked inside its container).
config_of() {
  timeout "$CALL_LIMIT_S" docker exec "${CID[$1]}" paddock-cli -server 127.0.0.1:7181 config 2>/dev/null | config_lines
}
# The server ids of a configuration text on stdin, comma-separated.
config_ids() { sed -n 's/^server\.\([0-9]*\)=.*/\1/p' | paste -sd, -; }
# True when service $1's configuration has the server ids $2 (comma-separated).
config_ids_are() { [[ "$(config_of "$1" | config_ids)" == "$2" ]]; }
# True when every service of SERVICES holds configuration $1.
config_everywhere() {
  local svc
  for svc in "${SERVICES[@]}"; do
    [[ "$(config_of "$svc")" == "$1" ]] || return 1
  done
}
# True when the voters $1 (space-separated services) are one leader and followers and the
# services $2 observe.
roles_are() {
  local svc m leaders=0
  for svc in $1; do
    m=$(svc_mode "$svc")
    case "$m" in
      leader) leaders=$(( leaders + 1 )) ;;
      follower) ;;
      *) return 1 ;;
    esac
  done
  for svc in $2; do [[ "$(svc_mode "$svc")" == observer ]] || return 1; done
  (( leaders == 1 ))
}
# The longest time (ms) between two acknowledgements in [$1, $2] (ms), counting from $1 to the
# first one and from the last one to $2: the longest write outage in that window.
longest_outage() {
  awk -v a="$1" -v b="$2" '$5 == "ok" && $4 >= a && $4 <= b { print $4 }' "$WORK/writes" | sort -n |
    awk -v a="$1" -v b="$2" '{ if ($1 - last > max) max = $1 - last; last = $1 } BEGIN { last = a }
      END { if (b - last > max) max = b - last; print max + 0 }'
}

scenario_reconfig() {
  project_start reconfig
  start_writers
  sleep 2
  local s t0 join_ms add_ms rm_ms out grown shrunk leader other removed=() kept=() restart_ms
  # The joining servers: each configured with the ensemble plus itself; they sync and follow
  # without a vote until the change that adds them commits.
  t0=$(now_ms)
  out=$(dc up -d paddock4 paddock5 2>&1) || abort "compose up of paddock4 and paddock5 failed: $(tail -3 <<<"$out")"
  for s in paddock4 paddock5; do
    CID[$s]=$(cid_of "$s")
    # shellcheck disable=SC2034
    PORT_OF[$s]=$(( 7180 + ${s#paddock} ))
  done
  SERVICES=(paddock1 paddock2 paddock3 paddock4 paddock5)
  wait_until "$UP_WAIT_S" roles_are "${SERVICES[*]}" "" >/dev/null ||
    abort "paddock4 and paddock5 do not follow ${UP_WAIT_S}s after starting (modes: $(for s in "${SERVICES[@]}"; do printf '%s %s, ' "$s" "$(svc_mode "$s")"; done))"
  join_ms=$(( $(now_ms) - t0 ))
  local static_config
  static_config=$(config_of paddock1)
  say "paddock4 and paddock5 follow (not voting) after ${join_ms} ms; configuration: $(config_ids <<<"$static_config")"

  # Grow to five under load.
  local t_add
  t_add=$(now_ms)
  out=$(super_cli 7181 "reconfig -add 4=paddock4:2888:3888:participant;7181,5=paddock5:2888:3888:participant;7181")
  add_ms=$(( $(now_ms) - t_add ))
  grown=$(sed -n '/^Committed new configuration:/,$p' <<<"$out" | config_lines)
  [[ "$(config_ids <<<"$grown")" == 1,2,3,4,5 ]] || abort "reconfig -add did not commit 1..5: $(tr '\n' ' ' <<<"$out")"
  SERVERS_ARG="127.0.0.1:7181,127.0.0.1:7182,127.0.0.1:7183,127.0.0.1:7184,127.0.0.1:7185"
  echo "$SERVERS_ARG" >"$WORK/servers.new" && mv "$WORK/servers.new" "$WORK/servers"
  wait_until 20 config_everywhere "$grown" >/dev/null || fail_check "not every server holds the grown configuration 20 s after the commit"
  wait_until 20 roles_are "${SERVICES[*]}" "" >/dev/null || fail_check "the five are not one leader and four followers"
  say "grew to five in ${add_ms} ms ($(tail -1 <<<"$grown")) after $(acked_count) acknowledged writes"
  sleep 3

  # Shrink back to three under load, removing the leader and one more of the first three.
  leader=$(find_leader) || true
  [[ -n "$leader" ]] || abort "no leader among the five"
  for s in paddock1 paddock2 paddock3; do
    if [[ $s != "$leader" ]]; then other=$s; break; fi
  done
  removed=("$leader" "$other")
  for s in "${SERVICES[@]}"; do [[ $s != "$leader" && $s != "$other" ]] && kept+=("$s"); done
  local t_rm want_ids
  want_ids=$(for s in "${kept[@]}"; do echo "${s#paddock}"; done | sort -n | paste -sd, -)
  t_rm=$(now_ms)
  out=$(super_cli "${PORT_OF[${kept[0]}]}" "reconfig -remove ${leader#paddock},${other#paddock}")
  rm_ms=$(( $(now_ms) - t_rm ))
  shrunk=$(sed -n '/^Committed new configuration:/,$p' <<<"$out" | config_lines)
  local answer=committed
  if [[ -z "$shrunk" ]]; then
    # CONNECTIONLOSS: the outcome is unknown (the leader left); read the configuration.
    answer="no answer ($(grep -v '^$' <<<"$out" | tail -1)); read back"
    wait_until 20 config_ids_are "${kept[0]}" "$want_ids" >/dev/null || true
    shrunk=$(config_of "${kept[0]}")
  fi
  [[ "$(config_ids <<<"$shrunk")" == "$want_ids" ]] ||
    abort "reconfig -remove ${leader#paddock},${other#paddock} did not leave $want_ids: $(tr '\n' ' ' <<<"$out") / $(tr '\n' ' ' <<<"$shrunk")"
  wait_until 20 config_everywhere "$shrunk" >/dev/null || fail_check "not every server holds the shrunk configuration 20 s after the commit"
  local settle_ms
  settle_ms=$(wait_until 30 roles_are "${kept[*]}" "${removed[*]}") ||
    fail_check "not one leader + followers among ${kept[*]} and observers ${removed[*]} (modes: $(for s in "${SERVICES[@]}"; do printf '%s %s, ' "$s" "$(svc_mode "$s")"; done))"
  local new_leader
  new_leader=$(find_leader "${kept[@]}") || true
  say "removed $leader (leader) and $other in ${rm_ms} ms ($answer; $(tail -1 <<<"$shrunk")); new leader ${new_leader:-none} after ${settle_ms:-?} ms"
  local fa
  fa=$(first_ack_after "$t_rm" "$FAILOVER_BOUND_S") || fail_check "no write acknowledged within ${FAILOVER_BOUND_S}s of the removal"
  sleep 3
  local t_end outage
  t_end=$(now_ms)
  stop_writers
  outage=$(longest_outage "$t_add" "$t_end")
  (( outage <= RECONFIG_OUTAGE_BOUND_S * 1000 )) ||
    fail_check "longest write outage during the reconfigurations ${outage} ms, bound ${RECONFIG_OUTAGE_BOUND_S} s"
  # Every acknowledged write on all five (the removed two observe and hold the tree too).
  check_agreement

  # The operator's last step: stop the removed servers. Then restart the three left on their
  # unchanged environment (paddock1-3 still list 1, 2, 3; paddock4/5 themselves and 1-3): each
  # takes the last committed configuration from its data volume.
  docker stop -t 10 "${CID[$leader]}" "${CID[$other]}" >/dev/null
  SERVICES=("${kept[@]}")
  t0=$(now_ms)
  for s in "${kept[@]}"; do docker restart -t 10 "${CID[$s]}" >/dev/null & done
  wait
  restart_ms=$(wait_until "$UP_WAIT_S" roles_are "${kept[*]}" "") ||
    fail_check "after a restart of ${kept[*]}, not one leader and two followers (modes: $(for s in "${kept[@]}"; do printf '%s %s, ' "$s" "$(svc_mode "$s")"; done))"
  restart_ms=$(( $(now_ms) - t0 ))
  wait_until 20 config_everywhere "$shrunk" >/dev/null ||
    fail_check "after the restart not every server holds the last configuration: $(for s in "${kept[@]}"; do printf '%s %s; ' "$s" "$(config_of "$s" | config_ids)"; done)"
  cli_ok create /chaos/after-restart >/dev/null || fail_check "no write after the restart"
  # dataDir/zoo.cfg.dynamic.<version>: each server's file of each version holds that version.
  local dyn nfiles=0 f v
  for s in "${kept[@]}"; do
    mkdir -p "$WORK/data.$s"
    docker cp "${CID[$s]}:/data" - 2>/dev/null | tar -x -C "$WORK/data.$s" --strip-components=1 --wildcards '*zoo.cfg.dynamic.*' 2>/dev/null || true
    for v in "$(tail -1 <<<"$grown")" "$(tail -1 <<<"$shrunk")"; do
      [[ -f "$WORK/data.$s/zoo.cfg.dynamic.${v#version=}" ]] || fail_check "$s has no zoo.cfg.dynamic.${v#version=}"
    done
    for f in "$WORK/data.$s"/zoo.cfg.dynamic.*; do
      [[ -f $f ]] || continue
      nfiles=$(( nfiles + 1 ))
      dyn=$(config_lines <"$f" | tail -1)
      [[ $dyn == "version=${f##*.}" ]] || fail_check "$s: $(basename "$f") holds ${dyn:-nothing}"
    done
  done
  report "joining servers paddock4, paddock5 synced and following (not voting) ${join_ms} ms after compose up" \
    "reconfig -add 4,5: ${add_ms} ms; /zookeeper/config then $(config_ids <<<"$grown") on all five" \
    "reconfig -remove ${leader#paddock} (the leader),${other#paddock}: ${rm_ms} ms, $answer; /zookeeper/config then $want_ids on all five ($(tail -1 <<<"$shrunk")); new leader ${new_leader:-none}; first acknowledged write started after it at +${fa:-?} ms" \
    "longest write outage from the -add to the end of the load: ${outage} ms (bound ${RECONFIG_OUTAGE_BOUND_S} s)" \
    "removed servers stopped; restart of ${kept[*]}: one leader and two followers after ${restart_ms:-?} ms, /zookeeper/config still $want_ids on each; $nfiles zoo.cfg.dynamic.* files, each holding its own version"
}

# --- main ----------------------------------------------------------------------------------------
if ! docker_usable; then
  echo "chaos: SKIP: no usable Docker daemon or compose tool (docker info / $COMPOSE version failed)"
  exit 0
fi
build=yes
scenarios=()
for arg in "$@"; do
  case "$arg" in
    --no-image) build=no ;;
    leader-kill | partition | pause | rolling | kill-all | five | reconfig) scenarios+=("$arg") ;;
    *) echo "usage: $0 [--no-image] [${ALL_SCENARIOS[*]// /|}]..." >&2; exit 2 ;;
  esac
done
(( ${#scenarios[@]} > 0 )) || scenarios=("${ALL_SCENARIOS[@]}")
if [[ $build == yes ]]; then
  scripts/docker-image.sh || { echo "chaos: FAIL: the image did not build"; exit 1; }
fi
docker image inspect "$CHAOS_IMAGE" >/dev/null 2>&1 || { echo "chaos: FAIL: no image $CHAOS_IMAGE (make image)"; exit 1; }
CLI=${PADDOCK_CLI:-${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-gnu/release/paddock-cli}
[[ -x "$CLI" ]] || { echo "chaos: FAIL: no $CLI (make image, or set PADDOCK_CLI)"; exit 1; }
LIN=${PADDOCK_LIN:-${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-gnu/release/paddock-lin}
if [[ $build == yes ]]; then
  # The host-side linearizability workload: built like the image's binaries (same target and
  # flags, so it reuses their dependencies instead of compiling them again).
  RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
    cargo build --release --target x86_64-unknown-linux-gnu -p paddock-bench --bin paddock-lin ||
    { echo "chaos: FAIL: paddock-lin did not build"; exit 1; }
fi
[[ -x "$LIN" ]] || { echo "chaos: FAIL: no $LIN (run without --no-image, or set PADDOCK_LIN)"; exit 1; }

t_all=$(now_ms)
results=()
failed=0
for sc in "${scenarios[@]}"; do
  t0=$(now_ms)
  # Each scenario in its own subshell: its trap removes its project whatever happens.
  # errexit is off in a tested command, so run it untested and read the status.
  set +e
  (
    set -e
    SCENARIO=$sc
    "scenario_${sc//-/_}"
  )
  rc=$?
  set -e
  if (( rc == 0 )); then r=PASS; else r=FAIL; failed=1; fi
  results+=("$(printf '%-12s %s  %5.1f s' "$sc" "$r" "$(awk -v m=$(( $(now_ms) - t0 )) 'BEGIN { print m / 1000 }')")")
done
echo "chaos: summary (tickTime ${TICK_MS} ms, syncLimit ${PADDOCK_SYNC_LIMIT}):"
printf '  %s\n' "${results[@]}"
echo "chaos: total $(awk -v m=$(( $(now_ms) - t_all )) 'BEGIN { printf "%.1f", m / 1000 }') s: $( (( failed )) && echo FAIL || echo PASS)"
exit "$failed"
