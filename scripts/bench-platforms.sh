#!/usr/bin/env bash
# bench-platforms.sh - multi-platform builds, timed (`make bench-platforms`):
# strata against modern BuildKit (v0.34.2, buildctl, runc worker) on the
# same Dockerfiles and the same local multi-platform bases, ratios from the
# same run.
#
#   go    examples/go (cross-compiling: its build stage runs on
#         $BUILDPLATFORM, GOARCH from TARGETARCH) for linux/amd64 and for
#         linux/amd64,linux/arm64; the goal is two platforms in at most 1.2x
#         the time of one
#           cold  build cache and cache mounts (Go's module and build caches)
#                 cleared, bases kept: strata `prune -af` + --no-cache,
#                 BuildKit `prune --filter type==exec.cachemount` + --no-cache
#           edit  a comment in cmd/server/main.go changed before each run:
#                 `COPY cmd/` misses and `go build` runs again per platform,
#                 on warm Go caches (the everyday rebuild)
#           warm  the same build again, nothing changed
#   emu   a busybox RUN step built for linux/amd64 (native) and linux/arm64
#         (QEMU user emulation through binfmt_misc), --no-cache each run:
#           small `RUN echo hi > /x`
#           sha   `RUN dd if=/dev/zero bs=1M count=64 | sha256sum > /sum`
#
# Bases: scripts/bases.sh (the local registry on 127.0.0.1:5001, multi-
# platform debian, busybox and distroless static). strata reads them through
# --registry-mirror and $BASES_DIR/registries.conf (gcr.io/distroless);
# BuildKit runs as its own buildkitd (scripts/buildkit.sh with its own
# BUILDKIT_DIR and socket, the binaries copied from the default build, the
# bases registry as its docker.io mirror: the shared buildkitd that
# conformance uses is left alone), gcr.io/distroless given as
# `--opt context:gcr.io/...=docker-image://127.0.0.1:5001/...`. Both builders
# produce an image in their store (strata: tagged; BuildKit: type=image).
#
#   env: BUILDERS (default "strata buildkit")   CASES (default "go emu")
#        RUNS (default 3)   BENCH_DIR (default /var/tmp/strata-bench-platforms):
#        results in $BENCH_DIR/<timestamp>/ (results.tsv, table.txt, logs/)
#        STRATA (default ./bin/strata, built by make bench-platforms), STRATA_REV (its
#        revision in the table, when the binary does not say)
#        BASES_DIR (/var/tmp/strata-bases), BASES_PORT (5001)
set -euo pipefail
cd "$(dirname "$0")/.."

BUILDERS=${BUILDERS:-"strata buildkit"}
CASES=${CASES:-"go emu"}
RUNS=${RUNS:-3}
BENCH_DIR=${BENCH_DIR:-/var/tmp/strata-bench-platforms}
STRATA=$(realpath "${STRATA:-./bin/strata}")
BASES_DIR=${BASES_DIR:-/var/tmp/strata-bases}
REG=127.0.0.1:${BASES_PORT:-5001}
OUT=$BENCH_DIR/$(date +%Y%m%d-%H%M%S)
ROOT=$BENCH_DIR/strata-root # strata's store: bases pulled once, kept between runs
BK_DIR=$BENCH_DIR/buildkit  # this benchmark's buildkitd
BK_SOCK=/run/strata-bench-platforms/buildkitd.sock
BK_ADDR=unix://$BK_SOCK
BK=$BK_DIR/bin/buildctl
ONE=linux/amd64 TWO=linux/amd64,linux/arm64
DISTROLESS=gcr.io/distroless/static-debian12:nonroot

