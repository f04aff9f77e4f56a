# shellcheck shell=bash
# Shared by scripts/docker-cluster.sh and scripts/chaos.sh (sourced, not run): the compose
# command, the project of a 3- or 5-server ensemble, and reading a server's role.
# Expects the caller to be at the repository root with `set -euo pipefail`.

# Docker's Compose v2 plugin (`docker compose`) if present, else the standalone docker-compose.
if [[ -z "${COMPOSE:-}" ]]; then
  if docker compose version >/dev/null 2>&1; then
    COMPOSE="docker compose"
  else
    COMPOSE="docker-compose"
  fi
fi

# Longest wait for one `docker exec ... paddock-cli` call.
readonly CALL_LIMIT_S=${CALL_LIMIT_S:-8}

# Sets PROJECT, COMPOSE_FILES and SERVICES for an ensemble of $1 (3, 5, or 3tls: the 3 servers
# with TLS on every port, deploy/docker-compose.tls.yml over docker-compose.yml; or reconfig: the 3
# servers of deploy/docker-compose.reconfig.yml, whose paddock4 and paddock5 join later) servers,
# under project name $2 (default paddock / paddock5 / paddockr). The 5-server file also has the
# observer paddock6. SERVICES are the services started at first.
select_ensemble() {
  local size=$1
  case "$size" in
    3)
      PROJECT=${2:-paddock}
      COMPOSE_FILES=(docker-compose.yml)
      SERVICES=(paddock1 paddock2 paddock3)
      ;;
    3tls)
      PROJECT=${2:-paddock}
      COMPOSE_FILES=(docker-compose.yml deploy/docker-compose.tls.yml)
      SERVICES=(paddock1 paddock2 paddock3)
      ;;
    5)
      PROJECT=${2:-paddock5}
      COMPOSE_FILES=(deploy/docker-compose.5.yml)
      SERVICES=(paddock1 paddock2 paddock3 paddock4 paddock5 paddock6)
      ;;
    reconfig)
      PROJECT=${2:-paddockr}
      COMPOSE_FILES=(deploy/docker-compose.reconfig.yml)
      SERVICES=(paddock1 paddock2 paddock3)
      ;;
    *)
      echo "ensemble size must be 3, 5, 3tls or reconfig, not $size" >&2
      return 2
      ;;
  esac
}

dc() {
  # shellcheck disable=SC2086 # COMPOSE may be two words
  local files=() f
  for f in "${COMPOSE_FILES[@]}"; do files+=(-f "$f"); done
  $COMPOSE -p "$PROJECT" "${files[@]}" "$@"
}

# True when a Docker daemon answers and the compose tool runs.
docker_usable() {
  command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1 &&
    $COMPOSE version >/dev/null 2>&1
}

# The container id of service $1 (empty if it has none).
cid_of() {
  dc ps -q "$1" 2>/dev/null || true
}

# Server $1's (a container id) srvr block, empty if it does not answer.
srvr_of() {
  timeout "$CALL_LIMIT_S" docker exec "$1" paddock-cli -server 127.0.0.1:7181 srvr 2>/dev/null || true
}

# leader | follower | observer | standalone | looking, or empty when the server does not answer.
mode_of() {
  srvr_of "$1" | sed -n 's/^Mode: //p'
}

# Waits up to $1 seconds until every service of SERVICES answers and exactly one is the leader
# (the others follower or observer). Prints "service mode" lines when done; fails on time-out.
wait_for_ensemble() {
  local limit_s=$1 deadline svc cid mode leaders bad report
  deadline=$(( $(date +%s) + limit_s ))
  while :; do
    leaders=0 bad=0 report=""
    for svc in "${SERVICES[@]}"; do
      cid=$(cid_of "$svc")
      mode=""
      [[ -n "$cid" ]] && mode=$(mode_of "$cid")
      report+="$svc ${mode:-no-answer}"$'\n'
      case "$mode" in
        leader) leaders=$(( leaders + 1 )) ;;
        follower | observer) ;;
        *) bad=$(( bad + 1 )) ;;
      esac
    done
    if (( leaders == 1 && bad == 0 )); then
      printf '%s' "$report"
      return 0
    fi
    if (( $(date +%s) >= deadline )); then
      printf '%s' "$report" >&2
      return 1
    fi
    sleep 1
  done
}
