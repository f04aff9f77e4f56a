#!/usr/bin/env bash
# Container chaos test: kill -9 the leader of the 3-server compose ensemble under write load.
#
#   scripts/chaos.sh [--no-image]     (`make chaos`)
#
# First rebuilds paddock:local with scripts/docker-image.sh (quick when target/ is warm), so the
# test runs the current code; --no-image uses the image as it is (PADDOCK_IMAGE to pick another).
#
# 1. starts docker-compose.yml as its own project (paddockchaos: fresh volumes, removed at the end;
#    it needs host ports 7181-7183, so stop a `make up` ensemble first);
# 2. runs a writer on the host: paddock-cli one-shot `create /chaos/w-N` through the published
#    ports, one after another, recording every write's start, end and outcome;
# 3. finds the leader (srvr `Mode: leader`) and `docker kill`s it (SIGKILL);
# 4. checks that a write started after the kill is acknowledged within FAILOVER_BOUND_S, and that
#    the survivors elect a new leader;
# 5. restarts the old leader and checks that it rejoins as a follower within REJOIN_BOUND_S;
# 6. stops the load, then checks that all three servers agree (same Zxid and node count in srvr,
#    same children of /chaos after `sync`), that every acknowledged write is on every server, and
#    that no write appears that was never issued.
# Prints a report and PASS or FAIL; exits 1 on failure, 0 on success, and 0 with SKIP when no
# Docker daemon answers. Everything it starts is removed on exit, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/docker-lib.sh
source scripts/docker-lib.sh

readonly IMAGE=${PADDOCK_IMAGE:-paddock:local}
readonly UP_WAIT_S=${UP_WAIT_S:-90}
readonly FAILOVER_BOUND_S=${FAILOVER_BOUND_S:-30}
readonly REJOIN_BOUND_S=${REJOIN_BOUND_S:-60}
readonly AGREE_BOUND_S=${AGREE_BOUND_S:-30}
readonly LOAD_BEFORE_S=${LOAD_BEFORE_S:-5}
readonly LOAD_AFTER_S=${LOAD_AFTER_S:-5}
readonly WRITE_LIMIT_S=10
readonly PORTS=(7181 7182 7183)

say() { echo "chaos: $*"; }
# Before the ensemble starts, failing needs no clean-up; the trap below takes over later.
fail() {
  say "FAIL: $*"
  exit 1
}
now_ms() { date +%s%3N; }

if ! docker_usable; then
  say "SKIP: no usable Docker daemon or compose tool (docker info / $COMPOSE version failed)"
  exit 0
fi
select_ensemble 3 paddockchaos

case "${1:-}" in
  --no-image) ;;
  "") scripts/docker-image.sh || fail "the image did not build" ;;
  *) echo "usage: $0 [--no-image]" >&2; exit 2 ;;
