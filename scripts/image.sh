#!/usr/bin/env bash
# image.sh - strata's own image (the Dockerfile at the repository root), built
# by strata, offline: the golang base is the local stand-in that
# scripts/bases.sh makes and serves on 127.0.0.1:5001 (strata's docker.io
# mirror here, as for the demo), and the Go modules come from this machine's
# module cache, served read-only as a GOPROXY on 127.0.0.1 for the build's
# RUN steps (they share the host's network). Prints the image's size.
#
#   scripts/image.sh [extra strata build flags...]
#
# Env: STRATA (./bin/strata), STRATA_ROOT (strata's default store), TAG
# (strata:dev), BASES (1: run scripts/bases.sh first; 0 when the golang base
# is already in the store or the mirror), BASES_PORT (5001), GOPROXY_PORT
# (5089), PROGRESS (plain).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
S=${STRATA:-./bin/strata}
TAG=${TAG:-strata:dev}
REG=127.0.0.1:${BASES_PORT:-5001}

log() { printf '[image %(%T)T] %s\n' -1 "$*" >&2; }
[ -x "$S" ] || { log "no strata binary at $S (make build)"; exit 1; }
if [ "${BASES:-1}" = 1 ]; then
  STRATA="$S" ./scripts/bases.sh
fi

# the module cache's download dir has the layout of a GOPROXY: first make
# sure it holds what the Dockerfile's `go mod download` asks for (a no-op
# when it does); a fixed port keeps the GOPROXY build argument, and so the
# build cache keys, stable
go mod download
modproxy=$(go env GOMODCACHE)/cache/download
port=${GOPROXY_PORT:-5089}
proxy=http://127.0.0.1:$port
if curl -fs -o /dev/null "$proxy/"; then
  log "port $port is taken: set GOPROXY_PORT"; exit 1
fi
python3 -m http.server --bind 127.0.0.1 --directory "$modproxy" "$port" > /dev/null 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -fs -o /dev/null "$proxy/" && break; sleep 0.1; done
if ! kill -0 "$server" 2>/dev/null || ! curl -fs -o /dev/null "$proxy/"; then
  log "the module proxy did not start on $proxy"; exit 1
fi
version=$(git describe --tags --always 2>/dev/null || echo dev)
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)

t0=$SECONDS
log "building $TAG (Go modules from $modproxy on $proxy, bases from $REG)"
"$S" --registry-mirror "$REG" build --progress="${PROGRESS:-plain}" --build-arg "GOPROXY=$proxy" \
  --build-arg "VERSION=$version" --build-arg "REVISION=$revision" \
  -t "$TAG" "$@" .
log "built $TAG in $((SECONDS - t0)) s"
"$S" size --top 3 "$TAG" | sed -n '1,5p'
