#!/usr/bin/env bash
# bench-rootless.sh - RUN step cost and no-op rebuild as root, as an ordinary
# user (user namespace, subordinate ids) and, when dockerd answers, as root in
# a container with Docker's default security (chroot mode), in one run.
#
# The Dockerfile is busybox + 20 x RUN true + RUN echo $V; cold is
# --no-cache, no-op is the same build again, and miss a build whose last step
# misses (a new V each time): the user's build is tried outside the user
# namespace first, from the cache alone, and this is what the try costs when
# it must fall back. hyperfine, cold builds first (RUNS each), then the no-op
# and miss builds (NOOP_RUNS each, over ROUNDS rounds in alternating order: a
# few ms each, so more runs); the user's figures include `su`, the miss ones
# `sh` (for the new V), and the container's `docker exec`, which the script
# measures on their own too and takes off in the ratios it prints last
# (medians of every run). Env: RUNS (5), NOOP_RUNS
# (30), ROUNDS (5), NICE (0; -10 runs hyperfine, su and strata, not the
# container, ahead of other work on a shared machine), USER_NAME
# (strata-bench, created with a subordinate range if missing), STRATA
# (./bin/strata).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
NOOP_RUNS=${NOOP_RUNS:-30}
NICE=${NICE:-0}
U=${USER_NAME:-strata-bench}
S=$(readlink -f "${STRATA:-./bin/strata}")
[ "$(id -u)" = 0 ] || { echo "run as root (it creates the test user)" >&2; exit 1; }
[ -x "$S" ] || { echo "no strata binary at $S (make build)" >&2; exit 1; }
command -v hyperfine >/dev/null || apt-get install -y -qq hyperfine >/dev/null
command -v newuidmap >/dev/null || apt-get install -y -qq uidmap >/dev/null
id "$U" >/dev/null 2>&1 || useradd -m -s /bin/sh "$U"
grep -q "^$U:" /etc/subuid || usermod --add-subuids 500000-565535 --add-subgids 500000-565535 "$U"

W=$(mktemp -d /tmp/strata-bench-rootless.XXXXXX)
trap 'rm -rf "$W"' EXIT
chmod 755 "$W"
cp "$S" "$W/strata"
# The host's busybox (busybox-<hash>.tar), not a foreign one (busybox-arm64-...).
BB=$(ls -t /var/tmp/strata-test/busybox-*.tar 2>/dev/null | grep -E '/busybox-[0-9a-f]+\.tar$' | head -1 || true)
[ -n "$BB" ] || { echo "no busybox tar in /var/tmp/strata-test (run make test once)" >&2; exit 1; }
mkdir -p "$W/ctx" && cp "$BB" "$W/busybox.tar"
{ echo "FROM busybox"; for i in $(seq 1 20); do echo "RUN true # $i"; done; echo "ARG V=0"; echo 'RUN echo "$V" > /v'; } > "$W/ctx/Dockerfile"
chmod -R a+rwX "$W"
export SOURCE_DATE_EPOCH=1700000000
STRATA_ROOT=$W/root "$W/strata" import "$W/busybox.tar" busybox:latest >/dev/null
su "$U" -c "SOURCE_DATE_EPOCH=1700000000 XDG_DATA_HOME=$W/user $W/strata import $W/busybox.tar busybox:latest >/dev/null"

