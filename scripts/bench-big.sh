#!/usr/bin/env bash
# bench-big.sh - issue 16's big-image figures: strata against docker 20.10's
# BuildKit (DOCKER_BUILDKIT=1 /usr/bin/docker) and BuildKit v0.34.2 (buildctl,
# runc worker) in the same run, each as a ratio (`make bench-big`, part of
# `make bench`). One command from a clean state: it makes its inputs, starts
# what it needs (dockerd through ../shared/peers/setup.sh, its own buildkitd
# through scripts/buildkit.sh), removes what it built, and prints the table.
#
# Cases (CASES):
#   layer     one RUN writing a 900 MB layer (400 MB from /dev/urandom, 500 MB
#             of `yes` text), built cold and exported as an image: strata's
#             stored image with gzip (default) and zstd (--compression zstd);
#             docker's image in dockerd (its overlay2 store keeps layers
#             uncompressed); BuildKit's image in its store (--output
#             type=image, compression=gzip and =zstd). On each base of
#             LAYER_BASES: the first (debian:bookworm-slim, whose coreutils
#             write the 900 MB in about a third of busybox's time, so the
#             rows show the builders rather than busybox's head and yes)
#             gives the rows layer-gzip and layer-zstd; each other base
#             (busybox:latest) layer-gzip-busybox and layer-zstd-busybox.
#             Every builder has the base in its store beforehand (loaded,
#             and one untimed `FROM base` + `RUN true` build), and cold
#             means its build cache emptied but the base kept (BuildKit:
#             the records of RUN steps pruned, the pulled base not).
#             RUNS rounds, each building every builder and compression once
#             in turn (so other jobs' load hits them alike; every other round
#             in the reverse order); the median of each. Goals (the first base): strata gzip <= 0.8x docker,
#             strata zstd <= 0.55x docker.
#   context   a 100,000-file, 1 GiB context ($FILES files, $MB MiB: half
#             text, half random, log-normal sizes, made once, deterministic)
#             and two Dockerfiles:
#               all: `COPY . /src` + a RUN reading one file
#               app: the context but app/ COPY'd in one step, the small app/
#                    in another, a RUN reading one app/ file; with a
#                    <Dockerfile>.dockerignore of four patterns
#             noop         all, nothing changed (goal < 100 ms)
#             noop-ignore  app, nothing changed (goal < 100 ms)
#             edit-app     app, one app/ file changed (the edit loop; goal < 300 ms)
#             edit-all     all, one file changed: `COPY . /src` runs again and makes a
#                          new layer of the whole context, as every builder does
#                          ($EDIT_ALL_RUNS runs: each writes 1 GiB)
#   java      strata's peak RSS building examples/java cold (VmHWM of the
#             strata process itself, read until it exits; the JVM and other
#             children are not counted). Goal < 200 MB.
#
#   env: CASES (default "layer context java")  BUILDERS (default "strata docker buildkit")
#        RUNS (default 3)  BENCH_DIR (default /var/tmp/strata-bench): results in
#        $BENCH_DIR/<timestamp>/ (results.tsv, table.txt, logs/)
#        INPUTS (default /var/tmp/strata-bench-big): the generated context, kept between runs
#        FILES (100000)  MB (1024)  LAYER_MB (900: 4/9 random, 5/9 text)
#        LAYER_BASES (default "debian:bookworm-slim busybox:latest"; the
#        busybox pair adds about half the layer case's time: LAYER_BASES=
#        debian:bookworm-slim leaves it out)
#        EDIT_ALL_RUNS (default 1)  KEEP=1 keeps the stores in $OUT/work
#        MIN_FREE_GB (default 14): refuse to start with less free space under
#        $BENCH_DIR (each builder's context builds hold some 6 GB until pruned)
#        STRATA (default ./bin/strata, built by make bench-big)
# Pruning docker's build cache is global: docker is skipped while a
# conformance run (pgrep -f '[c]onformance') may be using it.
set -euo pipefail
cd "$(dirname "$0")/.."

