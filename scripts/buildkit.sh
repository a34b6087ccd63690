#!/usr/bin/env bash
# buildkit.sh - the conformance reference: BuildKit's buildkitd and buildctl,
# built once per machine from the Go module and started as root with the
# runc worker. Prints the buildkitd address (unix://...) on stdout.
#
#   scripts/buildkit.sh [start]   build if needed, start (or reuse) buildkitd
#   scripts/buildkit.sh build     only build the binaries
#   scripts/buildkit.sh stop      stop the buildkitd this script started
#
# Binaries: $BUILDKIT_DIR/bin/{buildkitd,buildctl}, built with
# `go build` in a writable copy of the module (`go install` refuses the
# module: its go.mod has exclude directives); about 6 minutes on 2 cores,
# then reused. Nothing built here belongs in the repository.
# buildkitd: runc worker only (no containerd), its own root under
# $BUILDKIT_DIR/root, a unix socket only (no TCP), and the local registry
# (REGISTRY_ADDR, default 127.0.0.1:5000, plain HTTP) as the docker.io
# mirror: ../shared/peers/setup.sh starts it and bases.sh pushes busybox and
# debian:bookworm-slim to it. Idempotent: a running buildkitd that answers
# on the socket is reused.
#
#   env: BUILDKIT_VERSION (default v0.34.2)
#        BUILDKIT_DIR     (default /var/tmp/strata-buildkit/$BUILDKIT_VERSION)
#        BUILDKIT_SOCK    (default /run/strata-buildkit/buildkitd.sock)
#        REGISTRY_ADDR    (default 127.0.0.1:5000)
set -euo pipefail

VERSION=${BUILDKIT_VERSION:-v0.34.2}
DIR=${BUILDKIT_DIR:-/var/tmp/strata-buildkit/$VERSION}
SOCK=${BUILDKIT_SOCK:-/run/strata-buildkit/buildkitd.sock}
REGISTRY=${REGISTRY_ADDR:-127.0.0.1:5000}
ADDR=unix://$SOCK
BIN=$DIR/bin
export PATH="/usr/local/go/bin:$PATH"

die() { echo "buildkit: $*" >&2; exit 2; }
log() { echo "buildkit: $*" >&2; }

build() {
  [[ -x $BIN/buildkitd && -x $BIN/buildctl ]] && return 0
  local start src mod
  start=$(date +%s)
  log "building buildkitd and buildctl $VERSION once (about 6 minutes; log: $DIR/build.log)"
  mkdir -p "$DIR"
  mod=$(go mod download -json "github.com/moby/buildkit@$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -n $mod && -d $mod ]] || die "go mod download github.com/moby/buildkit@$VERSION gave no module directory"
  src=$DIR/src
  rm -rf "$src" "$BIN.tmp"
  cp -r "$mod" "$src"
  chmod -R u+w "$src"
  if ! (cd "$src" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -o "$BIN.tmp/" ./cmd/buildkitd ./cmd/buildctl) > "$DIR/build.log" 2>&1; then
    tail -20 "$DIR/build.log" >&2
    die "building BuildKit $VERSION failed"
  fi
  rm -rf "$BIN" && mv "$BIN.tmp" "$BIN"
  rm -rf "$src"
  log "built in $(( $(date +%s) - start ))s"
}

answers() { "$BIN/buildctl" --addr "$ADDR" debug workers > /dev/null 2>&1; }

# config prints buildkitd.toml. The registry: http only, not insecure
# (insecure means HTTPS without verification; the docs: "Do not enable this
# together with http"). network.host may be granted (buildctl --allow), as
# dockerd's BuildKit grants it, for RUN --network=host.
config() {
  cat <<EOF
root = "$DIR/root"
insecure-entitlements = ["network.host"]

[grpc]
  address = ["$ADDR"]

[worker.oci]
  enabled = true
  gc = true

[worker.containerd]
  enabled = false

[registry."docker.io"]
  mirrors = ["$REGISTRY"]

[registry."$REGISTRY"]
  http = true
EOF
}

start() {
  build
  if answers && [[ "$(config)" != "$(cat "$DIR/buildkitd.toml" 2> /dev/null)" ]]; then
    log "restarting buildkitd: its configuration changed"
    stop
  fi
  if answers; then
    log "reusing the buildkitd on $ADDR"
  else
    [[ $(id -u) == 0 ]] || die "must run as root (buildkitd with the runc worker)"
    command -v runc > /dev/null || die "runc is missing (scripts/setup.sh installs it)"
    mkdir -p "$DIR/root" "$(dirname "$SOCK")"
    config > "$DIR/buildkitd.toml"
    log "starting buildkitd $VERSION on $ADDR (log: $DIR/buildkitd.log)"
    setsid "$BIN/buildkitd" --config "$DIR/buildkitd.toml" --root "$DIR/root" --addr "$ADDR" \
      --oci-worker=true --containerd-worker=false < /dev/null > "$DIR/buildkitd.log" 2>&1 &
    echo $! > "$DIR/buildkitd.pid"
    for _ in $(seq 120); do
      answers && break
      kill -0 "$(cat "$DIR/buildkitd.pid")" 2> /dev/null || { tail -20 "$DIR/buildkitd.log" >&2; die "buildkitd exited"; }
      sleep 0.5
    done
    answers || { tail -20 "$DIR/buildkitd.log" >&2; die "buildkitd does not answer on $ADDR"; }
  fi
  "$BIN/buildctl" --addr "$ADDR" debug workers >&2
  echo "$ADDR"
}

stop() {
  [[ -f $DIR/buildkitd.pid ]] || return 0
  local pid
  pid=$(cat "$DIR/buildkitd.pid")
  if kill -0 "$pid" 2> /dev/null; then
    kill "$pid"
    while kill -0 "$pid" 2> /dev/null; do sleep 0.2; done
  fi
  rm -f "$DIR/buildkitd.pid"
}

case ${1:-start} in
  start) start ;;
  build) build ;;
  stop) stop ;;
  *) die "usage: $0 [start|build|stop]" ;;
esac
