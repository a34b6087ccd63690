#!/usr/bin/env bash
# bases.sh - the base images the examples name, made here by strata (no
# container registry is reachable from this machine), served from a local
# registry that strata uses as its docker.io mirror.
#
#   debian:bookworm-slim                  debootstrap --variant=minbase, slimmed like the official image, strata import;
#                                         multi-platform: + arm64 (debootstrap --arch=arm64, bases/debian)
#   busybox:1.35, busybox:latest          bases/busybox     (Debian's busybox-static; multi-platform)
#   golang:1.26-bookworm                  bases/golang      (host /usr/local/go through --build-context goroot=)
#   node:18-bookworm-slim                 bases/node        (Debian's nodejs 18 + npm)
#     both also trust this machine's own CAs (/usr/local/share/ca-certificates,
#     --build-context hostca=): an egress proxy here re-signs TLS
#   python:3.11-slim-bookworm             bases/python      (Debian's python3.11, venv, pip)
#   maven:3-eclipse-temurin-17            bases/maven       (Debian's openjdk-17-jdk-headless + maven + plugins)
#   eclipse-temurin:17-jre                bases/jre         (Debian's openjdk-17-jre-headless)
#   gcr.io/distroless/static-debian12     bases/distroless  --target static   (tag :nonroot; multi-platform)
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
# Multi-platform (linux/amd64 + linux/arm64, as the official images): each
# platform's image is published as REPO:TAG-<arch> (in the bases store: the
# host's as NAME, another's as NAME-<arch>), then REPO:TAG is made an OCI
# index of them, the registry's manifests by digest, each entry with its
# config's platform (what `docker buildx imagetools create` makes). The
# amd64 entries are the images published before (the same digests: caches
# downstream key on them). The arm64 Debian tree is debootstrapped with
# --arch=arm64, its second stage under QEMU user emulation (binfmt_misc,
# scripts/setup.sh), and cached beside the amd64 one; busybox and distroless
# static download the arm64 packages from a stage on the build platform,
# so nothing else runs emulated. golang, node, python, maven, temurin and
# distroless nodejs18 stay amd64 only: cross-compiling Dockerfiles run them
# on $BUILDPLATFORM. Without arm64 emulation (or with ARCHES=amd64) every
# image is amd64 only, published under its plain tag as before.
# gcr.io names: the caller's store ($STRATA_ROOT) gets every platform of
# them; $BASES_DIR/registries.conf maps gcr.io/distroless to this registry
# (CONTAINERS_REGISTRIES_CONF=that file), so any store resolves them there.
#
# Idempotent: images already in the registry are rebuilt only when their
# store is here (a cached no-op) and pushed only when they changed.
# FORCE=1 redoes debootstrap and every build.
# Env: BASES_DIR (/var/tmp/strata-bases), BASES_PORT (5001), STRATA (./bin/strata),
#      GOROOT_HOST (/usr/local/go), MIRROR (the one apt uses),
#      ARCHES (Debian architectures, "amd64 arm64"; the host's first).
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
HOSTARCH=$(dpkg --print-architecture)
ARCHES=${ARCHES:-$HOSTARCH arm64}

