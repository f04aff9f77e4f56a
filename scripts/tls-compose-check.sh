#!/usr/bin/env bash
# The TLS compose ensemble end to end (`make tls-check`; run by .ci/run after the chaos tests):
# certificates (`make certs`), the image (skipped with NO_IMAGE=1), `docker-cluster.sh up 3tls`
# (the servers elect and sync over mutual TLS: sslQuorum), every container healthy (the health
# check speaks TLS with a client certificate), a write through one server read back through
# another by a client with a certificate, and refusals for a plaintext client and for a client
# without a certificate. Removes the containers and volumes at the end. Skips (exit 0, saying
# so) when no Docker daemon answers. Uses the host ports of docker-compose.yml (7181-7183): the
# plaintext container ensemble must not be running.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/docker-lib.sh
source scripts/docker-lib.sh

readonly HEALTH_WAIT_S=${HEALTH_WAIT_S:-90}
fail() { echo "tls-check: FAIL: $*" >&2; dc logs --tail 30 >&2 || true; exit 1; }

docker_usable || { echo "tls-check: no usable Docker daemon / compose tool: skipped"; exit 0; }
make -s certs >/dev/null
[[ ${NO_IMAGE:-} == 1 ]] || scripts/docker-image.sh
cargo build -q -p paddock-cli
cli=(target/debug/paddock-cli)
tls=(-tls-ca deploy/certs/ca.pem -tls-cert deploy/certs/client.pem)

select_ensemble 3tls paddocktls
trap 'dc down -v >/dev/null 2>&1 || true' EXIT
dc down -v >/dev/null 2>&1 || true
dc up -d
echo "tls-check: waiting up to ${HEALTH_WAIT_S}s for a leader over mutual TLS"
wait_for_ensemble "$HEALTH_WAIT_S" || fail "no leader: the servers did not elect over TLS"

deadline=$(( $(date +%s) + HEALTH_WAIT_S ))
for svc in "${SERVICES[@]}"; do
  cid=$(cid_of "$svc")
  until [[ $(docker inspect --format '{{.State.Health.Status}}' "$cid") == healthy ]]; do
    (( $(date +%s) < deadline )) || fail "$svc is not healthy: the health check over TLS failed"
    sleep 1
  done
done
echo "tls-check: all servers healthy (health check over TLS)"

"${cli[@]}" "${tls[@]}" -server 127.0.0.1:7181 create /tls-check hello >/dev/null ||
  fail "a client with a certificate could not write"
got=""
for _ in $(seq 50); do
  got=$("${cli[@]}" "${tls[@]}" -server 127.0.0.1:7182 get /tls-check 2>/dev/null || true)
  [[ $got == hello ]] && break
  sleep 0.2
done
[[ $got == hello ]] || fail "the write did not reach paddock2 (got '$got')"
echo "tls-check: written through paddock1, read through paddock2"

if out=$("${cli[@]}" -server 127.0.0.1:7181 ls / 2>&1); then
  fail "a plaintext client was served: $out"
fi
grep -q TLS <<<"$out" || fail "the plaintext client's error does not mention TLS: $out"
if out=$("${cli[@]}" -tls-ca deploy/certs/ca.pem -server 127.0.0.1:7181 ls / 2>&1); then
  fail "a client without a certificate was served: $out"
fi
echo "tls-check: plaintext client and client without a certificate refused"
echo "tls-check: PASS"
