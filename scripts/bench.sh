#!/usr/bin/env bash
# bench.sh - time strata against the peer builders (docker 20.10 BuildKit,
# buildah) on the same Dockerfiles and the same local base images, and print
# a table with ratios measured in this run (`make bench-peers`).
#
# Dockerfiles (written to $OUT/app):
#   steps    the peers' 4-stage busybox Dockerfile (/work/shared/peers/bench.sh): builder overhead
#   runtrue  FROM debian:bookworm-slim + 20x `RUN true`: per-step overhead
#   multi    the peers' Go app, golang:1.26 -> scratch: dominated by `go build` (add it to FILES)
# Scenarios: cold = built image removed and all build cache pruned (bases stay
# local; strata: `--no-cache`, which runs every step); warm = the same build
# again, nothing changed (cache hits everywhere); edit = a one-line source
# edit: before each run the `const edit = "N"` line of main.go gets a fresh N,
# so the COPY of main.go misses the cache and the steps after it run again
# while those before it stay cached. Only for the files that COPY main.go
# (steps: `COPY go.mod main.go /src/` then 3 RUNs; multi: `COPY *.go` then
# `go build`); runtrue copies no source, its edit column is "-".
#
#   env: PEERS (default "strata docker-buildkit buildah-chroot"; also strata-oci, buildah-oci)
#        FILES (default "steps runtrue"; also multi)   RUNS (default 3)
#        BENCH_DIR (default /var/tmp/strata-bench): results in $BENCH_DIR/<timestamp>/
#        PEERS_SCRIPTS (default /work/shared/peers): setup.sh and bases.sh, run when a base is missing
#        STRATA (default ./bin/strata, built by make bench-peers)
# Pruning docker/buildah build cache is global: a peer is skipped while a
# conformance run (pgrep -f '[c]onformance') may be using it.
set -euo pipefail
cd "$(dirname "$0")/.."

PEERS=${PEERS:-"strata docker-buildkit buildah-chroot"}
FILES=${FILES:-"steps runtrue"}
RUNS=${RUNS:-3}
BENCH_DIR=${BENCH_DIR:-/var/tmp/strata-bench}
PEERS_SCRIPTS=${PEERS_SCRIPTS:-/work/shared/peers}
STRATA=$(realpath "${STRATA:-./bin/strata}")
DOCKER=/usr/bin/docker # the Debian 20.10 CLI (BuildKit built in); /usr/local/bin/docker has no buildx
OUT=$BENCH_DIR/$(date +%Y%m%d-%H%M%S)
APP=$OUT/app
ROOT=$BENCH_DIR/strata-root # strata's store: bases loaded once, kept between runs
BASES="busybox:latest debian:bookworm-slim"
[[ " $FILES " == *" multi "* ]] && BASES+=" golang:1.26"

log() { printf '[bench %(%T)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
busy() { pgrep -f '[c]onformance' >/dev/null; }
mkdir -p "$OUT/logs" "$APP"
ln -sfn "$OUT" "$BENCH_DIR/latest"
[[ -x $STRATA ]] || die "no strata binary at $STRATA (make build)"

# ------------------------------------------------------------------ base images: the peers' local ones
if ! $DOCKER info >/dev/null 2>&1; then
  log "dockerd not running: $PEERS_SCRIPTS/setup.sh"
  "$PEERS_SCRIPTS/setup.sh" >&2
fi
for b in $BASES; do
  if ! $DOCKER image inspect "$b" >/dev/null 2>&1; then
    log "base $b missing: $PEERS_SCRIPTS/bases.sh"
    NODE=0 "$PEERS_SCRIPTS/bases.sh" >&2
    break
  fi
done
for b in $BASES; do # strata gets the very same images, through docker save | strata load
  want=$($DOCKER image inspect -f '{{.Id}}' "$b")
  mark=$ROOT/.loaded-${b//[:\/]/_}
  if [[ -f $mark && $(cat "$mark") == "$want" ]]; then continue; fi
  log "strata load $b ($want)"
  $DOCKER save "$b" | "$STRATA" --root "$ROOT" load >&2
  echo "$want" > "$mark"
done

# ------------------------------------------------------------------ the Dockerfiles (the peers' sample app)
cat > "$APP/go.mod" <<'EOF'
module example.com/hello

go 1.26
EOF
cat > "$APP/main.go" <<'EOF'
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
)

var version = "dev"

// bench.sh rewrites this line to simulate a one-line source edit.
const edit = "0"

func main() {
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = ":8080"
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s (%s, edit %s)\n", r.URL.Path, version, edit)
	})
	log.Printf("hello %s listening on %s", version, addr)
	log.Fatal(http.ListenAndServe(addr, nil))
}
EOF
cat > "$APP/Dockerfile.multi" <<'EOF'
ARG GO_IMAGE=golang:1.26
FROM ${GO_IMAGE} AS builder
ARG VERSION=dev
ENV GOPROXY=off GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0
WORKDIR /src
COPY go.mod ./
COPY *.go ./
RUN go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/hello .