log() { printf '[bench-platforms %(%T)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (the RUN sandbox, buildkitd)"
[[ -x $STRATA ]] || die "no strata binary at $STRATA (make build)"
command -v hyperfine >/dev/null || die "hyperfine is missing (apt-get install hyperfine)"
[ "$(head -1 /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null)" = enabled ] \
  || die "no arm64 emulation (binfmt_misc qemu-aarch64): scripts/setup.sh"
mkdir -p "$OUT/logs"
ln -sfn "$OUT" "$BENCH_DIR/latest"

# ------------------------------------------------------------------ bases, builders
log "bases: scripts/bases.sh"
STRATA="$STRATA" ./scripts/bases.sh 2> "$OUT/logs/bases.log" || { tail -20 "$OUT/logs/bases.log"; die "scripts/bases.sh"; }
curl -fs -H 'Accept: application/vnd.oci.image.index.v1+json' "http://$REG/v2/distroless/static-debian12/manifests/nonroot" \
  | jq -e '.manifests[] | select(.platform.architecture == "arm64")' >/dev/null \
  || die "no arm64 distroless stand-in in $REG (scripts/bases.sh)"
export CONTAINERS_REGISTRIES_CONF=$BASES_DIR/registries.conf

if [[ " $BUILDERS " == *" buildkit "* ]]; then
  if [[ ! -x $BK_DIR/bin/buildkitd ]]; then # reuse the binaries scripts/buildkit.sh built, else build them
    def=/var/tmp/strata-buildkit/${BUILDKIT_VERSION:-v0.34.2}/bin
    mkdir -p "$BK_DIR/bin"
    if [[ -x $def/buildkitd && -x $def/buildctl ]]; then cp "$def/buildkitd" "$def/buildctl" "$BK_DIR/bin/"; fi
  fi
  bk() { BUILDKIT_DIR=$BK_DIR BUILDKIT_SOCK=$BK_SOCK REGISTRY_ADDR=$REG ./scripts/buildkit.sh "$@"; }
  bk start > /dev/null 2> "$OUT/logs/buildkitd-start.log" || { tail -20 "$OUT/logs/buildkitd-start.log"; die "scripts/buildkit.sh start"; }
  trap 'bk stop' EXIT # its cache stays in $BK_DIR/root for the next run
fi

# ------------------------------------------------------------------ contexts
APP=$OUT/go
cp -r examples/go "$APP"
echo '// bench-platforms edit 0' >> "$APP/cmd/server/main.go"
edit_cmd="sed -i \"s|^// bench-platforms edit .*|// bench-platforms edit \$(date +%s%N)|\" $APP/cmd/server/main.go"
EMU=$OUT/emu
mkdir -p "$EMU"
printf 'FROM busybox:1.35\nRUN echo hi > /x\n' > "$EMU/Dockerfile.small"
printf 'FROM busybox:1.35\nRUN dd if=/dev/zero bs=1M count=64 2>/dev/null | sha256sum > /sum\n' > "$EMU/Dockerfile.sha"

# ------------------------------------------------------------------ commands
# build_cmd BUILDER DIR DOCKERFILE PLATFORMS TAG NOCACHE
build_cmd() {
  local nc=""
  case $1 in
    strata)
      [[ $6 == 1 ]] && nc="--no-cache "
      echo "$STRATA --root $ROOT --registry-mirror $REG build --progress=quiet $nc--platform $4 -f $2/$3 -t $5 $2" ;;
    buildkit)
      [[ $6 == 1 ]] && nc="--no-cache "
      echo "$BK --addr $BK_ADDR build --progress=plain $nc--frontend dockerfile.v0 --opt cmdline= --local context=$2 --local dockerfile=$2" \
        "--opt filename=$3 --opt platform=$4 --opt context:$DISTROLESS=docker-image://$REG/${DISTROLESS#gcr.io/}" \
        "--output type=image,name=docker.io/$5" ;;
    *) die "unknown builder $1" ;;
  esac
}
# cold_prep BUILDER TAG: the build cache and cache mounts cleared, bases kept
cold_prep() {
  case $1 in
    strata)   echo "$STRATA --root $ROOT rmi $2 >/dev/null 2>&1; $STRATA --root $ROOT prune -af >/dev/null" ;;
    buildkit) echo "$BK --addr $BK_ADDR prune --filter type==exec.cachemount >/dev/null" ;;
  esac
}

# timed NAME CMD PREPARE WARMUP (bench-lib.sh): the median of $RUNS runs, in seconds, or FAIL
source scripts/bench-lib.sh # the cwd is the repository (cd above)

# record CASE SCENARIO PLATFORMS BUILDER SECONDS
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >> "$OUT/results.tsv"; log "  $1 $2 $3 $4: $5 s"; }
printf 'case\tscenario\tplatforms\tbuilder\tmedian_s\n' > "$OUT/results.tsv"