# fd 8: the caller's stderr, where log goes even while a build's output goes
# to its log file
exec 8>&2
log() { printf '[bases %(%T)T] %s\n' -1 "$*" >&8; }
die() { log "ERROR: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (debootstrap, RUN sandbox)"
[ -x "$S" ] || die "no strata binary at $S (make build)"
mkdir -p "$BASES_DIR"/{rootfs,registry,logs}
# One run at a time: two at once wreck each other's debootstrap. (.lock was
# the lock file of versions whose registry inherited the locked descriptor
# and held it for ever.)
exec 9>"$BASES_DIR/.run.lock"
flock 9
bs() { "$S" --root "$BROOT" "$@"; }
# foreign architectures need their binaries to run here (debootstrap's
# second stage): QEMU user emulation registered in binfmt_misc
qemu_arch() { case $1 in arm64) echo aarch64 ;; armhf|armel) echo arm ;; ppc64el) echo ppc64le ;; i386) echo i386 ;; *) echo "$1" ;; esac; }
keep=()
for a in $ARCHES; do
  if [ "$a" = "$HOSTARCH" ] || [ "$(head -1 "/proc/sys/fs/binfmt_misc/qemu-$(qemu_arch "$a")" 2>/dev/null)" = enabled ]; then
    [[ " ${keep[*]} " == *" $a "* ]] || keep+=("$a")
  else
    log "WARNING: no emulation for $a (binfmt_misc qemu-$(qemu_arch "$a"); scripts/setup.sh): its images are skipped"
  fi
done
[[ " ${keep[*]} " == *" $HOSTARCH "* ]] || keep=("$HOSTARCH" "${keep[@]}")
ARCHES="${keep[*]}"

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
  # 9>&- 8>&-: the registry outlives this run and must hold neither its
  # lock nor the caller's stderr
  setsid nohup docker-registry serve "$BASES_DIR/registry/config.yml" \
    >"$BASES_DIR/logs/registry.log" 2>&1 < /dev/null 9>&- 8>&- &
  echo $! > "$BASES_DIR/registry.pid"
  for _ in $(seq 50); do curl -fs -o /dev/null "http://$REG/v2/" && return 0; sleep 0.1; done
  die "registry did not start: $(tail -5 "$BASES_DIR/logs/registry.log")"
}

ACCEPT='application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json'
# remote_manifest REPO REF: the manifest or index the registry has (exact bytes), or nothing.
remote_manifest() { curl -fs -H "Accept: $ACCEPT" "http://$REG/v2/$1/manifests/$2" 2>/dev/null || true; }
# remote_config REPO TAG [ARCH]: the config digest the registry has, or
# nothing; of ARCH's entry (default the host's) when TAG is an index.
remote_config() {
  local m d
  m=$(remote_manifest "$1" "$2")
  d=$(jq -r --arg a "${3:-$HOSTARCH}" 'select(.manifests) | [.manifests[] | select(.platform.architecture == $a)][0].digest // empty' <<< "$m" 2>/dev/null || true)
  [ -n "$d" ] && m=$(remote_manifest "$1" "$d")
  jq -r '.config.digest // empty' <<< "$m" 2>/dev/null || true
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
  local logf=$BASES_DIR/logs/${repo//\//_}-$tag.log
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

# oci_platform ARCH: the platform of Debian's architecture ARCH
oci_platform() { case $1 in armhf) echo linux/arm/v7 ;; armel) echo linux/arm/v6 ;; i386) echo linux/386 ;; ppc64el) echo linux/ppc64le ;; *) echo "linux/$1" ;; esac; }
# arch_name NAME ARCH: NAME's ARCH image in the bases store
arch_name() { if [ "$2" = "$HOSTARCH" ]; then echo "$1"; else echo "$1-$2"; fi; }

# alias_tag REPO TAG ALIAS: REPO:ALIAS is what REPO:TAG is (the same manifest bytes)
alias_tag() {
  local tmp; tmp=$(mktemp -d)
  curl -fs -H "Accept: $ACCEPT" -D "$tmp/h" -o "$tmp/m" "http://$REG/v2/$1/manifests/$2" || die "no $REG/$1:$2"
  curl -fs -H "Accept: $ACCEPT" -o "$tmp/old" "http://$REG/v2/$1/manifests/$3" || : > "$tmp/old"
  if ! cmp -s "$tmp/m" "$tmp/old"; then
    curl -fsS -X PUT -H "Content-Type: $(tr -d '\r' < "$tmp/h" | awk -F': ' 'tolower($1) == "content-type" {print $2}')" \
      --data-binary "@$tmp/m" "http://$REG/v2/$1/manifests/$3" || die "tagging $REG/$1:$3"
    log "$REG/$1:$3 is now $REG/$1:$2"
  fi
  rm -rf "$tmp"
}

