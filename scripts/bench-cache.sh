#!/usr/bin/env bash
# bench-cache.sh - registry cache export and import, timed (`make
# bench-cache`): strata against modern BuildKit (v0.34.2, buildctl, runc
# worker) on the Java and Node examples, ratios from the same run.
#
# Per example (examples/java, examples/node; default target):
#   strata cold    --no-cache build on a store that has the bases (pulled by
#                  an untimed build first), with
#                  --cache-to type=registry,ref=$CREG/$REPO/strata-<ex>-<run>,mode=max
#                  to a repository no earlier run used (the export is whole);
#                  wall time of the command, and the export's time from the
#                  build's own figures: the summary's "exporting cache 0.8 s"
#                  line, else the progress step "exporting cache to ..." (its
#                  DONE time)
#   strata import  a second, empty store (bases pulled through the mirror)
#                  builds with --cache-from that ref: its wall time (base
#                  images pulled included), steps run (goal: 0),
#                  and the cache's layer bytes it pulled (the cache layers in
#                  its store afterwards) against the cache's size (the sum of
#                  the cache manifest's layers)
#   strata edit    then a source file changed (a copy of the example is
#                  built) and the build run again with the cache, exported to
#                  the same ref: only the changed steps' layers are sent
#   BuildKit cold  buildctl --no-cache, --export-cache type=registry,
#                  ref=$CREG/$REPO/buildkit-<ex>-<run>,mode=max (again a fresh
#                  repository), --output type=image; export time: the
#                  "exporting cache to registry" vertex of --progress=rawjson
#                  (BuildKit's own "preparing build cache for export" and
#                  "sending cache export" are inside it; rawjson goes to
#                  buildctl's stderr); then the same edit as strata's
# Goals (issue 16): strata export <= 10% of its cold build and <= 1/3 of
# BuildKit's export.
#
# Bases: scripts/bases.sh (the local registry on 127.0.0.1:5001, strata's
# docker.io mirror; gcr.io/distroless through $BASES_DIR/registries.conf).
# Both caches are exported to a registry of this run's own: Debian's
# docker-registry on 127.0.0.1:$CACHE_PORT (plain HTTP, as both builders
# reach a loopback registry), its data under $BENCH_DIR/registry, stopped
# and removed at the end. BuildKit runs as its own buildkitd
# (scripts/buildkit.sh, own BUILDKIT_DIR and socket; binaries copied from
# the default build), the bases registry as its docker.io mirror. The
# stores (strata's, buildkitd's) are removed at the end too: the disk here
# is shared.
#
#   env: EXAMPLES (default "java node")   BUILDERS (default "strata buildkit")
#        RUNS (default 3): cold builds per builder and example, each to a
#        fresh cache repository; the table has their medians
#        BENCH_DIR (default /var/tmp/strata-bench-cache): results in
#        $BENCH_DIR/<timestamp>/ (results.tsv, table.txt, logs/)
#        STRATA (default ./bin/strata, built by make bench-cache)
#        BASES_DIR (/var/tmp/strata-bases), BASES_PORT (5001)
#        CACHE_PORT (default 5077): the cache registry's port, free
#        KEEP=1 keeps the cache registry's data and both stores
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin" # go version -m: the binary's revision

EXAMPLES=${EXAMPLES:-"java node"}
RUNS=${RUNS:-3}
BUILDERS=${BUILDERS:-"strata buildkit"}
BENCH_DIR=${BENCH_DIR:-/var/tmp/strata-bench-cache}
STRATA=$(realpath "${STRATA:-./bin/strata}")
BASES_DIR=${BASES_DIR:-/var/tmp/strata-bases}
REG=127.0.0.1:${BASES_PORT:-5001}
STAMP=$(date +%Y%m%d-%H%M%S)
OUT=$BENCH_DIR/$STAMP
CACHE_PORT=${CACHE_PORT:-5077}
CREG=127.0.0.1:$CACHE_PORT      # the caches' registry, this run's
REPO=strata-bench-cache/r$STAMP # this run's cache repositories
ROOT=$BENCH_DIR/strata-root     # the exporting store: bases kept between runs
BK_DIR=$BENCH_DIR/buildkit
BK_SOCK=/run/strata-bench-cache/buildkitd.sock
BK_ADDR=unix://$BK_SOCK
BK=$BK_DIR/bin/buildctl
NODE_DISTROLESS=gcr.io/distroless/nodejs18-debian12:nonroot