cold=(
  root-cold "env STRATA_ROOT=$W/root $W/strata build --progress=quiet --no-cache $W/ctx"
  user-cold "su $U -c 'XDG_DATA_HOME=$W/user $W/strata build --progress=quiet --no-cache $W/ctx'"
)
noop=(
  root-noop "env STRATA_ROOT=$W/root $W/strata build --progress=quiet $W/ctx"
  user-noop "su $U -c 'XDG_DATA_HOME=$W/user $W/strata build --progress=quiet $W/ctx'"
  # su, its shell and the shell starting a program: what the user's figures
  # hold besides strata.
  su "su $U -c 'XDG_DATA_HOME=$W/user /bin/true'"
  # The last step misses: root's has sh's start-up too (for the new V).
  root-miss "sh -c 'STRATA_ROOT=$W/root $W/strata build --progress=quiet --build-arg V=\$(date +%s%N) $W/ctx'"
  user-miss "su $U -c 'XDG_DATA_HOME=$W/user $W/strata build --progress=quiet --build-arg V=\$(date +%s%N) $W/ctx'"
  sh "sh -c '/bin/true'"
)
if docker info >/dev/null 2>&1 && "$W/strata" build --help | grep -q chroot; then
  # A container of strata (static) and busybox (to idle), default security.
  mkdir -p "$W/img/tmp" && chmod 1777 "$W/img/tmp" && cp "$W/strata" "$W/img/strata" && cp /bin/busybox "$W/img/busybox"
  tar -C "$W/img" -c strata busybox tmp | docker import - strata-bench-rootless:latest >/dev/null
  docker run --rm -v "$W:/w" -e SOURCE_DATE_EPOCH=1700000000 -e STRATA_ROOT=/w/ctr strata-bench-rootless:latest \
    /strata import /w/busybox.tar busybox:latest >/dev/null
  # Inside one container, so docker's own start-up is not counted.
  cold+=(container-cold "docker exec strata-bench-rootless /strata build --progress=quiet --no-cache /w/ctx")
  noop+=(container-noop "docker exec strata-bench-rootless /strata build --progress=quiet /w/ctx"
         docker-exec "docker exec strata-bench-rootless /busybox true")
  docker rm -f strata-bench-rootless >/dev/null 2>&1 || true
  docker run -d --rm --name strata-bench-rootless -v "$W:/w" -e STRATA_ROOT=/w/ctr -e SOURCE_DATE_EPOCH=1700000000 \
    strata-bench-rootless:latest /busybox sleep 3600 >/dev/null
fi
# bench NAME RUNS WARMUP name command ...: one hyperfine over the pairs,
# its times in $W/NAME.json.
bench() {
  local out=$1 runs=$2 warm=$3 args=()
  shift 3
  while [ $# -gt 0 ]; do args+=(-n "$1" "$2"); shift 2; done
  nice -n "$NICE" hyperfine -N -w "$warm" -r "$runs" --export-markdown "$W/$out.md" --export-json "$W/$out.json" "${args[@]}" >&2
}
# reversed name command ...: the pairs in the opposite order.
reversed() {
  local out=()
  while [ $# -gt 0 ]; do out=("$1" "$2" "${out[@]}"); shift 2; done
  printf '%s\n' "${out[@]}"
}
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg), nice $NICE"
bench cold "$RUNS" 1 "${cold[@]}"
cat "$W/cold.md"
# The no-op builds take milliseconds, and other work on the machine comes
# and goes: ROUNDS rounds of a few runs each, in alternating order, so that
# a busy minute weighs on every command alike.
ROUNDS=${ROUNDS:-5}
mapfile -t back < <(reversed "${noop[@]}")
for r in $(seq 1 "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then bench "noop-$r" $(( (NOOP_RUNS + ROUNDS - 1) / ROUNDS )) 1 "${noop[@]}"
  else bench "noop-$r" $(( (NOOP_RUNS + ROUNDS - 1) / ROUNDS )) 1 "${back[@]}"; fi
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
# Every run's time per command (the no-op ones over all rounds): medians in
# ms, and the ratios to root's, the user's and the container's no-op less
# su's and docker exec's own time.
jq -rs 'def median: sort | if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def r2: . * 100 | round / 100;
  [.[].results[]] | group_by(.command) | map({(.[0].command): ([.[].times[]] | {median: (median * 1000), n: length})}) | add
  | "| command | median [ms] | runs |", "|:---|---:|---:|",
    (to_entries[] | "| `\(.key)` | \(.value.median * 10 | round / 10) | \(.value.n) |"),
    "user / root: cold \(.["user-cold"].median / .["root-cold"].median | r2)x, no-op less su \((.["user-noop"].median - .su.median) / .["root-noop"].median | r2)x, last step missing less su \((.["user-miss"].median - .su.median) / (.["root-miss"].median - .sh.median) | r2)x",
    (if .["container-noop"] then "container / root: cold \(.["container-cold"].median / .["root-cold"].median | r2)x, no-op less docker exec \((.["container-noop"].median - .["docker-exec"].median) / .["root-noop"].median | r2)x" else empty end)' \
  "$W"/cold.json "$W"/noop-*.json
docker rm -f strata-bench-rootless >/dev/null 2>&1 || true
