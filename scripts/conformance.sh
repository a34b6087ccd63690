#!/usr/bin/env bash
# conformance.sh - build every case of test/conformance with strata and with
# the reference, compare the images, print one line per case and finally
# "N passed, M failed" (", K known" when cases marked as known divergences
# did not pass). Exit 0 only if nothing failed.
#
# The reference is BuildKit v0.34.2 through buildctl (scripts/buildkit.sh
# builds it once per machine, about 6 minutes, and starts buildkitd);
# REFERENCE=docker compares with Debian's docker.io 20.10 (BuildKit 0.8)
# instead, the reference until issue 13.
#
# Needs root on Debian 12. Installs and starts what it needs through the peer
# scripts beside the repository (../shared/peers/setup.sh and bases.sh):
# dockerd, a registry on 127.0.0.1:5000, and the busybox and
# debian:bookworm-slim base images, which both builders then use.
#
#   env: REFERENCE     buildkit (default) or docker
#        CONFORMANCE_WORK (default /var/tmp/strata-conformance)  logs, outputs,
#          results/<case>.txt with every difference, buildkit-cache/ and
#          docker-cache/ (the reference's results keyed by case content, its
#          version and the base images, so reruns only build with strata)
#        PEERS_SCRIPTS (default <repo>/../shared/peers)
#        STRATA_BIN    use this strata binary instead of building ./cmd/strata
#        BUILDKIT_*    see scripts/buildkit.sh
#   args: passed to the driver, e.g. -run 'from-|copy-' or -jobs 1
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
PEERS_SCRIPTS=${PEERS_SCRIPTS:-$(dirname "$REPO")/shared/peers}
WORK=${CONFORMANCE_WORK:-/var/tmp/strata-conformance}
REGISTRY=${REGISTRY_ADDR:-127.0.0.1:5000}
DOCKER=/usr/bin/docker   # the Debian 20.10 client with BuildKit, not /usr/local/bin/docker
REFERENCE=${REFERENCE:-buildkit}
export PATH="/usr/local/go/bin:$PATH"

die() { echo "conformance: $*" >&2; exit 2; }
[[ $(id -u) == 0 ]] || die "must run as root (dockerd, RUN sandboxes)"
for s in setup.sh bases.sh; do
  [[ -x $PEERS_SCRIPTS/$s ]] || die "missing $PEERS_SCRIPTS/$s: the peer scripts must sit beside the repository (../shared/peers) or PEERS_SCRIPTS must point to them"
done
[[ $REFERENCE == buildkit || $REFERENCE == docker ]] || die "REFERENCE must be buildkit or docker, not $REFERENCE"
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

