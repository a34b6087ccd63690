#!/usr/bin/env bash
# bench-sbom.sh - the SBOM of the Go example's images, timed (`make
# bench-sbom`), in one run, ratios from the same run:
#
#   trad   examples/go/Dockerfile.traditional (golang:1.26-bookworm + the
#          source + the build: about 800 MB uncompressed)
#   multi  examples/go/Dockerfile for linux/amd64 (distroless static + the
#          server binary)
#
# For each image:
#   build        a cold build: `build --no-cache` after `rmi` + `prune -af`
#                (build cache and cache mounts cleared, bases kept)
#   build+sbom   the same with --sbom, the store's SBOM cache (ROOT/sbom)
#                removed first: what the attestation adds to a cold build
#   sbom cold    `strata sbom IMAGE --format spdx-json` with ROOT/sbom
#                removed before each run (every layer scanned)
#   sbom warm    the same again (every layer's result from ROOT/sbom)
#   syft         `syft scan oci-dir:` of the same image (saved with `strata
#                save --format oci`), when a syft binary is there (SYFT, or
#                $BENCH_DIR/bin/syft: `GOBIN=$BENCH_DIR/bin go install
#                github.com/anchore/syft/cmd/syft@v1.57.2`). BuildKit makes its
#                SBOM by running the docker/buildkit-syft-scanner image (syft
#                in a container) after the build; that image cannot be pulled
#                here, so BuildKit's own way is not timed: syft on the same
#                image is the scanner's work without BuildKit around it.
# Goals (issue 15): sbom cold under 10% of the cold build of the traditional
# image, sbom warm under 0.5 s.
#
# Bases: scripts/bases.sh (the local registry on 127.0.0.1:$BASES_PORT, used
# as the docker.io mirror; distroless pulled from it and tagged gcr.io/...).
#
#   env: RUNS (3: cold builds and syft)   SBOM_RUNS (10: strata sbom)
#        BENCH_DIR (/var/tmp/strata-bench-sbom): results in
#        $BENCH_DIR/<timestamp>/ (results.tsv, table.txt, logs/), the store in
#        $BENCH_DIR/strata-root, kept between runs
#        STRATA (./bin/strata, built by make bench-sbom)   SYFT   BASES_PORT (5001)
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
SBOM_RUNS=${SBOM_RUNS:-10}
BENCH_DIR=${BENCH_DIR:-/var/tmp/strata-bench-sbom}
STRATA=$(realpath "${STRATA:-./bin/strata}")
SYFT=${SYFT:-$BENCH_DIR/bin/syft}
REG=127.0.0.1:${BASES_PORT:-5001}
OUT=$BENCH_DIR/$(date +%Y%m%d-%H%M%S)
ROOT=$BENCH_DIR/strata-root
S="$STRATA --root $ROOT --registry-mirror $REG"
DISTROLESS=distroless/static-debian12:nonroot
HEAD0=$(git rev-parse --short HEAD 2>/dev/null || echo unknown) # the tree make bench-sbom built from