CASES=${CASES:-"layer context java"}
BUILDERS=${BUILDERS:-"strata docker buildkit"}
RUNS=${RUNS:-3}
BENCH_DIR=${BENCH_DIR:-/var/tmp/strata-bench}
INPUTS=${INPUTS:-/var/tmp/strata-bench-big}
FILES=${FILES:-100000}
MB=${MB:-1024}
LAYER_MB=${LAYER_MB:-900}
LAYER_BASES=${LAYER_BASES:-"debian:bookworm-slim busybox:latest"}
EDIT_ALL_RUNS=${EDIT_ALL_RUNS:-1}
MIN_FREE_GB=${MIN_FREE_GB:-14}
STRATA=$(realpath "${STRATA:-./bin/strata}")
DOCKER=/usr/bin/docker # the Debian 20.10 CLI (BuildKit built in)
PEERS_SCRIPTS=${PEERS_SCRIPTS:-/work/shared/peers}
PEERS_REG=127.0.0.1:5000 # the peers' registry: BuildKit's docker.io mirror
OUT=$BENCH_DIR/$(date +%Y%m%d-%H%M%S)
WORK=$OUT/work
ROOT=$WORK/strata-root
BK_DIR=$WORK/buildkit
BK_SOCK=/run/strata-bench-big/buildkitd.sock
BK=$BK_DIR/bin/buildctl
BASE=busybox:latest # the context case's

log() { printf '[bench-big %(%T)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
has() { [[ " $2 " == *" $1 "* ]]; }
[ "$(id -u)" = 0 ] || die "run as root (the RUN sandbox, dockerd, buildkitd)"
[[ -x $STRATA ]] || die "no strata binary at $STRATA (make build)"
command -v hyperfine > /dev/null || die "hyperfine is missing (apt-get install hyperfine)"
mkdir -p "$OUT/logs" "$WORK" "$INPUTS"
free_gb=$(df --output=avail -BG "$BENCH_DIR" | tail -1 | tr -dc 0-9)
((free_gb >= MIN_FREE_GB)) || die "only ${free_gb} GB free under $BENCH_DIR, want $MIN_FREE_GB (MIN_FREE_GB)"
ln -sfn "$OUT" "$BENCH_DIR/latest"
S="$STRATA --root $ROOT"

if has docker "$BUILDERS" && pgrep -f '[c]onformance' > /dev/null; then
  log "docker: skipped, a conformance run may be using its build cache"
  BUILDERS=${BUILDERS//docker/}
fi

# ------------------------------------------------------------------ builders and the base
cleanup() {
  if has buildkit "$BUILDERS"; then bk stop 2> /dev/null || true; fi
  if has docker "$BUILDERS"; then
    $DOCKER images --format '{{.Repository}}:{{.Tag}}' | grep '^bench-big/' | xargs -r $DOCKER rmi -f > /dev/null 2>&1 || true
    $DOCKER builder prune -af > /dev/null 2>&1 || true
  fi
  if [[ ${KEEP:-0} != 1 ]]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
bk() { BUILDKIT_DIR=$BK_DIR BUILDKIT_SOCK=$BK_SOCK REGISTRY_ADDR=$PEERS_REG ./scripts/buildkit.sh "$@"; }

if ! $DOCKER info > /dev/null 2>&1 || ! curl -fs "http://$PEERS_REG/v2/" > /dev/null; then
  log "dockerd or the peers' registry is not running: $PEERS_SCRIPTS/setup.sh"
  "$PEERS_SCRIPTS/setup.sh" > "$OUT/logs/setup.log" 2>&1 || { tail -20 "$OUT/logs/setup.log"; die "setup.sh"; }
fi
BASES="$BASE"
has layer "$CASES" && BASES="$BASE $LAYER_BASES"
for b in $BASES; do
  if ! $DOCKER image inspect "$b" > /dev/null 2>&1; then
    log "$b missing in dockerd: $PEERS_SCRIPTS/bases.sh"
    NODE=0 "$PEERS_SCRIPTS/bases.sh" > "$OUT/logs/bases.log" 2>&1 || { tail -20 "$OUT/logs/bases.log"; die "bases.sh"; }
  fi
  log "strata load $b (docker's own)"
  $DOCKER save "$b" | $S load >> "$OUT/logs/strata-load.log" 2>&1 || die "strata load $b"
done
if has buildkit "$BUILDERS"; then
  mkdir -p "$BK_DIR/bin"
  def=/var/tmp/strata-buildkit/${BUILDKIT_VERSION:-v0.34.2}/bin # reuse what scripts/buildkit.sh built
  if [[ -x $def/buildkitd && -x $def/buildctl ]]; then cp "$def/buildkitd" "$def/buildctl" "$BK_DIR/bin/"; fi
  bk start > /dev/null 2> "$OUT/logs/buildkitd-start.log" || { tail -20 "$OUT/logs/buildkitd-start.log"; die "scripts/buildkit.sh start"; }
fi

# ------------------------------------------------------------------ commands
# build_cmd BUILDER DIR DOCKERFILE TAG NOCACHE [COMPRESSION]
build_cmd() {
  local nc="" comp=${6:-gzip}
  case $1 in
    strata)
      [[ $5 == 1 ]] && nc="--no-cache "
      echo "$S build --progress=quiet $nc--compression $comp -f $2/$3 -t $4 $2" ;;
    docker)
      echo "DOCKER_BUILDKIT=1 $DOCKER build -q -f $2/$3 -t $4 $2" ;;
    buildkit)
      [[ $5 == 1 ]] && nc="--no-cache "
      echo "$BK --addr unix://$BK_SOCK build --progress=plain $nc--frontend dockerfile.v0 --local context=$2 --local dockerfile=$2" \
        "--opt filename=$3 --output type=image,name=docker.io/$4,compression=$comp" ;;
  esac
}
# cold_prep BUILDER TAG: the build cache emptied (and the image removed), bases kept
cold_prep() {
  case $1 in
    strata) echo "$S rmi $2 > /dev/null 2>&1; $S prune -af > /dev/null" ;;
    docker) echo "$DOCKER rmi -f $2 > /dev/null 2>&1; $DOCKER builder prune -af > /dev/null" ;;
    buildkit) echo "$BK --addr unix://$BK_SOCK prune --all > /dev/null" ;;
  esac
}