FROM scratch
COPY --from=builder /out/hello /hello
EXPOSE 8080
ENTRYPOINT ["/hello"]
EOF
cat > "$APP/Dockerfile.steps" <<'EOF'
# builder-overhead probe: cheap steps, several stages, global ARG used in FROM
ARG BASE=busybox:latest
ARG GREETING=hello
FROM ${BASE} AS base
ARG GREETING
RUN echo "$GREETING from base" > /greeting && mkdir -p /out

FROM base AS gen
ARG GREETING
COPY go.mod main.go /src/
RUN wc -c /src/main.go > /out/size && cat /greeting >> /out/size
RUN sha256sum /src/go.mod /src/main.go > /out/sums
RUN echo "greeting=$GREETING" > /out/args

FROM base AS unused
RUN echo "this stage is not needed by the final stage" > /unused

FROM scratch
COPY --from=gen /out/ /
COPY --from=base /greeting /greeting
EOF
{ echo "FROM debian:bookworm-slim"; for _ in $(seq 20); do echo "RUN true"; done; } > "$APP/Dockerfile.runtrue"
printf 'Dockerfile.*\n' > "$APP/.dockerignore"

EDITS=" steps multi " # the Dockerfiles that COPY main.go
# a fresh value each run (hyperfine --prepare / the loop's prepare step); nothing is pruned
edit_cmd="sed -i \"s/^const edit = .*/const edit = \\\"\$(date +%s%N)\\\"/\" $APP/main.go"

# ------------------------------------------------------------------ per-peer commands
build_cmd() { # peer file tag scenario
  local f="-f Dockerfile.$2 -t $3 ." nc=""
  [[ $4 == cold ]] && nc="--no-cache "
  case $1 in
    strata)          echo "$STRATA --root $ROOT build --progress=quiet $nc$f" ;;
    strata-oci)      echo "$STRATA --root $ROOT build --progress=quiet --isolation oci $nc$f" ;;
    docker-buildkit) echo "DOCKER_BUILDKIT=1 $DOCKER build $f" ;;
    buildah-oci)     echo "buildah bud --layers --pull=false --isolation oci $f" ;;
    buildah-chroot)  echo "buildah bud --layers --pull=false --isolation chroot $f" ;;
    *) die "unknown peer $1" ;;
  esac
}
guard='if pgrep -f "[c]onformance" >/dev/null; then echo "a [c]onformance run is active: not pruning" >&2; exit 1; fi'
reset_cmd() { # peer tag
  case $1 in
    strata*)  echo "$STRATA --root $ROOT rmi $2 >/dev/null 2>&1; true" ;; # and build --no-cache
    docker-*) echo "$guard; $DOCKER rmi -f $2 >/dev/null 2>&1; $DOCKER image prune -f >/dev/null; $DOCKER builder prune -af >/dev/null" ;;
    *)        echo "$guard; buildah rmi -f localhost/$2 >/dev/null 2>&1; buildah rmi --prune >/dev/null 2>&1; true" ;;
  esac
}

# timed CMD PREPARE JSON: hyperfine when installed, else a loop; prints the median in seconds
timed() {
  local cmd=$1 prep=$2 json=$3 warm=$4
  if command -v hyperfine >/dev/null; then
    local opts=(--runs "$RUNS" --style basic --export-json "$json")
    if [[ -n $prep ]]; then opts+=(--prepare "$prep"); fi
    if [[ $warm == 1 ]]; then opts+=(--warmup 1); fi
    hyperfine "${opts[@]}" "$cmd" >"${json%.json}.txt" 2>&1 || return 1
    jq -r '.results[0].median' "$json"
  else
    local ts=() s e
    if [[ $warm == 1 ]]; then bash -c "$cmd" || return 1; fi
    for _ in $(seq "$RUNS"); do
      if [[ -n $prep ]]; then bash -c "$prep" || return 1; fi
      s=$(date +%s%N); bash -c "$cmd" || return 1; e=$(date +%s%N)
      ts+=("$(((e - s) / 1000000))")
    done
    printf '%s\n' "${ts[@]}" | sort -n | awk '{a[NR]=$1} END{printf "%.3f\n", a[int((NR+1)/2)]/1000}'
  fi
}