log() { printf '[bench-sbom %(%T)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (the RUN sandbox)"
[[ -x $STRATA ]] || die "no strata binary at $STRATA (make build)"
command -v hyperfine >/dev/null || die "hyperfine is missing (apt-get install hyperfine)"
command -v jq >/dev/null || die "jq is missing (apt-get install jq)"
mkdir -p "$OUT/logs"
ln -sfn "$OUT" "$BENCH_DIR/latest"

log "bases: scripts/bases.sh"
STRATA="$STRATA" ./scripts/bases.sh 2> "$OUT/logs/bases.log" || { tail -20 "$OUT/logs/bases.log"; die "scripts/bases.sh"; }
$S pull "$REG/$DISTROLESS" > /dev/null && $S tag "$REG/$DISTROLESS" "gcr.io/$DISTROLESS"

# timed NAME CMD PREPARE WARMUP (bench-lib.sh): the median of $RUNS runs, in
# seconds; RUNS=N before a call gives that call N runs
source scripts/bench-lib.sh
# sd NAME: the standard deviation of timed NAME's runs, in seconds
sd() { jq -r '.results[0].stddev // empty' "$OUT/logs/$1.json" 2>/dev/null || true; }

# record IMAGE WHAT VALUE
record() { printf '%s\t%s\t%s\n' "$@" >> "$OUT/results.tsv"; log "  $1 $2: $3"; }
printf 'image\twhat\tvalue\n' > "$OUT/results.tsv"

declare -A FILE=([trad]=Dockerfile.traditional [multi]=Dockerfile)
declare -A ARGS=([trad]="" [multi]="--platform linux/amd64")
for c in trad multi; do
  tag=bench-sbom/go:$c
  build="$S build --progress=quiet --no-cache ${ARGS[$c]} -f examples/go/${FILE[$c]} -t $tag examples/go"
  clear="$S rmi $tag >/dev/null 2>&1; $S prune -af >/dev/null"
  log "$c: $build"
  # the warm-up run (untimed) pulls and extracts the bases, which stay
  record "$c" build "$(timed "$c-build" "$build" "$clear" 1)"
  record "$c" build-sd "$(sd "$c-build")"
  record "$c" build+sbom "$(timed "$c-build-sbom" "${build/ build / build --sbom }" "$clear; rm -rf $ROOT/sbom" 0)"
  record "$c" build+sbom-sd "$(sd "$c-build-sbom")"
  sbom="$S sbom $tag --format spdx-json > /dev/null"
  record "$c" sbom-cold "$(RUNS=$SBOM_RUNS timed "$c-sbom-cold" "$sbom" "rm -rf $ROOT/sbom" 1)"
  record "$c" sbom-warm "$(RUNS=$SBOM_RUNS timed "$c-sbom-warm" "$sbom" "" 1)"
  $S sbom "$tag" --format spdx-json > "$OUT/logs/$c-strata.spdx.json"
  record "$c" packages "$(jq '[.packages[] | select(.primaryPackagePurpose != "CONTAINER")] | length' "$OUT/logs/$c-strata.spdx.json")"
  if [[ -x $SYFT ]]; then
    rm -rf "$OUT/oci-$c" && mkdir -p "$OUT/oci-$c"
    $S save --format oci "$tag" | tar -x -C "$OUT/oci-$c"
    syft="SYFT_CHECK_FOR_APP_UPDATE=false $SYFT scan -q oci-dir:$OUT/oci-$c -o spdx-json"
    record "$c" syft "$(timed "$c-syft" "$syft > /dev/null" "" 1)"
    eval "$syft" > "$OUT/logs/$c-syft.spdx.json"
    record "$c" syft-packages "$(jq '[.packages[] | select(.primaryPackagePurpose != "CONTAINER" and (.SPDXID | test("DocumentRoot") | not))] | length' "$OUT/logs/$c-syft.spdx.json")"
    # what syft lists and strata does not, by name and version (logs/$c-syft-only.txt)
    names() { jq -r '.packages[] | select(.primaryPackagePurpose != "CONTAINER") | "\(.name) \(.versionInfo)"' "$1" | sort -u; }
    comm -13 <(names "$OUT/logs/$c-strata.spdx.json") <(names "$OUT/logs/$c-syft.spdx.json") > "$OUT/logs/$c-syft-only.txt"
  fi
done
$S compare bench-sbom/go:trad bench-sbom/go:multi --format json > "$OUT/logs/compare.json"
record trad size "$(jq '.[0].a.uncompressed' "$OUT/logs/compare.json")"
record multi size "$(jq '.[0].b.uncompressed' "$OUT/logs/compare.json")"

# ------------------------------------------------------------------ table
{
  rev=$(go version -m "$STRATA" 2>/dev/null | awk '$2 == "vcs.revision" {print substr($3, 1, 7)}')
  rev=${rev:-"built $(date -u -r "$STRATA" +%FT%TZ), HEAD $HEAD0$(git diff --quiet HEAD -- cmd internal 2>/dev/null || echo ' + uncommitted changes in cmd/ or internal/')"}
  syftv=$([[ -x $SYFT ]] && go version -m "$SYFT" 2>/dev/null | awk '$1 == "mod" {print $3}' || true)
  echo "# $(date -u +%FT%TZ)  $(nproc) cores  $(uname -r)  load $(cut -d' ' -f1-3 /proc/loadavg)  medians: builds and syft of $RUNS runs, strata sbom of $SBOM_RUNS ($(hyperfine --version))"
  echo "# strata ${rev:-(unknown revision)} | syft ${syftv:-not installed} | BuildKit's SBOM: not timed (its docker/buildkit-syft-scanner image cannot be pulled here)"
  echo "# examples/go; cold build: --no-cache after prune -af (median ± stddev); build+sbom: the same with --sbom and ROOT/sbom removed; sbom cold: strata sbom --format spdx-json, ROOT/sbom removed; warm: kept"
  awk -F'\t' '
    function num(a) { return a ~ /^[0-9.]+$/ }
    function s(a) { return num(a) ? (a < 1 ? sprintf("%.0f ms", a * 1000) : sprintf("%.2f s", a)) : (a == "" ? "-" : a) }
    function pct(a, b) { return (num(a) && num(b) && b > 0) ? sprintf("%.1f%%", 100 * a / b) : "-" }
    function pm(a) { return num(a) ? sprintf(" ±%.1f", a) : "" }
    function x(a, b) { return (num(a) && num(b) && b > 0) ? sprintf("%.0fx", a / b) : "-" }
    NR == 1 { next }
    { V[$1 SUBSEP $2] = $3 }
    END {
      printf "%-6s %8s %5s %16s %16s %10s %10s %17s %9s %6s %12s\n", "image", "size", "pkgs", "cold build", "cold build+sbom", "sbom cold", "sbom warm", "sbom cold / build", "syft", "(pkgs)", "syft / cold"
      n = split("trad multi", cs, " ")
      for (i = 1; i <= n; i++) {
        c = cs[i]; b = V[c SUBSEP "build"]; bs = V[c SUBSEP "build+sbom"]; sc = V[c SUBSEP "sbom-cold"]; sw = V[c SUBSEP "sbom-warm"]; sy = V[c SUBSEP "syft"]
        size = V[c SUBSEP "size"]; size = num(size) ? sprintf("%.0f MB", size / 1e6) : "-"
        printf "%-6s %8s %5s %16s %16s %10s %10s %17s %9s %6s %12s\n", c, size, V[c SUBSEP "packages"], s(b) pm(V[c SUBSEP "build-sd"]), s(bs) pm(V[c SUBSEP "build+sbom-sd"]), s(sc), s(sw),
          pct(sc, b), s(sy), V[c SUBSEP "syft-packages"], x(sy, sc)
      }
    }' "$OUT/results.tsv"
} | tee "$OUT/table.txt"
log "results: $OUT (results.tsv, table.txt, logs/)"