# publish_platforms NAME REPO TAG FN: NAME for every arch of $ARCHES, made by
# `FN ARCH` (in the bases store the host's is NAME, another's NAME-ARCH),
# published as REPO:TAG-ARCH, then REPO:TAG as the index of them; with the
# host's arch alone, NAME is published as REPO:TAG.
publish_platforms() {
  local name=$1 repo=$2 tag=$3 fn=$4 a
  if [ "$ARCHES" = "$HOSTARCH" ]; then
    publish "$name" "$repo" "$tag" "$fn" "$HOSTARCH"
    return
  fi
  for a in $ARCHES; do
    publish "$(arch_name "$name" "$a")" "$repo" "$tag-$a" "$fn" "$a"
  done
  publish_index "$repo" "$tag" $ARCHES
}

# publish_index REPO TAG ARCH...: makes REPO:TAG the OCI index of the
# manifests REPO:TAG-ARCH (by digest, each with its config's platform) when
# it is not already that index.
publish_index() {
  local repo=$1 tag=$2 a m cfg plat entries=() tmp
  shift 2
  tmp=$(mktemp -d)
  for a; do
    curl -fs -H "Accept: $ACCEPT" -o "$tmp/m" "http://$REG/v2/$repo/manifests/$tag-$a" || die "no $REG/$repo:$tag-$a"
    cfg=$(jq -r .config.digest "$tmp/m")
    plat=$(curl -fsL "http://$REG/v2/$repo/blobs/$cfg" | jq -c '{architecture, os} + (if (.variant // "") != "" then {variant} else {} end)') \
      || die "reading the config of $REG/$repo:$tag-$a"
    entries+=("$(jq -c --arg d "sha256:$(sha256sum < "$tmp/m" | cut -d' ' -f1)" --argjson size "$(stat -c %s "$tmp/m")" \
      --argjson p "$plat" '{mediaType: (.mediaType // "application/vnd.oci.image.manifest.v1+json"), digest: $d, size: $size, platform: $p}' "$tmp/m")")
  done
  printf '%s\n' "${entries[@]}" | jq -cjs '{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: .}' > "$tmp/index"
  curl -fs -H "Accept: $ACCEPT" -o "$tmp/old" "http://$REG/v2/$repo/manifests/$tag" || : > "$tmp/old"
  if cmp -s "$tmp/index" "$tmp/old"; then
    log "$REG/$repo:$tag index up to date ($*)"
  else
    curl -fsS -X PUT -H 'Content-Type: application/vnd.oci.image.index.v1+json' --data-binary "@$tmp/index" \
      "http://$REG/v2/$repo/manifests/$tag" || die "pushing the index $REG/$repo:$tag"
    log "pushed $REG/$repo:$tag: index of $* (sha256:$(sha256sum < "$tmp/index" | cut -d' ' -f1))"
  fi
  rm -rf "$tmp"
}