# busybox:multiarch, an index of linux/amd64 (busybox:latest as it is) and
# linux/arm64 (the same tree with Debian's busybox-static:arm64), made and
# pushed to the registry with strata, for the cases that run a RUN of a
# foreign platform under QEMU ("requires": ["busybox:multiarch"]); the
# driver keys those cases' reference results on its digest.
# Without apt's arm64 lists (dpkg --add-architecture arm64 && apt-get
# update, as scripts/setup.sh does) it is not made and those cases are
# skipped.
multiarch_busybox() {
  local dir=$WORK/busybox-multiarch ctx bb applets
  ctx=$dir/ctx
  mkdir -p "$dir/deb"
  if [[ ! -x $dir/busybox-arm64 ]]; then
    rm -rf "$dir/deb"/* "$dir/x"
    (cd "$dir/deb" && apt-get download -q busybox-static:arm64) > "$dir/download.log" 2>&1 || {
      echo "conformance: no busybox-static:arm64 (see $dir/download.log; dpkg --add-architecture arm64 && apt-get update): busybox:multiarch cases are skipped" >&2
      return 0; }
    dpkg-deb -x "$dir"/deb/*.deb "$dir/x" && cp "$dir/x/bin/busybox" "$dir/busybox-arm64" || return 1
  fi
  rm -rf "$ctx"; mkdir -p "$ctx/arm64"
  bb=$ctx/arm64
  mkdir -p "$bb"/{bin,etc,root,tmp,var/tmp,home,dev,proc,sys,usr/bin,usr/sbin,sbin}
  chmod 1777 "$bb/tmp" "$bb/var/tmp"; chmod 700 "$bb/root"
  cp "$dir/busybox-arm64" "$bb/bin/busybox"
  # the applets: the arm64 binary's own list under QEMU, else the host's
  # busybox-static (the same Debian build configuration)
  applets=$("$bb/bin/busybox" --list 2> /dev/null) || applets=$(/bin/busybox --list)
  for a in $applets; do [[ $a == busybox ]] || ln -f "$bb/bin/busybox" "$bb/bin/$a"; done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' > "$bb/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$bb/etc/group"
  cat > "$ctx/Dockerfile" <<'DOCKERFILE'
FROM --platform=linux/amd64 busybox:latest AS amd64
FROM scratch AS arm64
COPY arm64/ /
CMD ["sh"]
FROM $TARGETARCH
DOCKERFILE
  "$STRATA" --root "$WORK/root" --registry-mirror "$REGISTRY" build --progress=plain \
    --platform linux/amd64,linux/arm64 -t "$REGISTRY/library/busybox:multiarch" --push "$ctx" > "$dir/build.log" 2>&1 || {
    tail -20 "$dir/build.log" >&2; return 1; }
}
echo "conformance: busybox:multiarch (log: $WORK/busybox-multiarch/build.log)" >&2
multiarch_busybox || die "making busybox:multiarch failed"

# The digest BuildKit resolves a base image to in the registry.
registry_digest() {
  curl -fsSI -H 'Accept: application/vnd.oci.image.index.v1+json' \
    -H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json' \
    -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$REGISTRY/v2/library/$1/manifests/$2" | tr -d '\r' | sed -n 's/^docker-content-digest: *//Ip'
}

# What decides the reference's result besides the case: its version and the bases.
if [[ $REFERENCE == buildkit ]]; then
  echo "conformance: BuildKit (log: $WORK/buildkit.log)" >&2
  if ! addr=$(REGISTRY_ADDR=$REGISTRY "$REPO/scripts/buildkit.sh" start 2> "$WORK/buildkit.log"); then
    tail -30 "$WORK/buildkit.log" >&2
    die "building or starting BuildKit failed"
  fi
  bkdir=${BUILDKIT_DIR:-/var/tmp/strata-buildkit/${BUILDKIT_VERSION:-v0.34.2}}
  salt="buildkit $("$bkdir/bin/buildctl" --version) config $(sha256sum < "$bkdir/buildkitd.toml")"
  for img in busybox:latest debian:bookworm-slim; do
    d=$(registry_digest "${img%%:*}" "${img#*:}") || die "resolving $img in $REGISTRY failed"
    salt+=" $img=$d"
  done
  refargs=(-reference buildkit -buildctl "$bkdir/bin/buildctl" -buildkit-addr "$addr")
else
  salt="docker $($DOCKER version -f '{{.Server.Version}}')"
  for img in busybox:latest debian:bookworm-slim; do
    salt+=" $img=$($DOCKER image inspect -f '{{.Id}}' "$img")"
  done
  refargs=(-reference docker -docker "$DOCKER")
fi

# A static HTTP server on 127.0.0.1 for the cases that ADD a URL: it serves
# test/conformance itself, so a case's remote files sit in its own directory
# (http://127.0.0.1:$HTTP_PORT/<case>/<file>). Stopped when this script exits.
HTTP_PORT=${CONFORMANCE_HTTP_PORT:-5081}
[[ -x /usr/bin/python3 ]] || die "/usr/bin/python3 is missing (the HTTP server for ADD <url> cases)"
/usr/bin/python3 -m http.server --bind 127.0.0.1 --directory "$REPO/test/conformance" "$HTTP_PORT" \
  < /dev/null > "$WORK/http.log" 2>&1 &
