#!/usr/bin/env bash
# Builds the `paddock:local` container image without any registry (`make image`).
#
#   scripts/docker-image.sh [--no-build]     IMAGE=name:tag to change the tag
#
# The build stage runs on the host (nothing can be pulled to run it in a container; see
# deploy/Dockerfile): statically linked release binaries of paddock and paddock-cli for
# x86_64-unknown-linux-gnu with `-C target-feature=+crt-static`, in their own target directory
# (target/x86_64-unknown-linux-gnu/release) so they never evict the ordinary release build. The
# script refuses a binary that is not static (it would not start in the empty image). Then it
# stages the build context in target/docker-context and runs `docker build` with deploy/Dockerfile.
# --no-build reuses the binaries already built.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly IMAGE="${IMAGE:-paddock:local}"
readonly TRIPLE="x86_64-unknown-linux-gnu"
readonly TARGET_DIR="${CARGO_TARGET_DIR:-target}"
readonly BIN_DIR="$TARGET_DIR/$TRIPLE/release"
readonly CONTEXT="$TARGET_DIR/docker-context"
readonly BINS=(paddock paddock-cli)

die() {
  echo "docker-image: $*" >&2
  exit 1
}

build=yes
case "${1:-}" in
  --no-build) build=no ;;
  "") ;;
  *) echo "usage: $0 [--no-build]" >&2; exit 2 ;;
esac

docker info >/dev/null 2>&1 || die "no Docker daemon answers (docker info failed)"
[[ "$(uname -m)" == x86_64 ]] || die "the static build is set up for x86_64 hosts only (this is $(uname -m))"

if [[ $build == yes ]]; then
  echo "docker-image: building static release binaries ($TRIPLE, +crt-static)"
  start=$(date +%s)
  # RUSTFLAGS with an explicit --target apply to the target only, not to build scripts and
  # proc macros (which must stay dynamic to be loaded by rustc).
  RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
    cargo build --release --target "$TRIPLE" -p paddock-node -p paddock-cli
  echo "docker-image: cargo build took $(( $(date +%s) - start )) s"
fi

for b in "${BINS[@]}"; do
  f="$BIN_DIR/$b"
  [[ -x "$f" ]] || die "$f is missing (run without --no-build)"
  # `file` says "statically linked" or "static-pie linked"; ldd lists no library (`=>`) for a
  # static binary (it says "statically linked" or "not a dynamic executable").
  if command -v file >/dev/null; then
    file -L "$f" | grep -Eq 'static(ally|-pie) linked' || die "$f is not statically linked: $(file -L "$f")"
  fi
  if ldd "$f" 2>&1 | grep -q '=>'; then
    die "$f has dynamic dependencies: $(ldd "$f" | tr '\n' ' ')"
  fi
done

rm -rf "$CONTEXT"
mkdir -p "$CONTEXT/bin" "$CONTEXT/rootfs/etc" "$CONTEXT/rootfs/conf" "$CONTEXT/rootfs/tmp" "$CONTEXT/data"
for b in "${BINS[@]}"; do
  cp "$BIN_DIR/$b" "$CONTEXT/bin/"
  # The release profile keeps line tables (a third of the size); the image keeps the symbols
  # (names in backtraces) but not the line tables. STRIP=no keeps everything.
  if [[ "${STRIP:-yes}" != no ]] && command -v strip >/dev/null; then
    strip --strip-debug "$CONTEXT/bin/$b"
  fi
done
cp deploy/docker/passwd deploy/docker/group deploy/docker/nsswitch.conf "$CONTEXT/rootfs/etc/"
cp deploy/docker/zoo.cfg "$CONTEXT/rootfs/conf/zoo.cfg"
chmod 1777 "$CONTEXT/rootfs/tmp"
cp deploy/Dockerfile "$CONTEXT/Dockerfile"

echo "docker-image: docker build -t $IMAGE"
docker build --quiet -t "$IMAGE" "$CONTEXT" >/dev/null
size=$(docker image inspect --format '{{.Size}}' "$IMAGE")
echo "docker-image: built $IMAGE ($(( size / 1024 / 1024 )) MiB; binaries: $(du -ch "$CONTEXT"/bin/* | tail -1 | cut -f1))"