# ------------------------------------------------------------ 1. debootstrap (cached)
detect_mirror() {
  local m
  m=$(grep -hE '^\s*URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v -- '-security' | head -1 || true)
  [ -n "$m" ] || m=$(grep -hE '^\s*deb\s' /etc/apt/sources.list 2>/dev/null | grep -v -- '-security' | awk '{print $2}' | head -1 || true)
  echo "${m:-http://deb.debian.org/debian}"
}
# rootfs_dir ARCH: where ARCH's slimmed tree is kept (the host's: no suffix)
rootfs_dir() { if [ "$1" = "$HOSTARCH" ]; then echo "$BASES_DIR/rootfs/$SUITE-slim"; else echo "$BASES_DIR/rootfs/$SUITE-slim-$1"; fi; }
ROOTFS=$(rootfs_dir "$HOSTARCH")
# make_rootfs [ARCH]: debootstraps and slims ARCH's tree (default the host's)
make_rootfs() {
  local arch=${1:-$HOSTARCH} mirror=${MIRROR:-$(detect_mirror)}
  local ROOTFS; ROOTFS=$(rootfs_dir "$arch")
  local dlog=$BASES_DIR/logs/debootstrap.log opts=() t0=$SECONDS
  if [ "$arch" != "$HOSTARCH" ]; then dlog=$BASES_DIR/logs/debootstrap-$arch.log opts=(--arch="$arch"); fi
  command -v debootstrap >/dev/null || die "debootstrap missing (scripts/setup.sh)"
  rm -rf "$ROOTFS"
  if [ "$FORCE" = 1 ] || [ ! -f "$ROOTFS.tmp/.debootstrap-ok" ]; then
    if [ "$arch" = "$HOSTARCH" ]; then
      log "debootstrap --variant=minbase $SUITE from $mirror (about a minute)"
    else
      log "debootstrap --arch=$arch --variant=minbase $SUITE from $mirror (second stage under QEMU: about 3 minutes)"
    fi
    rm -rf "$ROOTFS.tmp"
    debootstrap "${opts[@]}" --variant=minbase "$SUITE" "$ROOTFS.tmp" "$mirror" > "$dlog" 2>&1 \
      || { tail -20 "$dlog"; die "debootstrap $arch (log: $dlog)"; }
    touch "$ROOTFS.tmp/.debootstrap-ok"
    log "debootstrap $arch took $((SECONDS - t0)) s"
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
# debian_image ARCH: the host's tree imported (import_debian), another's
# built from bases/debian with its tree as rootfs-ARCH.tar in the context
debian_image() {
  [ "$1" = "$HOSTARCH" ] && { import_debian; return; }
  local arch=$1 name; name=$(arch_name "debian:$SUITE-slim" "$1"); local r ctx=$BASES_DIR/debian-context
  r=$(rootfs_dir "$arch")
  # keep the image we have, as import_debian does
  [ "$FORCE" != 1 ] && [ -n "$(local_config "$name")" ] && return 0
  if [ "$FORCE" = 1 ] || [ ! -d "$r" ]; then make_rootfs "$arch"; fi
  [ -f "$r.epoch" ] || date +%s > "$r.epoch"
  rm -rf "$ctx" && mkdir -p "$ctx"
  tar -C "$r" --numeric-owner --sort=name --mtime=@0 -cf "$ctx/rootfs-$arch.tar" .
  "${BB[@]}" --platform "$(oci_platform "$arch")" --timestamp "$(cat "$r.epoch")" -f bases/debian/Dockerfile -t "$name" "$ctx"
  rm -rf "$ctx"
}
# --progress=quiet by default: plain progress can crash when a RUN writes to
# stdout and stderr at once (strata bug, see examples/README.md); on failure
# the build is rerun with plain progress to show the log
BB=(bs --registry-mirror "$REG" build "--progress=${PROGRESS:-quiet}")
publish_platforms "debian:$SUITE-slim" library/debian "$SUITE-slim" debian_image
# the other bases start FROM it: make sure the bases store has it
if [ -z "$(local_config "debian:$SUITE-slim")" ]; then
  bs pull "$REG/library/debian:$SUITE-slim" >/dev/null
  bs tag "$REG/library/debian:$SUITE-slim" "debian:$SUITE-slim"
fi

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
static_image() { "${BB[@]}" --platform "$(oci_platform "$1")" --target static -t "$(arch_name gcr.io/distroless/static-debian12:nonroot "$1")" bases/distroless; }
publish_platforms gcr.io/distroless/static-debian12:nonroot distroless/static-debian12 nonroot static_image
busybox_image() { "${BB[@]}" --platform "$(oci_platform "$1")" -t "$(arch_name busybox:1.35 "$1")" bases/busybox; }
publish_platforms busybox:1.35 library/busybox 1.35 busybox_image
alias_tag library/busybox 1.35 latest
publish gcr.io/distroless/nodejs18-debian12:nonroot distroless/nodejs18-debian12 nonroot \
  "${BB[@]}" --target nodejs18 -t gcr.io/distroless/nodejs18-debian12:nonroot bases/distroless

# gcr.io/distroless/* from this registry, for every platform (a build for
# arm64 resolves it here when the store has the amd64 image only)
cat > "$BASES_DIR/registries.conf.tmp" <<EOF
# made by scripts/bases.sh: CONTAINERS_REGISTRIES_CONF=$BASES_DIR/registries.conf
[[registry]]
prefix = "gcr.io/distroless"
location = "$REG/distroless"
insecure = true
EOF
mv "$BASES_DIR/registries.conf.tmp" "$BASES_DIR/registries.conf"

# ------------------------------------------------------------ the caller's store
# gcr.io names are pulled into $STRATA_ROOT and tagged (mirrors serve docker.io
# only); docker.io names it already has are refreshed when the registry's differ
# (the store comes first when resolving FROM)
# caller_platforms NAME REPO:TAG: NAME in the caller's store is every
# platform of $REG/REPO:TAG (pulled when one differs), tagged as one index
caller_platforms() {
  local name=$1 repo=${2%%:*} tag=${2#*:} a arches stale=""
  arches=$(remote_manifest "$repo" "$tag" | jq -r '.manifests[]?.platform.architecture' 2>/dev/null || true)
  [ -n "$arches" ] || arches=$HOSTARCH
  for a in $arches; do
    [ "$("$S" inspect --platform "$(oci_platform "$a")" "$name" 2>/dev/null | jq -r '.[0].ConfigDigest // empty' 2>/dev/null || true)" \
      = "$(remote_config "$repo" "$tag" "$a")" ] || stale=1
  done
  [ -n "$stale" ] || return 0
  log "pulling $name into $STRATA_ROOT (from $REG: $(echo $arches))"
  for a in $arches; do "$S" pull --platform "$(oci_platform "$a")" "$REG/$2" >/dev/null; done
  "$S" tag "$REG/$2" "$name"
}
if [ -n "${STRATA_ROOT:-}" ] && [ "$STRATA_ROOT" != "$BROOT" ]; then
  for pair in gcr.io/distroless/static-debian12:nonroot=distroless/static-debian12:nonroot \
              gcr.io/distroless/nodejs18-debian12:nonroot=distroless/nodejs18-debian12:nonroot \
              debian:$SUITE-slim=library/debian:$SUITE-slim \
              busybox:1.35=library/busybox:1.35 \
              golang:1.26-bookworm=library/golang:1.26-bookworm \
              node:18-bookworm-slim=library/node:18-bookworm-slim \
              python:3.11-slim-bookworm=library/python:3.11-slim-bookworm \
              maven:3-eclipse-temurin-17=library/maven:3-eclipse-temurin-17 \
              eclipse-temurin:17-jre=library/eclipse-temurin:17-jre; do
    name=${pair%%=*} remote=${pair#*=}
    got=$("$S" inspect "$name" 2>/dev/null | jq -r '.[0].ConfigDigest // empty' 2>/dev/null || true)
    if [ "${name#gcr.io/}" != "$name" ]; then
      caller_platforms "$name" "$remote"
      continue
    fi
    [ -n "$got" ] || continue
    want=$(remote_config "${remote%%:*}" "${remote#*:}")
    if [ "$want" != "$got" ]; then
      log "pulling $name into $STRATA_ROOT (from $REG)"
      "$S" pull "$REG/$remote" >/dev/null
      "$S" tag "$REG/$remote" "$name"
    fi
  done
fi
log "bases ready on $REG (strata --registry-mirror $REG)"