http_pid=$!
trap 'kill "$http_pid" 2> /dev/null || true' EXIT
for _ in $(seq 50); do
  curl -fsS -o /dev/null "http://127.0.0.1:$HTTP_PORT/README.md" 2> /dev/null && break
  kill -0 "$http_pid" 2> /dev/null || { cat "$WORK/http.log" >&2; die "the HTTP server on 127.0.0.1:$HTTP_PORT exited"; }
  sleep 0.1
done

# Git repositories for the cases that ADD a git URL, served by git daemon
# on 127.0.0.1 (git://127.0.0.1:$GIT_PORT/app.git). Made here with a fixed
# author and fixed dates, so every run makes the same commits: main (v1,
# then v2, which changes README and deletes sub/deep/f.txt), the tags v1
# and v1-annotated on v1, and the branch feature on v1 with feature.txt.
GIT_PORT=${CONFORMANCE_GIT_PORT:-5082}
make_git_repos() (
  local src=$WORK/git-src
  rm -rf "$src" "$WORK/git"
  mkdir -p "$src" "$WORK/git"
  export GIT_AUTHOR_NAME=conformance GIT_AUTHOR_EMAIL=conformance@example.invalid \
    GIT_COMMITTER_NAME=conformance GIT_COMMITTER_EMAIL=conformance@example.invalid \
    GIT_AUTHOR_DATE=2024-01-01T00:00:00Z GIT_COMMITTER_DATE=2024-01-01T00:00:00Z \
    GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
  g() { git -C "$src" "$@"; }
  g -c init.defaultBranch=main init -q
  printf 'hello v1\n' > "$src/README"
  mkdir -p "$src/sub/deep"
  printf 'sub file\n' > "$src/sub/deep/f.txt"
  printf 'top of sub\n' > "$src/sub/top.txt"
  printf '#!/bin/sh\necho run\n' > "$src/run.sh"
  chmod 755 "$src/run.sh"
  ln -s README "$src/link"
  g add -A && g commit -qm v1 && g tag v1 && g tag -a -m annotated v1-annotated
  g checkout -qb feature && printf 'feature\n' > "$src/feature.txt" && g add -A && g commit -qm feature
  g checkout -q main && printf 'hello v2\n' > "$src/README" && g rm -q sub/deep/f.txt && g commit -qam v2
  git clone -q --bare "$src" "$WORK/git/app.git"
)
make_git_repos > "$WORK/git.log" 2>&1 || { cat "$WORK/git.log" >&2; die "making the git repositories failed"; }
salt+=" git=$(git -C "$WORK/git/app.git" for-each-ref --format='%(objectname) %(refname)' | sha256sum | cut -c1-16)"
git daemon --reuseaddr --export-all --base-path="$WORK/git" --listen=127.0.0.1 --port="$GIT_PORT" \
  --informative-errors "$WORK/git" < /dev/null > "$WORK/git-daemon.log" 2>&1 &
git_pid=$!
trap 'kill "$http_pid" "$git_pid" 2> /dev/null || true' EXIT
for _ in $(seq 50); do
  git ls-remote "git://127.0.0.1:$GIT_PORT/app.git" > /dev/null 2>&1 && break
  kill -0 "$git_pid" 2> /dev/null || { cat "$WORK/git-daemon.log" >&2; die "git daemon on 127.0.0.1:$GIT_PORT exited"; }
  sleep 0.1
done

echo "conformance: running the corpus against $REFERENCE (setup took $(( $(date +%s) - start ))s)" >&2
cd "$REPO"
"$WORK/conformance-run" -corpus test/conformance -strata "$STRATA" "${refargs[@]}" \
  -root "$WORK/root" -work "$WORK" -registry-mirror "$REGISTRY" -salt "$salt" "$@"