# ------------------------------------------------------------------ run
printf 'file\tpeer\truns\tcold_s\twarm_s\tedit_s\n' > "$OUT/results.tsv"
for f in $FILES; do
  for peer in $PEERS; do
    tag=strata-bench/$f:$peer
    if [[ $peer != strata* ]] && busy; then
      log "$peer $f: skipped, a conformance run may be using the build cache"
      printf '%s\t%s\t%s\tskip\tskip\tskip\n' "$f" "$peer" "$RUNS" >> "$OUT/results.tsv"; continue
    fi
    L=$OUT/logs/$f-$peer
    wrap() { echo "cd $APP && $1 >> $L.build.log 2>&1"; }
    log "$peer $f: $(build_cmd "$peer" "$f" "$tag" cold)"
    # strata: one untimed build first extracts the base layers, which the peers keep too
    prewarm=0; [[ $peer == strata* ]] && prewarm=1
    cold=$(timed "$(wrap "$(build_cmd "$peer" "$f" "$tag" cold)")" "$(reset_cmd "$peer" "$tag")" "$L.cold.json" $prewarm) || { log "  cold FAILED: $(tail -3 "$L.cold.txt" 2>/dev/null; tail -5 "$L.build.log" 2>/dev/null)"; cold=FAIL; }
    warm=FAIL
    [[ $cold != FAIL ]] && { warm=$(timed "$(wrap "$(build_cmd "$peer" "$f" "$tag" warm)")" "" "$L.warm.json" 1) || log "  warm FAILED"; }
    edit=-
    if [[ $EDITS == *" $f "* ]]; then
      edit=FAIL
      [[ $warm != FAIL ]] && { edit=$(timed "$(wrap "$(build_cmd "$peer" "$f" "$tag" edit)")" "$edit_cmd" "$L.edit.json" 0) || log "  edit FAILED"; }
    fi
    log "  cold $cold s, warm $warm s, edit $edit s"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$f" "$peer" "$RUNS" "$cold" "$warm" "$edit" >> "$OUT/results.tsv"
  done
done

# ------------------------------------------------------------------ table: ratio = peer time / strata time, same run
{
  echo "# $(date -u +%FT%TZ)  $(nproc) cores  $(uname -r)  runs=$RUNS  medians of wall time ($(command -v hyperfine >/dev/null && hyperfine --version || echo loop))"
  rev=$(go version -m "$STRATA" 2>/dev/null | awk '$2 == "vcs.revision" {print substr($3, 1, 7)}')
  # built with -buildvcs=false (GOFLAGS here): name HEAD, when no commit is newer than the binary
  if [[ -z $rev ]] && (($(stat -c %Y "$STRATA") >= $(git log -1 --format=%ct 2>/dev/null || echo 9999999999))); then
    rev="tree at $(git rev-parse --short HEAD)"
  fi
  echo "# strata ${rev:-(unknown revision)} | docker $($DOCKER version -f '{{.Server.Version}}') BuildKit | $(buildah --version 2>/dev/null | cut -d' ' -f1-3)"
  echo "# cold: build cache pruned (strata: --no-cache); warm: nothing changed; edit: one line of main.go changed (after the COPY runs again); ratio = builder / strata"
  awk -F'\t' '
    function r(a, b) { return (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) ? sprintf("%.1fx", a / b) : "-" }
    function s(a) { return (a ~ /^[0-9.]+$/) ? sprintf("%.2f", a) : a }
    NR == 1 { next }
    { n++; F[n] = $1; P[n] = $2; C[n] = $4; W[n] = $5; E[n] = $6; if ($2 == "strata") { SC[$1] = $4; SW[$1] = $5; SE[$1] = $6 } }
    END {
      printf "%-8s %-16s %8s %8s %8s %12s %12s %12s\n", "file", "builder", "cold_s", "warm_s", "edit_s", "cold/strata", "warm/strata", "edit/strata"
      for (i = 1; i <= n; i++)
        printf "%-8s %-16s %8s %8s %8s %12s %12s %12s\n", F[i], P[i], s(C[i]), s(W[i]), s(E[i]), r(C[i], SC[F[i]]), r(W[i], SW[F[i]]), r(E[i], SE[F[i]])
    }' "$OUT/results.tsv"
} | tee "$OUT/table.txt"
log "results: $OUT (results.tsv, table.txt, logs/)"
