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
#
# Every scenario starts its own compose project with fresh volumes, runs WRITERS (2) writers on the
# host (scripts/chaos-lib.sh explains them and the checker: every acknowledged write on every
# server under the name the client was told, nothing never issued, per-writer order), is bounded in
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

readonly ALL_SCENARIOS=(leader-kill partition pause rolling kill-all five)
SCENARIO=main
TICK_MS=$PADDOCK_TICK_TIME
SYNC_BOUND_MS=$(( PADDOCK_SYNC_LIMIT * PADDOCK_TICK_TIME ))
# Slack on top of syncLimit*tickTime for "the isolated leader stops serving": the leader checks
# its quorum every half tick, then polling through docker exec takes ~100-300 ms a call.
readonly STEPDOWN_SLACK_MS=${STEPDOWN_SLACK_MS:-2000}
readonly FAILOVER_BOUND_S=${FAILOVER_BOUND_S:-20}
readonly REJOIN_BOUND_S=${REJOIN_BOUND_S:-30}

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
    leader-kill | partition | pause | rolling | kill-all | five) scenarios+=("$arg") ;;
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
