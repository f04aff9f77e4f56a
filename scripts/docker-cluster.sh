#!/usr/bin/env bash
# The containerised ensembles of docker-compose.yml (3 servers) and deploy/docker-compose.5.yml
# (5 servers + an observer), on the image `make image` builds.
#
#   scripts/docker-cluster.sh up     [3|5|3tls]   start (docker compose up -d), wait for one leader
#                                             (3tls: TLS on every port; `make certs` first)
#   scripts/docker-cluster.sh status [3|5]   each server's role
#   scripts/docker-cluster.sh logs   [3|5]   follow the servers' logs
#   scripts/docker-cluster.sh down   [3|5]   stop and remove the containers (volumes stay)
#   scripts/docker-cluster.sh wipe   [3|5]   ... and delete the data volumes
#
# (`make up` / `make up5` / `make down` / `make down5` / `make logs`.) Projects are named paddock and
# paddock5, so `docker-compose -p paddock ...` reaches the same containers.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/docker-lib.sh
source scripts/docker-lib.sh

readonly UP_WAIT_S=${UP_WAIT_S:-90}
readonly IMAGE=${PADDOCK_IMAGE:-paddock:local}

usage() {
  echo "usage: $0 {up|status|logs|down|wipe} [3|5|3tls]" >&2
  exit 2
}

[[ $# -ge 1 && $# -le 2 ]] || usage
select_ensemble "${2:-3}" || usage
docker_usable || { echo "docker-cluster: no usable Docker daemon / compose tool" >&2; exit 1; }

case "$1" in
  up)
    docker image inspect "$IMAGE" >/dev/null 2>&1 ||
      { echo "docker-cluster: no image $IMAGE; run \`make image\` first" >&2; exit 1; }
    if [[ ${2:-3} == 3tls && ! -f deploy/certs/ca.pem ]]; then
      echo "docker-cluster: no certificates in deploy/certs; run \`make certs\` first" >&2
      exit 1
    fi
    start=$(date +%s%N)
    dc up -d
    echo "docker-cluster: waiting up to ${UP_WAIT_S}s for a leader"
    if ! wait_for_ensemble "$UP_WAIT_S"; then
      echo "docker-cluster: no healthy ensemble after ${UP_WAIT_S}s; last log lines:" >&2
      dc logs --tail 20 >&2 || true
      exit 1
    fi
    echo "docker-cluster: serving $(( ($(date +%s%N) - start) / 1000000 )) ms after \`up -d\` began"
    dc ps
    ;;
  status)
    for svc in "${SERVICES[@]}"; do
      cid=$(cid_of "$svc")
      if [[ -z "$cid" ]]; then
        echo "$svc: no container"
      else
        mode=$(mode_of "$cid")
        echo "$svc: ${mode:-not answering}"
      fi
    done
    ;;
  logs) dc logs -f --tail 50 ;;
  down) dc down ;;
  wipe) dc down -v ;;
  *) usage ;;
esac
