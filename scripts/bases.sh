#!/usr/bin/env bash
# bases.sh - the base images the examples name, made here by strata (no
# container registry is reachable from this machine), served from a local
# registry that strata uses as its docker.io mirror.
#
#   debian:bookworm-slim                  debootstrap --variant=minbase, slimmed like the official image, strata import
#   golang:1.26-bookworm                  bases/golang      (host /usr/local/go through --build-context goroot=)
#   node:18-bookworm-slim                 bases/node        (Debian's nodejs 18 + npm)
#     both also trust this machine's own CAs (/usr/local/share/ca-certificates,
#     --build-context hostca=): an egress proxy here re-signs TLS
#   python:3.11-slim-bookworm             bases/python      (Debian's python3.11, venv, pip)
#   maven:3-eclipse-temurin-17            bases/maven       (Debian's openjdk-17-jdk-headless + maven + plugins)
#   eclipse-temurin:17-jre                bases/jre         (Debian's openjdk-17-jre-headless)
#   gcr.io/distroless/static-debian12     bases/distroless  --target static   (tag :nonroot)
#   gcr.io/distroless/nodejs18-debian12   bases/distroless  --target nodejs18 (tag :nonroot)
#
# Every image is labelled dev.strata.stand-in=true. They are built in their
# own store ($BASES_DIR/store) and pushed to Debian's docker-registry, started
# here on 127.0.0.1:$BASES_PORT (own config, no auth) as
# 127.0.0.1:5001/library/<name>:<tag> and 127.0.0.1:5001/distroless/<name>:<tag>.
# Build with `strata --registry-mirror 127.0.0.1:5001 build ...`: docker.io
# names come through the mirror. Mirrors serve docker.io only, so when
# STRATA_ROOT is set the gcr.io images are also pulled into that store and
# tagged with their gcr.io names (and stale copies of the others refreshed).
#
# Idempotent: images already in the registry are rebuilt only when their
# store is here (a cached no-op) and pushed only when they changed.
# FORCE=1 redoes debootstrap and every build.
# Env: BASES_DIR (/var/tmp/strata-bases), BASES_PORT (5001), STRATA (./bin/strata),
#      GOROOT_HOST (/usr/local/go), MIRROR (the one apt uses).
set -euo pipefail
cd "$(dirname "$0")/.."

BASES_DIR=${BASES_DIR:-/var/tmp/strata-bases}
PORT=${BASES_PORT:-5001}
REG=127.0.0.1:$PORT
S=${STRATA:-./bin/strata}
GOROOT_HOST=${GOROOT_HOST:-/usr/local/go}
FORCE=${FORCE:-0}
BROOT=$BASES_DIR/store
SUITE=bookworm