# ------------------------------------------------------------------ run
if [[ " $CASES " == *" go "* ]]; then
  for b in $BUILDERS; do
    for p in $ONE $TWO; do
      n=$(tr -c 'a-z0-9\n' '-' <<< "$p" | sed 's/linux-//g')
      tag=bench-platforms/go:$n
      log "go $b $p: $(build_cmd "$b" "$APP" Dockerfile "$p" "$tag" 1)"
      # one untimed build first: pulls and extracts the bases (both keep them)
      t=$(timed "go-$b-$n-cold" "$(build_cmd "$b" "$APP" Dockerfile "$p" "$tag" 1)" "$(cold_prep "$b" "$tag")" 1)
      record go cold "$p" "$b" "$t"
      t=$(timed "go-$b-$n-edit" "$(build_cmd "$b" "$APP" Dockerfile "$p" "$tag" 0)" "$edit_cmd" 1)
      record go edit "$p" "$b" "$t"
      t=$(timed "go-$b-$n-warm" "$(build_cmd "$b" "$APP" Dockerfile "$p" "$tag" 0)" "" 1)
      record go warm "$p" "$b" "$t"
    done
  done
fi
if [[ " $CASES " == *" emu "* ]]; then
  for f in small sha; do
    for b in $BUILDERS; do
      for p in linux/amd64 linux/arm64; do
        tag=bench-platforms/emu-$f:${p#linux/}
        t=$(timed "emu-$f-$b-${p#linux/}" "$(build_cmd "$b" "$EMU" "Dockerfile.$f" "$p" "$tag" 1)" "" 1)
        record "emu-$f" cold "$p" "$b" "$t"
      done
    done
  done
fi

# ------------------------------------------------------------------ table
{
  echo "# $(date -u +%FT%TZ)  $(nproc) cores  $(uname -r)  load $(cut -d' ' -f1-3 /proc/loadavg)  runs=$RUNS  medians of wall time ($(hyperfine --version))"
  rev=${STRATA_REV:-$(go version -m "$STRATA" 2>/dev/null | awk '$2 == "vcs.revision" {print substr($3, 1, 7)}')}
  if [[ -z $rev ]] && (($(stat -c %Y "$STRATA") >= $(git log -1 --format=%ct 2>/dev/null || echo 9999999999))); then
    rev="tree at $(git rev-parse --short HEAD)"
  fi
  echo "# strata ${rev:-(unknown revision)} | BuildKit ${BUILDKIT_VERSION:-v0.34.2} (buildctl, runc worker) | $(qemu-aarch64-static --version | head -1)"
  echo "# go: examples/go, 1 = linux/amd64, 2 = linux/amd64,linux/arm64 (cross-compiled); cold: build cache and Go caches cleared; edit: cmd/server/main.go changed; warm: nothing changed"
  echo "# emu: busybox, --no-cache, amd64 native, arm64 under QEMU; small: RUN echo hi > /x; sha: RUN sha256sum of 64 MB"
  awk -F'\t' -v one="$ONE" -v two="$TWO" '
    function num(a) { return a ~ /^[0-9.]+$/ }
    function s(a) { return num(a) ? sprintf("%.2f s", a) : (a == "" ? "-" : a) }
    function r(a, b) { return (num(a) && num(b) && b > 0) ? sprintf("%.2fx", a / b) : "-" }
    NR == 1 { next }
    { T[$1 SUBSEP $2 SUBSEP $3 SUBSEP $4] = $5; if (!(($1 SUBSEP $2) in seen)) { seen[$1 SUBSEP $2] = 1; order[++n] = $1 SUBSEP $2 } }
    END {
      printf "%-9s %-5s %-12s %9s %11s %16s\n", "case", "scen.", "platforms", "strata", "BuildKit", "strata/BuildKit"
      for (i = 1; i <= n; i++) {
        split(order[i], k, SUBSEP); c = k[1]; sc = k[2]
        if (c == "go") { a = one; bb = two; la = "amd64"; lb = "amd64+arm64"; rl = "2/1" } else { a = "linux/amd64"; bb = "linux/arm64"; la = "amd64"; lb = "arm64 (qemu)"; rl = "arm/amd" }
        sa = T[c SUBSEP sc SUBSEP a SUBSEP "strata"]; sb = T[c SUBSEP sc SUBSEP bb SUBSEP "strata"]
        ka = T[c SUBSEP sc SUBSEP a SUBSEP "buildkit"]; kb = T[c SUBSEP sc SUBSEP bb SUBSEP "buildkit"]
        printf "%-9s %-5s %-12s %9s %11s %16s\n", c, sc, la, s(sa), s(ka), r(sa, ka)
        printf "%-9s %-5s %-12s %9s %11s %16s\n", c, sc, lb, s(sb), s(kb), r(sb, kb)
        printf "%-9s %-5s %-12s %9s %11s %16s\n", c, sc, "  ratio " rl, r(sb, sa), r(kb, ka), ""
      }
    }' "$OUT/results.tsv"
} | tee "$OUT/table.txt"
log "results: $OUT (results.tsv, table.txt, logs/)"