# layer_prep BUILDER TAG: cold_prep, but BuildKit keeps the pulled base (only
# the records of RUN steps go: its layer is remade, the base not pulled again)
layer_prep() {
  case $1 in
    buildkit) echo "$BK --addr unix://$BK_SOCK prune --all --filter 'description~=\"^mount / from exec\"' > /dev/null" ;;
    *) cold_prep "$@" ;;
  esac
}

# median T...: the median of the times, or FAIL if one failed
median() {
  if [[ " $* " == *" FAIL "* ]]; then
    echo FAIL
    return
  fi
  printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# timed NAME CMD PREPARE WARMUP (bench-lib.sh): the median of $RUNS runs, in seconds, or FAIL
source scripts/bench-lib.sh # the cwd is the repository (cd above)

# record CASE BUILDER VALUE
printf 'case\tbuilder\tvalue\n' > "$OUT/results.tsv"
record() { printf '%s\t%s\t%s\n' "$@" >> "$OUT/results.tsv"; log "  $1 $2: $3"; }

# ------------------------------------------------------------------ layer: 900 MB in one RUN
if has layer "$CASES"; then
  first=1
  for base in $LAYER_BASES; do
    sfx=""
    [[ $first == 1 ]] || sfx="-${base%%:*}"
    first=0
    L=$WORK/layer$sfx
    W=$WORK/layer-warm$sfx
    mkdir -p "$L" "$W"
    cat > "$L/Dockerfile" << EOF
FROM $base
RUN head -c $((LAYER_MB * 4000000 / 9)) /dev/urandom > /random.bin \\
 && yes 'bench-big: a line of compressible text, the same words again and again' | head -c $((LAYER_MB * 5000000 / 9)) > /text.txt
EOF
    printf 'FROM %s\nRUN true\n' "$base" > "$W/Dockerfile"
    pairs=()
    for b in $BUILDERS; do
      log "layer$sfx $b: the base in its store (an untimed FROM $base + RUN true)"
      bash -c "$(build_cmd "$b" "$W" Dockerfile "bench-big/warm:$b" 1)" >> "$OUT/logs/layer-warm.log" 2>&1 || die "layer$sfx $b: warm-up build failed (logs/layer-warm.log)"
      comps=gzip
      [[ $b != docker ]] && comps="gzip zstd"
      for c in $comps; do pairs+=("$b:$c"); done
    done
    # Rounds: each builds every (builder, compression) once in turn, so a
    # change of load (other jobs on the machine) hits all of them alike;
    # every other round in the reverse order, so none always follows another.
    declare -A times=()
    for r in $(seq "$RUNS"); do
      order=("${pairs[@]}")
      ((r % 2)) || mapfile -t order < <(printf '%s\n' "${pairs[@]}" | tac)
      for p in "${order[@]}"; do
        b=${p%%:*} c=${p#*:} tag=bench-big/layer:${p/:/-}
        ((r > 1)) || log "layer$sfx $b $c: $(build_cmd "$b" "$L" Dockerfile "$tag" 1 "$c")"
        t=$(RUNS=1 timed "layer$sfx-$b-$c-$r" "$(build_cmd "$b" "$L" Dockerfile "$tag" 1 "$c")" "$(layer_prep "$b" "$tag")" 0)
        log "  layer$sfx $b $c round $r: $t s (load $(cut -d' ' -f1 /proc/loadavg))"
        times[$p]+="$t "
        bash -c "$(layer_prep "$b" "$tag")" || true # 900 MB each: not kept
      done
    done
    for p in "${pairs[@]}"; do
      # shellcheck disable=SC2086 # a list of times
      record "layer-${p#*:}$sfx" "${p%%:*}" "$(median ${times[$p]})"
    done
    unset times
  done
fi

# ------------------------------------------------------------------ context: 100,000 files, 1 GiB
if has context "$CASES"; then
  CTX=$INPUTS/context-$FILES-$MB
  if [[ ! -f $CTX.done ]]; then
    log "writing $CTX ($FILES files, $MB MiB; once)"
    rm -rf "$CTX"
    python3 - "$CTX" "$FILES" "$MB" << 'EOF'
import os, random, sys
out, nfiles, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(42)
sizes = [rnd.lognormvariate(8.5, 1.6) for _ in range(nfiles)]
scale = mib * 1024 * 1024 / sum(sizes)
text = b"".join(b"line %d of some compressible text, the same words again and again\n" % i for i in range(300000))
noise = rnd.randbytes(64 << 20)
kinds = ["src/pkg%d", "node_modules/dep%d/lib", "docs/section%d", "assets/img%d", "vendor/mod%d/sub", "data/set%d/part"]
for i, s in enumerate(sizes):
    d = os.path.join(out, kinds[i % len(kinds)] % (i // 61 % 300))
    os.makedirs(d, exist_ok=True)
    src = noise if i % 2 else text
    size = min(int(s * scale), len(src))
    off = rnd.randrange(0, len(src) - size + 1)
    with open(os.path.join(d, "f%d.dat" % i), "wb") as f:
        f.write(src[off:off + size])
os.makedirs(os.path.join(out, "app"), exist_ok=True)
for i in range(20):
    with open(os.path.join(out, "app", "part%d.txt" % i), "w") as f:
        f.write("part %d of the app\n" % i)
EOF
    touch "$CTX.done"
  fi
  C=$WORK/context # a copy the edits change; the Dockerfiles live outside it
  D=$WORK/dockerfiles
  log "copying the context to $C"
  rm -rf "$C" && cp -a "$CTX" "$C" && mkdir -p "$D"
  echo 0 > "$C/app/main.txt"
  printf 'FROM %s\nCOPY . /src\nRUN wc -c /src/src/pkg0/f0.dat\n' "$BASE" > "$D/Dockerfile.all"
  printf 'FROM %s\nCOPY src node_modules docs assets vendor data /deps/\nCOPY app /app\nRUN wc -c /app/main.txt\n' "$BASE" > "$D/Dockerfile.app"
  printf '**/*.tmp\ndocs/section1*\n!docs/section10\n.git\n' > "$D/Dockerfile.app.dockerignore"
  edit="date +%s%N > $C/app/main.txt"
  # ctx_cmd BUILDER DOCKERFILE TAG: build_cmd with the Dockerfile outside the context
  ctx_cmd() {
    case $1 in
      strata) echo "$S build --progress=quiet -f $D/$2 -t $3 $C" ;;
      docker) echo "DOCKER_BUILDKIT=1 $DOCKER build -q -f $D/$2 -t $3 $C" ;;
      buildkit) echo "$BK --addr unix://$BK_SOCK build --progress=plain --frontend dockerfile.v0 --local context=$C --local dockerfile=$D" \
        "--opt filename=$2 --output type=image,name=docker.io/$3" ;;
    esac
  }
  for b in $BUILDERS; do
    for f in all app; do # untimed: the cold builds
      log "context $b $f: cold build (untimed)"
      bash -c "$(ctx_cmd "$b" "Dockerfile.$f" "bench-big/ctx-$f:$b")" >> "$OUT/logs/context-$b-cold.log" 2>&1 || die "context $b $f: cold build failed (logs/context-$b-cold.log)"
    done
    t=$(timed "noop-$b" "$(ctx_cmd "$b" Dockerfile.all "bench-big/ctx-all:$b")" "" 1)
    record noop "$b" "$t"
    t=$(timed "noop-ignore-$b" "$(ctx_cmd "$b" Dockerfile.app "bench-big/ctx-app:$b")" "" 1)
    record noop-ignore "$b" "$t"
    t=$(timed "edit-app-$b" "$(ctx_cmd "$b" Dockerfile.app "bench-big/ctx-app:$b")" "$edit" 1)
    record edit-app "$b" "$t"
    t=$(RUNS=$EDIT_ALL_RUNS timed "edit-all-$b" "$(ctx_cmd "$b" Dockerfile.all "bench-big/ctx-all:$b")" "$edit" 0)
    record edit-all "$b" "$t"
    bash -c "$(cold_prep "$b" "bench-big/ctx-all:$b"); $(cold_prep "$b" "bench-big/ctx-app:$b")" || true # GBs each: not kept
  done
fi

# ------------------------------------------------------------------ java: strata's peak RSS
# hwm LOG CMD...: runs CMD (output to LOG); prints the peak VmHWM in MB of
# that process alone, read every 20 ms until it exits (VmHWM only grows)
hwm() {
  local logf=$1
  shift
  "$@" >> "$logf" 2>&1 &
  local pid=$! peak=0 v
  while kill -0 "$pid" 2> /dev/null; do
    v=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status" 2> /dev/null || true)
    [[ -n $v && $v -gt $peak ]] && peak=$v
    sleep 0.02
  done
  wait "$pid" || return 1
  awk -v k="$peak" 'BEGIN { printf "%.0f\n", k / 1024 }'
}
if has java "$CASES" && has strata "$BUILDERS"; then
  log "java: scripts/bases.sh (the examples' bases on 127.0.0.1:${BASES_PORT:-5001})"
  STRATA="$STRATA" ./scripts/bases.sh > "$OUT/logs/bases.log" 2>&1 || { tail -20 "$OUT/logs/bases.log"; die "scripts/bases.sh"; }
  J=("$STRATA" --root "$ROOT" --registry-mirror "127.0.0.1:${BASES_PORT:-5001}" build --progress=plain -t bench-big/java examples/java)
  "${J[@]}" > "$OUT/logs/java-first.log" 2>&1 || die "java: first build failed (logs/java-first.log)"
  peak=0
  for _ in $(seq "$RUNS"); do # cold: every step runs, the bases are local
    m=$(hwm "$OUT/logs/java.log" "${J[@]}" --no-cache) || die "java: build failed (logs/java.log)"
    log "  java --no-cache: strata peak RSS $m MB"
    ((m > peak)) && peak=$m
  done
  record java-rss-mb strata "$peak"
fi

# ------------------------------------------------------------------ table
{
  echo "# $(date -u +%FT%TZ)  $(nproc) cores  $(uname -r)  load $(cut -d' ' -f1-3 /proc/loadavg)  runs=$RUNS  medians of wall time ($(hyperfine --version))"
  rev=$(go version -m "$STRATA" 2> /dev/null | awk '$2 == "vcs.revision" {print substr($3, 1, 7)}')
  if [[ -z $rev ]] && (($(stat -c %Y "$STRATA") >= $(git log -1 --format=%ct 2> /dev/null || echo 9999999999))); then
    rev="tree at $(git rev-parse --short HEAD)"
  fi
  echo "# strata ${rev:-(unknown revision)} | docker $($DOCKER version -f '{{.Server.Version}}' 2> /dev/null) BuildKit | BuildKit ${BUILDKIT_VERSION:-v0.34.2} (buildctl, runc worker)"
  echo "# layer: one RUN writing $LAYER_MB MB (4/9 random, 5/9 text) on $LAYER_BASES (rows -<base> after the first), cold, the base in each store, to an image (docker: its overlay2 store, uncompressed; a zstd row compares with docker's same build)"
  echo "# context: $FILES files, $MB MiB; noop: COPY . /src, nothing changed; noop-ignore: the context in one COPY, app/ in another, a .dockerignore; edit-app: that, one app/ file changed; edit-all: one file changed under COPY . /src (a new layer of the whole context; runs=$EDIT_ALL_RUNS)"
  echo "# java: peak RSS of the strata process (VmHWM), examples/java --no-cache, max of $RUNS"
  awk -F'\t' '
    function num(a) { return a ~ /^[0-9.]+$/ }
    function s(a, u) { return num(a) ? (u == "MB" ? sprintf("%d MB", a) : (a < 1 ? sprintf("%.0f ms", a * 1000) : sprintf("%.2f s", a))) : (a == "" ? "-" : a) }
    function r(a, b) { return (num(a) && num(b) && b > 0) ? sprintf("%.2fx", a / b) : "-" }
    NR == 1 { next }
    { V[$1 SUBSEP $2] = $3; if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } }
    END {
      goal["layer-gzip"] = "strata/docker <= 0.80x"; goal["layer-zstd"] = "strata/docker <= 0.55x"
      goal["noop"] = "strata < 100 ms"; goal["noop-ignore"] = "strata < 100 ms"; goal["edit-app"] = "strata < 300 ms"
      goal["edit-all"] = "(a new layer of the whole context)"; goal["java-rss-mb"] = "strata < 200 MB"
      printf "%-19s %10s %10s %10s %14s %16s  %s\n", "case", "strata", "docker", "BuildKit", "strata/docker", "strata/BuildKit", "goal"
      for (i = 1; i <= n; i++) {
        c = order[i]; u = (c ~ /-mb$/) ? "MB" : "s"
        st = V[c SUBSEP "strata"]; dk = V[c SUBSEP "docker"]; bk = V[c SUBSEP "buildkit"]
        if (c ~ /^layer-zstd/ && dk == "") { g = c; sub(/^layer-zstd/, "layer-gzip", g); dk = V[g SUBSEP "docker"] }
        if (c ~ /^layer-.*-/ && !(c in goal)) goal[c] = "(" substr(c, index(substr(c, 7), "-") + 7) " base)"
        printf "%-19s %10s %10s %10s %14s %16s  %s\n", c, s(st, u), s(dk, u), s(bk, u), r(st, dk), r(st, bk), goal[c]
      }
    }' "$OUT/results.tsv"
} | tee "$OUT/table.txt"
log "results: $OUT (results.tsv, table.txt, logs/)"