log() { printf '[bench-cache %(%T)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (the RUN sandbox, buildkitd)"
[[ -x $STRATA ]] || die "no strata binary at $STRATA (make build)"
for c in jq python3 curl; do command -v $c > /dev/null || die "$c is missing"; done
mkdir -p "$OUT/logs"
ln -sfn "$OUT" "$BENCH_DIR/latest"

# ------------------------------------------------------------------ bases, builders
log "bases: scripts/bases.sh"
STRATA="$STRATA" ./scripts/bases.sh 2> "$OUT/logs/bases.log" || { tail -20 "$OUT/logs/bases.log"; die "scripts/bases.sh"; }
export CONTAINERS_REGISTRIES_CONF=$BASES_DIR/registries.conf

cleanup() {
  set +e # clean up all there is
  [[ -n ${BK_STARTED:-} ]] && bk stop
  if [[ -n ${CREG_PID:-} ]]; then kill "$CREG_PID" 2> /dev/null && wait "$CREG_PID" 2> /dev/null; fi
  [[ ${KEEP:-0} == 1 ]] || rm -rf "$BENCH_DIR/registry" "$ROOT" "$BK_DIR/root" "$OUT/ctx"
  return 0
}
trap cleanup EXIT

# the caches' registry
command -v docker-registry > /dev/null || die "docker-registry is missing (scripts/bases.sh installs it)"
curl -fs -o /dev/null "http://$CREG/v2/" 2> /dev/null && die "127.0.0.1:$CACHE_PORT answers already: set CACHE_PORT to a free port"
mkdir -p "$BENCH_DIR/registry"
cat > "$BENCH_DIR/registry/config.yml" << EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $BENCH_DIR/registry/data
http:
  addr: $CREG
EOF
docker-registry serve "$BENCH_DIR/registry/config.yml" > "$OUT/logs/cache-registry.log" 2>&1 < /dev/null &
CREG_PID=$!
for _ in $(seq 50); do curl -fs -o /dev/null "http://$CREG/v2/" && break; sleep 0.1; done
curl -fs -o /dev/null "http://$CREG/v2/" || die "the cache registry did not start: $(tail -5 "$OUT/logs/cache-registry.log")"
if [[ " $BUILDERS " == *" buildkit "* ]]; then
  if [[ ! -x $BK_DIR/bin/buildkitd ]]; then # reuse the binaries scripts/buildkit.sh built, else build them
    def=/var/tmp/strata-buildkit/${BUILDKIT_VERSION:-v0.34.2}/bin
    mkdir -p "$BK_DIR/bin"
    if [[ -x $def/buildkitd && -x $def/buildctl ]]; then cp "$def/buildkitd" "$def/buildctl" "$BK_DIR/bin/"; fi
  fi
  bk() { BUILDKIT_DIR=$BK_DIR BUILDKIT_SOCK=$BK_SOCK REGISTRY_ADDR=$REG ./scripts/buildkit.sh "$@"; }
  bk start > /dev/null 2> "$OUT/logs/buildkitd-start.log" || { tail -20 "$OUT/logs/buildkitd-start.log"; die "scripts/buildkit.sh start"; }
  BK_STARTED=1
fi

# ------------------------------------------------------------------ helpers
s() { "$STRATA" --root "$1" --registry-mirror "$REG" "${@:2}"; }
now() { date +%s.%N; }
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$OUT/results.tsv"; log "  $1 $2: $3"; }
printf 'example\tmetric\tvalue\n' > "$OUT/results.tsv"

# strata_export_s LOG REPORT: the export's seconds from the build report
# (--report: .cache.export.seconds), else the summary line, else the
# progress step's DONE line
strata_export_s() {
  local v
  v=$(jq -r '.cache.export.seconds // empty | . * 1000 | round / 1000' "$2" 2> /dev/null || true)
  [[ -z $v ]] && v=$(sed -n 's/^exporting cache \([0-9.]*\) s,.*/\1/p' "$1" | tail -1)
  if [[ -z $v ]]; then
    local n
    n=$(sed -n 's/^#\([0-9]*\) \[cache [0-9]*\/[0-9]*\] exporting cache to .*/\1/p' "$1" | tail -1)
    [[ -n $n ]] && v=$(sed -n "s/^#$n DONE \([0-9.]*\)s$/\1/p" "$1" | tail -1)
  fi
  echo "${v:-FAIL}"
}

# cache_layers REF: "digest size" of each layer of the cache manifest at REF
cache_layers() {
  local repo=${1%:*} tag=${1##*:}
  curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$CREG/v2/${repo#"$CREG"/}/manifests/$tag" \
    | jq -r '.layers[] | "\(.digest) \(.size)"'
}

# bk_export_s RAWJSON: the "exporting cache to registry" vertex's seconds
bk_export_s() {
  python3 - "$1" <<'EOF'
import json, sys
from datetime import datetime
def t(s):  # RFC 3339 with nanoseconds
    s = s.replace("Z", "+00:00")
    head, _, tail = s.partition(".")
    if tail:
        frac, tz = tail[:tail.index("+") if "+" in tail else len(tail)], tail[len(tail.split("+")[0]):]
        s = head + "." + frac[:6].ljust(6, "0") + tz
    return datetime.fromisoformat(s)
start = end = None
for line in open(sys.argv[1]):
    line = line.strip()
    if not line.startswith("{"):
        continue
    for v in json.loads(line).get("vertexes") or []:
        if not v.get("name", "").startswith("exporting cache"):
            continue
        if v.get("started"):
            start = min(start or t(v["started"]), t(v["started"]))
        if v.get("completed"):
            end = max(end or t(v["completed"]), t(v["completed"]))
print(f"{(end - start).total_seconds():.2f}" if start and end else "FAIL")
EOF
}

# ------------------------------------------------------------------ run
# median V...: the median of the numbers among V (FAIL when none)
median() { python3 -c 'import statistics, sys; v = [float(a) for a in sys.argv[1:] if a.replace(".", "", 1).isdigit()]; print(f"{statistics.median(v):.3f}" if v else "FAIL")' "$@"; }
secs() { python3 -c "print(f'{$(now) - $1:.2f}')"; }

# edit_file EXAMPLE: the source file the edit scenario changes
edit_file() { case $1 in java) echo src/main/java/com/example/app/App.java ;; node) echo src/server.js ;; *) echo Dockerfile ;; esac; }

