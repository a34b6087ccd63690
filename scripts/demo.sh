#!/usr/bin/env bash
# The demo: real applications built by strata both ways, measured, run.
#
#   1. setup (scripts/setup.sh) and the base images (scripts/bases.sh: local
#      stand-ins of golang, node, python, maven, temurin, distroless, served by
#      a registry on 127.0.0.1:5001 that strata uses as its docker.io mirror)
#   2. a first small build: examples/sample on a busybox base
#   3. examples/{go,node,python,java}: Dockerfile.traditional and the
#      multi-stage Dockerfile; examples/advanced: targets production and debug
#   4. the size table (strata compare) beside the published figures
#   5. every multi-stage image started with `strata run`, its health endpoint
#      answering on 127.0.0.1
#   6. multi-platform: the Go example for linux/amd64 and linux/arm64 (one
#      index; Go cross-compiles on the build platform), the arm64 image run
#      under QEMU emulation (binfmt_misc) and answering, both sizes
#
# Env: STRATA_ROOT (/var/tmp/strata-demo), BASES_DIR, BASES_PORT (5001),
# PROGRESS (quiet; plain shows every step), DEMO_LOGS (build logs directory),
# STRATA (./bin/strata, built when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
export STRATA_ROOT="${STRATA_ROOT:-/var/tmp/strata-demo}"
REG=127.0.0.1:${BASES_PORT:-5001}
# gcr.io/distroless from the bases registry for every platform (bases.sh
# writes it; the amd64 images are also pulled into the store)
export CONTAINERS_REGISTRIES_CONF=${CONTAINERS_REGISTRIES_CONF:-${BASES_DIR:-/var/tmp/strata-bases}/registries.conf}
BIN=${STRATA:-./bin/strata}
S=("$BIN" --registry-mirror "$REG")
PROGRESS=${PROGRESS:-quiet}
LOGS=${DEMO_LOGS:-$STRATA_ROOT.logs}
T0=$SECONDS
mkdir -p "$LOGS"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { printf '\n\033[1;31mdemo FAILED: %s\033[0m\n' "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (the RUN sandbox needs it)"
[ -x "$BIN" ] || { PATH=/usr/local/go/bin:$PATH CGO_ENABLED=0 go build -o "$BIN" ./cmd/strata; }

step "setup: scripts/setup.sh and scripts/bases.sh"
./scripts/setup.sh
t=$SECONDS
STRATA="$BIN" ./scripts/bases.sh
BASES_S=$((SECONDS - t))

# ------------------------------------------------------------------ 2. sample
step "a first build: examples/sample (the busybox stand-in, made from Debian's busybox-static)"
"${S[@]}" build --progress=plain -t sample:prod --target production examples/sample
"$BIN" run sample:prod strata

# ------------------------------------------------------------------ 3. builds
# name  directory  run port  published traditional  published multi-stage  (MB)
EXAMPLES=(
  "go       examples/go      8081  1130  9.08"
  "node     examples/node    8082  1140  130"
  "python   examples/python  8083  1340  250"
  "java     examples/java    8084  1400  297"
)
declare -A BUILD_S
# build NAME TAG DIR [strata build args...]
build() {
  local name=$1 tag=$2 dir=$3; shift 3
  local log=$LOGS/$name-$tag.log t=$SECONDS
  printf '  %-32s' "$name:$tag"
  if ! "${S[@]}" build "--progress=$PROGRESS" -t "$name:$tag" "$@" "$dir" > "$log" 2>&1; then
    # rerun with the steps shown (the cache skips what succeeded)
    [ "$PROGRESS" = quiet ] && "${S[@]}" build --progress=plain -t "$name:$tag" "$@" "$dir" >> "$log" 2>&1
    tail -40 "$log"
    die "building $name:$tag (log: $log)"
  fi
  BUILD_S[$name:$tag]=$((SECONDS - t))
  printf '%4d s  %s\n' "${BUILD_S[$name:$tag]}" "$(tail -1 "$log" | cut -c1-19)"
}
step "building every example both ways (logs in $LOGS)"
for e in "${EXAMPLES[@]}"; do
  read -r lang dir _ _ _ <<< "$e"
  build "$lang-example" traditional "$dir" -f "$dir/Dockerfile.traditional"
  build "$lang-example" multistage "$dir"
done
build advanced-example production examples/advanced --target production --build-arg VERSION=1.0.0
build advanced-example debug examples/advanced --target debug --build-arg VERSION=1.0.0

# ------------------------------------------------------------------ 4. sizes
step "strata compare: traditional vs multi-stage"
pairs=()
for e in "${EXAMPLES[@]}"; do
  read -r lang _ <<< "$e"
  pairs+=("$lang-example:traditional" "$lang-example:multistage")
done
# two reports of the same images: run them side by side (each reads every layer)
"${S[@]}" compare "${pairs[@]}" --format json > "$LOGS/compare.json" &
cmp_pid=$!
"${S[@]}" compare "${pairs[@]}" advanced-example:debug advanced-example:production --format table
wait "$cmp_pid" || die "strata compare --format json"
json=$(cat "$LOGS/compare.json")

step "strata's images against the published figures (uncompressed sizes)"
GOAL_OK=1
{
  printf '| Language | Traditional | Multi-stage | Reduction | Published traditional | Published multi-stage | Published reduction | Smaller than published |\n'
  printf '|---|---:|---:|---:|---:|---:|---:|:---:|\n'
  i=0
  for e in "${EXAMPLES[@]}"; do
    read -r lang _ _ ptrad pmulti <<< "$e"
    row=$(jq -r --argjson i "$i" '.[$i] | "\(.a.uncompressed) \(.b.uncompressed) \(.reduction)"' <<< "$json")
    read -r a b red <<< "$row"
    ok=yes; awk -v b="$b" -v p="$pmulti" 'BEGIN{exit !(b/1e6 < p)}' || { ok=NO; GOAL_OK=0; }
    awk -v l="$lang" -v a="$a" -v b="$b" -v r="$red" -v pt="$ptrad" -v pm="$pmulti" -v ok="$ok" '
      function h(x) { return x >= 1e9 ? sprintf("%.2f GB", x/1e9) : x < 1e7 ? sprintf("%.2f MB", x/1e6) : sprintf("%.1f MB", x/1e6) }
      BEGIN {
        name["go"]="Go"; name["node"]="Node.js"; name["python"]="Python (Poetry)"; name["java"]="Java (Maven)"
        printf "| %s | %s | %s | %.1f%% | %s | %s | %.1f%% | %s |\n", name[l], h(a), h(b), r, h(pt*1e6), h(pm*1e6), 100*(1-pm/pt), ok
      }'
    i=$((i + 1))
  done
} | tee "$LOGS/size-table.md"

# ------------------------------------------------------------------ 5. run
step "running every multi-stage image with strata run (health on 127.0.0.1)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
# serve IMAGE PORT [PLATFORM]: start it (PLATFORM's image of a multi-platform
# one), wait for /healthz, show /api/info, stop it.
serve() {
  local img=$1 port=$2 log=$LOGS/run-${1//[:\/]/_}${3:+-${3//\//_}}.log plat=()
  [ -n "${3:-}" ] && plat=(--platform "$3")
  if curl -fs -o /dev/null "http://127.0.0.1:$port/healthz"; then die "port $port is already in use"; fi
  "${S[@]}" run --rm "${plat[@]}" -e HOST=127.0.0.1 -e "PORT=$port" "$img" > "$log" 2>&1 &
  local pid=$! t=$SECONDS
  PIDS+=("$pid")
  until curl -fs -o /dev/null "http://127.0.0.1:$port/healthz"; do
    kill -0 "$pid" 2>/dev/null || { cat "$log"; die "$img exited before answering"; }
    [ $((SECONDS - t)) -lt 120 ] || { cat "$log"; die "$img did not answer on 127.0.0.1:$port/healthz"; }
    sleep 0.2
  done
  local user; user=$("$BIN" inspect "${plat[@]}" "$img" | jq -r '.[0].Config.User // ""')
  [ -n "$user" ] && [ "$user" != root ] && [ "${user%%:*}" != 0 ] || die "$img runs as root"
  printf '  %-34s user %-15s :%s/healthz %s  /api/info %s\n' "$img${3:+ [$3]}" "$user" "$port" \
    "$(curl -fs "http://127.0.0.1:$port/healthz")" "$(curl -fs "http://127.0.0.1:$port/api/info")"
  SERVING=$pid
  [ "${SERVE_HOLD:-0}" = 1 ] && return 0 # the caller looks at it, then stops it
  stop_serving
}
stop_serving() { kill "$SERVING"; wait "$SERVING" 2>/dev/null || true; }
SERVED=0
for e in "${EXAMPLES[@]}"; do
  read -r lang _ port _ <<< "$e"
  serve "$lang-example:multistage" "$port"; SERVED=$((SERVED + 1))
done
serve advanced-example:production 8085; SERVED=$((SERVED + 1))
serve advanced-example:debug 8086; SERVED=$((SERVED + 1))
"${S[@]}" run --rm --entrypoint curl advanced-example:debug --version | head -1

# ------------------------------------------------------------------ 6. multi-platform
step "multi-platform: examples/go for linux/amd64 and linux/arm64, the arm64 image under emulation"
MULTI="" qemu=/proc/sys/fs/binfmt_misc/qemu-aarch64
if [ "$(head -1 "$qemu" 2>/dev/null)" != enabled ]; then
  MULTI="no arm64 emulation ($qemu; scripts/setup.sh registers it)"
elif ! curl -fs -H 'Accept: application/vnd.oci.image.index.v1+json' "http://$REG/v2/distroless/static-debian12/manifests/nonroot" \
     | jq -e '.manifests[]? | select(.platform.architecture == "arm64")' >/dev/null; then
  MULTI="no arm64 distroless stand-in in $REG (scripts/bases.sh makes it where arm64 runs emulated)"
fi
if [ -n "$MULTI" ]; then
  printf '  skipped: %s\n' "$MULTI"
else
  # one build, one index: the build stage runs once per target on the build
  # platform and cross-compiles (GOARCH from TARGETARCH), the runtime stage
  # is the target's distroless image
  build go-example multi examples/go --platform linux/amd64,linux/arm64
  SERVE_HOLD=1 serve go-example:multi 8087 linux/arm64
  # the server answering is an aarch64 binary run by QEMU user emulation
  emu="" procs=("$SERVING")
  while [ ${#procs[@]} -gt 0 ]; do # the run's process tree
    p=${procs[0]}; procs=("${procs[@]:1}")
    exe=$(readlink "/proc/$p/exe" 2>/dev/null || true)
    [[ $exe == *qemu-aarch64* ]] && emu=$exe
    procs+=($(pgrep -P "$p" || true))
  done
  stop_serving
  [ -n "$emu" ] || die "go-example:multi [linux/arm64] did not run under QEMU emulation"
  printf '  %-34s ran under %s\n' "go-example:multi [linux/arm64]" "$emu"
  "$BIN" images go-example | awk 'NR == 1 || $2 == "multi"' | sed 's/^/  /'
  for p in linux/amd64 linux/arm64; do
    printf '  %-13s %s\n' "$p" "$("$BIN" size --platform "$p" go-example:multi | awk -F':  *' '$1 == "Size" {print $2; exit}')"
  done
  MULTI=ok
fi

# ------------------------------------------------------------------ summary
step "timings"
printf '  bases (scripts/bases.sh)        %4d s\n' "$BASES_S"
for k in $(printf '%s\n' "${!BUILD_S[@]}" | sort); do printf '  %-32s%4d s\n' "$k" "${BUILD_S[$k]}"; done
printf '  total                           %4d s\n' $((SECONDS - T0))
if [ "$GOAL_OK" = 1 ]; then
  goal="every multi-stage image is smaller than the published figure"
else
  goal="WARNING: some multi-stage images are NOT smaller than the published figure (see the table)"
fi
multi="no multi-platform image: $MULTI"
[ "$MULTI" = ok ] && { multi="go-example:multi for linux/amd64 and linux/arm64, the arm64 one answering under emulation"; SERVED=$((SERVED + 1)); }
printf '\n\033[1;32mdemo OK: %d images built, %d services answered their health check as non-root; %s; %s (%d s)\033[0m\n' \
  $(( ${#BUILD_S[@]} + 1 )) "$SERVED" "$goal" "$multi" $((SECONDS - T0))
