#!/usr/bin/env bash
# conformance.sh - build every case of test/conformance with strata and with
# docker (BuildKit, Debian's docker.io 20.10), compare the images, print one
# line per case and finally "N passed, M failed". Exit 0 only if all pass.
#
# Needs root on Debian 12. Installs and starts what it needs through the peer
# scripts beside the repository (../shared/peers/setup.sh and bases.sh):
# dockerd, a registry on 127.0.0.1:5000, and the busybox and
# debian:bookworm-slim base images, which both builders then use.
#
#   env: CONFORMANCE_WORK (default /var/tmp/strata-conformance)  logs, outputs,
#          results/<case>.txt with every difference, docker-cache/ (docker
#          results keyed by case content, so reruns only build with strata)
#        PEERS_SCRIPTS (default <repo>/../shared/peers)
#        STRATA_BIN    use this strata binary instead of building ./cmd/strata
#   args: passed to the driver, e.g. -run 'from-|copy-' or -jobs 1
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
PEERS_SCRIPTS=${PEERS_SCRIPTS:-$(dirname "$REPO")/shared/peers}
WORK=${CONFORMANCE_WORK:-/var/tmp/strata-conformance}
REGISTRY=${REGISTRY_ADDR:-127.0.0.1:5000}
DOCKER=/usr/bin/docker   # the Debian 20.10 client with BuildKit, not /usr/local/bin/docker
export PATH="/usr/local/go/bin:$PATH"

die() { echo "conformance: $*" >&2; exit 2; }
[[ $(id -u) == 0 ]] || die "must run as root (dockerd, RUN sandboxes)"
for s in setup.sh bases.sh; do
  [[ -x $PEERS_SCRIPTS/$s ]] || die "missing $PEERS_SCRIPTS/$s: the peer scripts must sit beside the repository (../shared/peers) or PEERS_SCRIPTS must point to them"
done
mkdir -p "$WORK"

start=$(date +%s)
echo "conformance: starting dockerd and the registry, making base images (log: $WORK/setup.log)" >&2
if ! { "$PEERS_SCRIPTS/setup.sh" && NODE=0 "$PEERS_SCRIPTS/bases.sh"; } > "$WORK/setup.log" 2>&1; then
  tail -30 "$WORK/setup.log" >&2
  die "setting up docker and the base images failed"
fi

echo "conformance: building strata and the driver" >&2
(cd "$REPO" && CGO_ENABLED=0 go build -o "$WORK/conformance-run" ./internal/conformance/cmd/conformance) || die "building the driver failed"
STRATA=${STRATA_BIN:-$WORK/strata}
if [[ -z ${STRATA_BIN:-} ]]; then
  (cd "$REPO" && CGO_ENABLED=0 go build -o "$WORK/strata" ./cmd/strata) || die "building strata failed"
fi

# What decides docker's result besides the case: its version and the bases.
salt="docker $($DOCKER version -f '{{.Server.Version}}')"
for img in busybox:latest debian:bookworm-slim; do
  salt+=" $img=$($DOCKER image inspect -f '{{.Id}}' "$img")"
done

echo "conformance: running the corpus (setup took $(( $(date +%s) - start ))s)" >&2
cd "$REPO"
exec "$WORK/conformance-run" -corpus test/conformance -strata "$STRATA" -docker "$DOCKER" \
  -root "$WORK/root" -work "$WORK" -registry-mirror "$REGISTRY" -salt "$salt" "$@"