for ex in $EXAMPLES; do
  [[ -f examples/$ex/Dockerfile ]] || die "no examples/$ex/Dockerfile"
  dir=$OUT/ctx/$ex # a copy: the edit scenario changes a file
  mkdir -p "$OUT/ctx" && cp -r "examples/$ex" "$dir"
  edit() { echo "// bench-cache edit $1 $STAMP" >> "$dir/$(edit_file "$ex")"; } # new content: never in a cache yet
  if [[ " $BUILDERS " == *" strata "* ]]; then
    log "$ex strata: bases into $ROOT (untimed build)"
    s "$ROOT" build --progress=plain -t bench-cache/$ex "$dir" > "$OUT/logs/$ex-strata-warmup.log" 2>&1 \
      || { tail -20 "$OUT/logs/$ex-strata-warmup.log"; die "$ex: strata warm-up build"; }
    cold=() export=()
    for i in $(seq "$RUNS"); do
      ref=$CREG/$REPO/strata-$ex-$i:cache
      log "$ex strata cold $i/$RUNS, --cache-to $ref"
      l=$OUT/logs/$ex-strata-cold-$i
      t0=$(now)
      s "$ROOT" build --progress=plain --no-cache -t bench-cache/$ex --report "$l.json" \
        --cache-to "type=registry,ref=$ref,mode=max" "$dir" > "$l.log" 2>&1 \
        || { tail -20 "$l.log"; die "$ex: strata cold build"; }
      cold+=("$(secs "$t0")") export+=("$(strata_export_s "$l.log" "$l.json")")
      log "  ${cold[-1]} s, export ${export[-1]} s"
      grep -E '^(exporting|importing) cache|^#[0-9]+ (\[cache|[0-9]+ blobs)' "$l.log" >&2 || true
    done
    record "$ex" strata_cold_s "$(median "${cold[@]}")"
    record "$ex" strata_export_s "$(median "${export[@]}")"
    log "$ex strata edit: $(edit_file "$ex") changed, --cache-to $ref again"
    edit strata
    l=$OUT/logs/$ex-strata-edit
    t0=$(now)
    s "$ROOT" build --progress=plain -t bench-cache/$ex --report "$l.json" \
      --cache-to "type=registry,ref=$ref,mode=max" "$dir" > "$l.log" 2>&1 || { tail -20 "$l.log"; die "$ex: strata edit build"; }
    record "$ex" strata_edit_s "$(secs "$t0")"
    record "$ex" strata_edit_export_s "$(strata_export_s "$l.log" "$l.json")"
    grep -E '^exporting cache' "$l.log" >&2 || true

    log "$ex strata import into an empty store, --cache-from $ref"
    root2=$OUT/strata-import-$ex
    t0=$(now)
    s "$root2" build --progress=plain -t bench-cache/$ex --cache-from "type=registry,ref=$ref" "$dir" \
      > "$OUT/logs/$ex-strata-import.log" 2>&1 || { tail -20 "$OUT/logs/$ex-strata-import.log"; die "$ex: strata import build"; }
    record "$ex" import_build_s "$(secs "$t0")"
    grep -E '^(exporting|importing) cache' "$OUT/logs/$ex-strata-import.log" >&2 || true
    record "$ex" import_steps_run "$(sed -n 's/^built .* (\([0-9]*\) steps\? run.*/\1/p' "$OUT/logs/$ex-strata-import.log" | tail -1)"
    total=0 pulled=0
    while read -r d size; do
      total=$((total + size))
      [[ -f $root2/blobs/sha256/${d#sha256:} ]] && pulled=$((pulled + size))
    done < <(cache_layers "$ref")
    record "$ex" cache_bytes "$total"
    record "$ex" import_pulled_bytes "$pulled"
    rm -rf "$root2"
  fi
  if [[ " $BUILDERS " == *" buildkit "* ]]; then
    ctx=()
    [[ $ex == node ]] && ctx=(--opt "context:$NODE_DISTROLESS=docker-image://$REG/${NODE_DISTROLESS#gcr.io/}")
    bkbuild() {
      "$BK" --addr "$BK_ADDR" build --frontend dockerfile.v0 --opt cmdline= --local context="$dir" --local dockerfile="$dir" \
        "${ctx[@]}" --output "type=image,name=docker.io/bench-cache/$ex" "$@"
    }
    log "$ex BuildKit: bases (untimed build)"
    bkbuild --progress=plain > "$OUT/logs/$ex-buildkit-warmup.log" 2>&1 \
      || { tail -20 "$OUT/logs/$ex-buildkit-warmup.log"; die "$ex: BuildKit warm-up build"; }
    cold=() export=()
    for i in $(seq "$RUNS"); do
      ref=$CREG/$REPO/buildkit-$ex-$i:cache
      log "$ex BuildKit cold $i/$RUNS, --export-cache $ref"
      l=$OUT/logs/$ex-buildkit-cold-$i
      t0=$(now)
      bkbuild --progress=rawjson --no-cache --export-cache "type=registry,ref=$ref,mode=max" > "$l.log" 2> "$l.json" \
        || { tail -20 "$l.json"; die "$ex: BuildKit cold build"; }
      cold+=("$(secs "$t0")") export+=("$(bk_export_s "$l.json" 2> /dev/null || echo FAIL)")
      log "  ${cold[-1]} s, export ${export[-1]} s"
    done
    record "$ex" buildkit_cold_s "$(median "${cold[@]}")"
    record "$ex" buildkit_export_s "$(median "${export[@]}")"
    log "$ex BuildKit edit: $(edit_file "$ex") changed, --export-cache $ref again"
    edit buildkit
    l=$OUT/logs/$ex-buildkit-edit
    t0=$(now)
    bkbuild --progress=rawjson --export-cache "type=registry,ref=$ref,mode=max" > "$l.log" 2> "$l.json" \
      || { tail -20 "$l.json"; die "$ex: BuildKit edit build"; }
    record "$ex" buildkit_edit_s "$(secs "$t0")"
    record "$ex" buildkit_edit_export_s "$(bk_export_s "$l.json" 2> /dev/null || echo FAIL)"
  fi
done

# ------------------------------------------------------------------ table
{
  echo "# $(date -u +%FT%TZ)  $(nproc) cores  load $(cut -d' ' -f1-3 /proc/loadavg)  medians of $RUNS cold builds; one import"
  rev=$(go version -m "$STRATA" 2> /dev/null | awk '$2 == "vcs.revision" {print substr($3, 1, 7)}' || true)
  echo "# strata ${rev:-(unknown revision)} | BuildKit ${BUILDKIT_VERSION:-v0.34.2} (buildctl, runc worker) | caches: mode=max to $CREG (docker-registry)"
  echo "# cold: --no-cache, bases in the store; export: the build's own figure (strata summary/progress, BuildKit's exporting-cache vertex)"
  echo "# import: a second, empty store builds with --cache-from; pulled: cache layer bytes it fetched, of the cache's size"
  awk -F'\t' '
    function num(a) { return a ~ /^[0-9.]+$/ }
    function s(a) { return num(a) ? sprintf("%.2f s", a) : (a == "" ? "-" : a) }
    function pct(a, b) { return (num(a) && num(b) && b > 0) ? sprintf("%.1f%%", 100 * a / b) : "-" }
    function r(a, b) { return (num(a) && num(b) && b > 0) ? sprintf("%.2fx", a / b) : "-" }
    function mb(a) { return num(a) ? sprintf("%.1f MB", a / 1e6) : "-" }
    NR == 1 { next }
    { V[$1 SUBSEP $2] = $3; if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } }
    END {
      printf "%-6s %10s %10s %8s %10s %10s %9s %10s %6s %22s\n", "ex.", "strata", "export", "exp/bld", "BuildKit", "export", "s/BK exp", "import", "steps", "import pulled / cache"
      for (i = 1; i <= n; i++) {
        e = order[i]
        sc = V[e SUBSEP "strata_cold_s"]; se = V[e SUBSEP "strata_export_s"]
        kc = V[e SUBSEP "buildkit_cold_s"]; ke = V[e SUBSEP "buildkit_export_s"]
        p = V[e SUBSEP "import_pulled_bytes"]; c = V[e SUBSEP "cache_bytes"]
        printf "%-6s %10s %10s %8s %10s %10s %9s %10s %6s %22s\n", e, s(sc), s(se), pct(se, sc), s(kc), s(ke), r(se, ke), s(V[e SUBSEP "import_build_s"]),
          (V[e SUBSEP "import_steps_run"] == "" ? "-" : V[e SUBSEP "import_steps_run"]), mb(p) " / " mb(c) " " pct(p, c)
      }
      printf "%-6s %10s %10s %8s %10s %10s %9s   (edit: a source file changed, exported to the same ref again)\n", "", "edit", "export", "exp/bld", "edit", "export", "s/BK exp"
      for (i = 1; i <= n; i++) {
        e = order[i]
        sc = V[e SUBSEP "strata_edit_s"]; se = V[e SUBSEP "strata_edit_export_s"]
        kc = V[e SUBSEP "buildkit_edit_s"]; ke = V[e SUBSEP "buildkit_edit_export_s"]
        printf "%-6s %10s %10s %8s %10s %10s %9s\n", e, s(sc), s(se), pct(se, sc), s(kc), s(ke), r(se, ke)
      }
      print "# goals: exp/bld <= 10%, s/BK exp <= 0.33x, steps 0"
    }' "$OUT/results.tsv"
} | tee "$OUT/table.txt"
log "results: $OUT (results.tsv, table.txt, logs/)"