esac
docker image inspect "$IMAGE" >/dev/null 2>&1 || fail "no image $IMAGE (run \`make image\`)"
# The host's paddock-cli: the static one `make image` builds (PADDOCK_CLI to use another).
CLI=${PADDOCK_CLI:-${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-gnu/release/paddock-cli}
[[ -x "$CLI" ]] || fail "no $CLI (run \`make image\`, or set PADDOCK_CLI)"
SERVERS_ARG=$(printf '127.0.0.1:%s,' "${PORTS[@]}")
SERVERS_ARG=${SERVERS_ARG%,}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/paddock-chaos.XXXXXX")
WRITES="$WORK/writes"    # "N start_ms end_ms ok|fail" per write
STOP="$WORK/stop"
writer_pid=""
result=FAIL

cleanup() {
  touch "$STOP"
  if [[ -n "$writer_pid" ]]; then
    wait "$writer_pid" 2>/dev/null || true
  fi
  if [[ $result != PASS ]]; then
    say "server logs (last 30 lines each):"
    dc logs --tail 30 2>&1 | sed 's/^/  /' || true
    say "work files kept in $WORK"
  else
    rm -rf "$WORK"
  fi
  dc down -v --remove-orphans >/dev/null 2>&1 || true
}
trap cleanup EXIT

for p in "${PORTS[@]}"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    fail "host port $p is already in use (a \`make up\` ensemble? stop it with \`make down\`)"
  fi
done

# --- 1. start ---------------------------------------------------------------------------------
dc down -v --remove-orphans >/dev/null 2>&1 || true
t_up=$(now_ms)
up_out=$(dc up -d 2>&1) || fail "docker-compose up failed: $(tail -3 <<<"$up_out")"
wait_for_ensemble "$UP_WAIT_S" >"$WORK/modes0" || fail "no leader within ${UP_WAIT_S}s of up"
startup_ms=$(( $(now_ms) - t_up ))
declare -A CID PORT_OF
for i in 0 1 2; do
  CID[${SERVICES[$i]}]=$(cid_of "${SERVICES[$i]}")
  PORT_OF[${SERVICES[$i]}]=${PORTS[$i]}
done
say "ensemble up in ${startup_ms} ms: $(tr '\n' ' ' <"$WORK/modes0")"

timeout "$WRITE_LIMIT_S" "$CLI" -server "$SERVERS_ARG" create /chaos >/dev/null ||
  fail "cannot create /chaos"

# --- 2. load ----------------------------------------------------------------------------------
writer() {
  local n=0 start end outcome
  while [[ ! -e "$STOP" ]]; do
    n=$(( n + 1 ))
    start=$(now_ms)
    if timeout "$WRITE_LIMIT_S" "$CLI" -server "$SERVERS_ARG" create "/chaos/w-$n" "$n" \
        >/dev/null 2>>"$WORK/writer.err"; then
      outcome=ok
    else
      outcome=fail
    fi
    end=$(now_ms)
    echo "$n $start $end $outcome" >>"$WRITES"
  done
}
: >"$WRITES"
writer &
writer_pid=$!
sleep "$LOAD_BEFORE_S"
acked_before=$(grep -c ' ok$' "$WRITES" || true)
(( acked_before > 0 )) || fail "no write was acknowledged in the first ${LOAD_BEFORE_S}s"

# --- 3. kill the leader -----------------------------------------------------------------------
leader=""
for svc in "${SERVICES[@]}"; do
  [[ "$(mode_of "${CID[$svc]}")" == leader ]] && leader=$svc
done
[[ -n "$leader" ]] || fail "no server reports Mode: leader"
docker kill "${CID[$leader]}" >/dev/null
# Taken when `docker kill` has returned (the SIGKILL is delivered), so that a write counted as
# started after the kill cannot have reached the old leader.
t_kill=$(now_ms)
say "killed the leader $leader (SIGKILL) after $acked_before acknowledged writes"

# --- 4. failover ------------------------------------------------------------------------------
survivors=()
for svc in "${SERVICES[@]}"; do [[ $svc != "$leader" ]] && survivors+=("$svc"); done
new_leader="" elected_ms="" failover_ms=""
deadline=$(( t_kill + FAILOVER_BOUND_S * 1000 ))
while (( $(now_ms) < deadline )); do
  if [[ -z "$new_leader" ]]; then
    for svc in "${survivors[@]}"; do
      if [[ "$(mode_of "${CID[$svc]}")" == leader ]]; then
        new_leader=$svc
        elected_ms=$(( $(now_ms) - t_kill ))
      fi
    done
  fi
  first_ok=$(awk -v t="$t_kill" '$2 > t && $4 == "ok" { print $3; exit }' "$WRITES")
  if [[ -n "$first_ok" ]]; then
    failover_ms=$(( first_ok - t_kill ))
    [[ -n "$new_leader" ]] && break
  fi
  sleep 0.2
done
[[ -n "$failover_ms" ]] || fail "no write started after the kill was acknowledged within ${FAILOVER_BOUND_S}s"
[[ -n "$new_leader" ]] || fail "the survivors elected no leader within ${FAILOVER_BOUND_S}s"
say "writes resumed ${failover_ms} ms after the kill; new leader $new_leader (seen at +${elected_ms} ms)"
sleep "$LOAD_AFTER_S"

# --- 5. restart the old leader ----------------------------------------------------------------
t_start=$(now_ms)
docker start "${CID[$leader]}" >/dev/null
rejoin_ms=""
deadline=$(( t_start + REJOIN_BOUND_S * 1000 ))
while (( $(now_ms) < deadline )); do
  if [[ "$(mode_of "${CID[$leader]}")" == follower ]]; then
    rejoin_ms=$(( $(now_ms) - t_start ))
    break
  fi
  sleep 0.5
done
[[ -n "$rejoin_ms" ]] || fail "$leader did not rejoin as a follower within ${REJOIN_BOUND_S}s (mode: $(mode_of "${CID[$leader]}"))"
say "$leader rejoined as a follower ${rejoin_ms} ms after docker start"
sleep 2

# --- 6. stop the load, check agreement --------------------------------------------------------
touch "$STOP"
wait "$writer_pid" || true
writer_pid=""
issued=$(wc -l <"$WRITES")
acked=$(grep -c ' ok$' "$WRITES" || true)
failed=$(( issued - acked ))

agreed=""
deadline=$(( $(now_ms) + AGREE_BOUND_S * 1000 ))
while (( $(now_ms) < deadline )); do
  : >"$WORK/state"
  for svc in "${SERVICES[@]}"; do
    srvr_of "${CID[$svc]}" | awk -v s="$svc" '/^Zxid:/ { z = $2 } /^Node count:/ { c = $3 } END { print s, z, c }' >>"$WORK/state"
  done
  if [[ $(awk '{ print $2, $3 }' "$WORK/state" | sort -u | wc -l) == 1 ]] && ! grep -q ' $' "$WORK/state"; then
    agreed=yes
    break
  fi
  sleep 1
done
[[ -n "$agreed" ]] || fail "the servers do not agree on Zxid and node count: $(tr '\n' ';' <"$WORK/state")"

# Children of /chaos on each server, read through that server only, after a sync.
for svc in "${SERVICES[@]}"; do
  out=$(printf 'sync /chaos\nls /chaos\n' | timeout 20 "$CLI" -server "127.0.0.1:${PORT_OF[$svc]}" 2>&1) ||
    fail "cannot read /chaos from $svc: $out"
  grep -o 'w-[0-9]*' <<<"$out" | sort >"$WORK/children.$svc" || true
done
for svc in "${survivors[@]}"; do
  cmp -s "$WORK/children.$leader" "$WORK/children.$svc" ||
    fail "$svc and $leader hold different children of /chaos ($(wc -l <"$WORK/children.$svc") vs $(wc -l <"$WORK/children.$leader"))"
done
awk '$4 == "ok" { print "w-" $1 }' "$WRITES" | sort >"$WORK/acked"
lost=$(comm -23 "$WORK/acked" "$WORK/children.$leader" | wc -l)
(( lost == 0 )) || fail "$lost acknowledged writes are missing, e.g. $(comm -23 "$WORK/acked" "$WORK/children.$leader" | head -3 | tr '\n' ' ')"
awk '{ print "w-" $1 }' "$WRITES" | sort >"$WORK/issued"
phantom=$(comm -13 "$WORK/issued" "$WORK/children.$leader" | wc -l)
(( phantom == 0 )) || fail "$phantom znodes were never issued"
present=$(wc -l <"$WORK/children.$leader")
# The longest time without an acknowledgement: between consecutive acknowledged writes, by the
# time their answers came (the client-visible outage, whatever the kill's exact moment).
gap=$(awk '$4 == "ok" { if (last && $3 - last > max) { max = $3 - last; at = last } last = $3 }
  END { printf "%d ms (starting at kill%+d ms)", max, at - k }' k="$t_kill" "$WRITES")
# Failed writes by phase: before the kill, from the kill to the first acknowledged write after it,
# after that; and the distinct error texts (numbers and ids blanked so that like ones group).
phases=$(awk -v k="$t_kill" -v r="$(( t_kill + failover_ms ))" '
  $4 == "fail" { if ($3 < k) b++; else if ($2 <= r) f++; else a++ }
  END { printf "%d before the kill, %d during failover, %d after", b, f, a }' "$WRITES")
errors=$(sed -E 's/0x[0-9a-f]+|[0-9]+/N/g' "$WORK/writer.err" 2>/dev/null | sort | uniq -c | sort -rn | head -5 |
  sed 's/^ */    /' || true)

result=PASS
say "report:"
echo "  startup to serving (up -d to one leader + two followers): ${startup_ms} ms"
echo "  leader killed: $leader; new leader: $new_leader (elected by +${elected_ms} ms)"
echo "  failover (kill to first acknowledged write started after it): ${failover_ms} ms (bound ${FAILOVER_BOUND_S} s)"
echo "  old leader rejoined as follower: ${rejoin_ms} ms after docker start (bound ${REJOIN_BOUND_S} s)"
echo "  writes: $issued issued, $acked acknowledged, $failed failed or timed out; $present on every server"
echo "  longest gap between acknowledged writes: $gap"
echo "  failed writes: $phases"
[[ -n "$errors" ]] && echo "  client errors (count, text):" && echo "$errors"
echo "  agreement (server, Zxid, node count): $(tr '\n' ';' <"$WORK/state")"
say "PASS"