log() { printf '[bases %(%T)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (debootstrap, RUN sandbox)"
[ -x "$S" ] || die "no strata binary at $S (make build)"
mkdir -p "$BASES_DIR"/{rootfs,registry,logs}
# One run at a time: two at once wreck each other's debootstrap.
exec 9>"$BASES_DIR/.lock"
flock 9
bs() { "$S" --root "$BROOT" "$@"; }

# ------------------------------------------------------------ registry on 127.0.0.1:$PORT
start_registry() {
  curl -fs -o /dev/null "http://$REG/v2/" && return 0
  command -v docker-registry >/dev/null || {
    log "installing docker-registry"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-registry >/dev/null
  }
  cat > "$BASES_DIR/registry/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $BASES_DIR/registry/data
  delete:
    enabled: true
http:
  addr: $REG
EOF
  log "starting docker-registry on $REG (data in $BASES_DIR/registry/data)"
  setsid nohup docker-registry serve "$BASES_DIR/registry/config.yml" \
    >"$BASES_DIR/logs/registry.log" 2>&1 < /dev/null &
  echo $! > "$BASES_DIR/registry.pid"
  for _ in $(seq 50); do curl -fs -o /dev/null "http://$REG/v2/" && return 0; sleep 0.1; done
  die "registry did not start: $(tail -5 "$BASES_DIR/logs/registry.log")"
}

# remote_config REPO TAG: the config digest the registry has, or nothing.
remote_config() {
  curl -fs -H 'Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' \
    "http://$REG/v2/$1/manifests/$2" 2>/dev/null | jq -r '.config.digest // empty' 2>/dev/null || true
}
local_config() { bs inspect "$1" 2>/dev/null | jq -r '.[0].ConfigDigest // empty' 2>/dev/null || true; }

# publish NAME REMOTE_REPO TAG BUILD_CMD...: build (or reuse) NAME in the
# bases store and push it to $REG/REMOTE_REPO:TAG when it differs.
publish() {
  local name=$1 repo=$2 tag=$3; shift 3
  local have; have=$(remote_config "$repo" "$tag")
  if [ "$FORCE" != 1 ] && [ -n "$have" ] && [ -z "$(local_config "$name")" ]; then
    log "$REG/$repo:$tag present"
    return 0
  fi
  log "building $name"
  local t0=$SECONDS
  local logf=$BASES_DIR/logs/${repo//\//_}.log
  if ! "$@" > "$logf" 2>&1; then
    [ "${PROGRESS:-quiet}" = quiet ] && "${@/--progress=quiet/--progress=plain}" >> "$logf" 2>&1
    tail -40 "$logf"
    die "building $name (log: $logf)"
  fi
  local want; want=$(local_config "$name")
  if [ "$have" = "$want" ]; then
    log "$REG/$repo:$tag up to date ($((SECONDS - t0)) s)"
  else
    log "pushing $REG/$repo:$tag ($((SECONDS - t0)) s to build)"
    bs push "$name" "$REG/$repo:$tag" >/dev/null
  fi
}

# ------------------------------------------------------------ 1. debootstrap (cached)
detect_mirror() {
  local m
  m=$(grep -hE '^\s*URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v -- '-security' | head -1 || true)
  [ -n "$m" ] || m=$(grep -hE '^\s*deb\s' /etc/apt/sources.list 2>/dev/null | grep -v -- '-security' | awk '{print $2}' | head -1 || true)
  echo "${m:-http://deb.debian.org/debian}"
}
ROOTFS=$BASES_DIR/rootfs/$SUITE-slim
make_rootfs() {
  local mirror=${MIRROR:-$(detect_mirror)}
  command -v debootstrap >/dev/null || die "debootstrap missing (scripts/setup.sh)"
  rm -rf "$ROOTFS"
  if [ "$FORCE" = 1 ] || [ ! -f "$ROOTFS.tmp/.debootstrap-ok" ]; then
    log "debootstrap --variant=minbase $SUITE from $mirror (about a minute)"
    rm -rf "$ROOTFS.tmp"
    debootstrap --variant=minbase "$SUITE" "$ROOTFS.tmp" "$mirror" > "$BASES_DIR/logs/debootstrap.log" 2>&1 \
      || { tail -20 "$BASES_DIR/logs/debootstrap.log"; die debootstrap; }
    touch "$ROOTFS.tmp/.debootstrap-ok"
  fi
  local r=$ROOTFS.tmp
  # slim it like the official *-slim images (debuerreotype)
  cat > "$r/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
EOF
  echo force-unsafe-io > "$r/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
  cat > "$r/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'Acquire::GzipIndexes "true";' > "$r/etc/apt/apt.conf.d/docker-gzip-indexes"
  echo 'Acquire::Languages "none";' > "$r/etc/apt/apt.conf.d/docker-no-languages"
  echo 'Apt::AutoRemove::SuggestsImportant "false";' > "$r/etc/apt/apt.conf.d/docker-autoremove-suggests"
  # the mirror here may be a dated snapshot
  printf 'Acquire::Check-Valid-Until "false";\n' > "$r/etc/apt/apt.conf.d/99-stand-in-no-check-valid-until"
  rm -f "$r/etc/apt/sources.list"
  cat > "$r/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror%/debian}/debian-security
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  ( cd "$r"
    find usr/share/doc -mindepth 1 -not -type d -not -name copyright -delete
    find usr/share/doc -mindepth 1 -type d -empty -delete
    rm -rf usr/share/man/* usr/share/groff/* usr/share/info/* usr/share/lintian/* usr/share/linda/*
    find usr/share/locale -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
    rm -rf var/cache/apt/archives/*.deb var/cache/apt/*.bin var/lib/apt/lists/* var/log/apt/* \
           var/cache/debconf/*-old var/cache/ldconfig/aux-cache dev/* proc/* sys/* tmp/* run/*
    find var/log -type f -delete
    : > etc/machine-id
    rm -f etc/hostname etc/resolv.conf etc/hosts .debootstrap-ok )
  mv "$ROOTFS.tmp" "$ROOTFS"
  date +%s > "$ROOTFS.epoch"
}
start_registry

import_debian() {
  # keep the image we have (downstream caches key on it)
  [ "$FORCE" != 1 ] && [ -n "$(local_config "debian:$SUITE-slim")" ] && return 0
  if [ "$FORCE" = 1 ] || [ ! -d "$ROOTFS" ]; then make_rootfs; fi
  # stamped with the time of the debootstrap, so re-importing the same tree
  # gives the same image
  [ -f "$ROOTFS.epoch" ] || date +%s > "$ROOTFS.epoch"
  tar -C "$ROOTFS" --numeric-owner --sort=name --mtime=@0 -cf - . \
    | SOURCE_DATE_EPOCH=$(cat "$ROOTFS.epoch") bs import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["bash"]' \
        --change 'LABEL org.opencontainers.image.title="debian:bookworm-slim (local stand-in)" dev.strata.stand-in="true"' \
        - "debian:$SUITE-slim"
}
publish "debian:$SUITE-slim" library/debian "$SUITE-slim" import_debian
# the other bases start FROM it: make sure the bases store has it
if [ -z "$(local_config "debian:$SUITE-slim")" ]; then
  bs pull "$REG/library/debian:$SUITE-slim" >/dev/null
  bs tag "$REG/library/debian:$SUITE-slim" "debian:$SUITE-slim"
fi
# --progress=quiet by default: plain progress can crash when a RUN writes to
# stdout and stderr at once (strata bug, see examples/README.md); on failure
# the build is rerun with plain progress to show the log
BB=(bs --registry-mirror "$REG" build "--progress=${PROGRESS:-quiet}")

# this machine's own CAs: an egress proxy may re-sign TLS (npm, the Go proxy)
HOSTCA=$BASES_DIR/hostca
mkdir -p "$HOSTCA"
find "$HOSTCA" -mindepth 1 -delete
find /usr/local/share/ca-certificates -maxdepth 1 -name '*.crt' -exec cp {} "$HOSTCA/" \; 2>/dev/null || true

[ -x "$GOROOT_HOST/bin/go" ] || die "no Go toolchain at $GOROOT_HOST"
GOVER=$("$GOROOT_HOST/bin/go" env GOVERSION)
publish golang:1.26-bookworm library/golang 1.26-bookworm \
  "${BB[@]}" --build-context "goroot=$GOROOT_HOST" --build-context "hostca=$HOSTCA" --build-arg "GOLANG_VERSION=${GOVER#go}" -t golang:1.26-bookworm bases/golang
publish node:18-bookworm-slim library/node 18-bookworm-slim "${BB[@]}" --build-context "hostca=$HOSTCA" -t node:18-bookworm-slim bases/node
publish python:3.11-slim-bookworm library/python 3.11-slim-bookworm "${BB[@]}" -t python:3.11-slim-bookworm bases/python
publish maven:3-eclipse-temurin-17 library/maven 3-eclipse-temurin-17 "${BB[@]}" -t maven:3-eclipse-temurin-17 bases/maven
publish eclipse-temurin:17-jre library/eclipse-temurin 17-jre "${BB[@]}" -t eclipse-temurin:17-jre bases/jre
publish gcr.io/distroless/static-debian12:nonroot distroless/static-debian12 nonroot \
  "${BB[@]}" --target static -t gcr.io/distroless/static-debian12:nonroot bases/distroless
publish gcr.io/distroless/nodejs18-debian12:nonroot distroless/nodejs18-debian12 nonroot \
  "${BB[@]}" --target nodejs18 -t gcr.io/distroless/nodejs18-debian12:nonroot bases/distroless

# ------------------------------------------------------------ the caller's store
# gcr.io names are pulled into $STRATA_ROOT and tagged (mirrors serve docker.io
# only); docker.io names it already has are refreshed when the registry's differ
# (the store comes first when resolving FROM)
if [ -n "${STRATA_ROOT:-}" ] && [ "$STRATA_ROOT" != "$BROOT" ]; then
  for pair in gcr.io/distroless/static-debian12:nonroot=distroless/static-debian12:nonroot \
              gcr.io/distroless/nodejs18-debian12:nonroot=distroless/nodejs18-debian12:nonroot \
              debian:$SUITE-slim=library/debian:$SUITE-slim \
              golang:1.26-bookworm=library/golang:1.26-bookworm \
              node:18-bookworm-slim=library/node:18-bookworm-slim \
              python:3.11-slim-bookworm=library/python:3.11-slim-bookworm \
              maven:3-eclipse-temurin-17=library/maven:3-eclipse-temurin-17 \
              eclipse-temurin:17-jre=library/eclipse-temurin:17-jre; do
    name=${pair%%=*} remote=${pair#*=}
    got=$("$S" inspect "$name" 2>/dev/null | jq -r '.[0].ConfigDigest // empty' 2>/dev/null || true)
    [ -n "$got" ] || [ "${name#gcr.io/}" != "$name" ] || continue
    want=$(remote_config "${remote%%:*}" "${remote#*:}")
    if [ "$want" != "$got" ]; then
      log "pulling $name into $STRATA_ROOT (from $REG)"
      "$S" pull "$REG/$remote" >/dev/null
      "$S" tag "$REG/$remote" "$name"
    fi
  done
fi
log "bases ready on $REG (strata --registry-mirror $REG)"
