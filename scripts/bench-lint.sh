#!/usr/bin/env bash
# bench-lint.sh - lint benchmarks (`make bench-lint`), issue 8's goals:
#   BenchmarkLint2000      a 2,000-line Dockerfile, parse and plan included: < 50 ms
#   BenchmarkLint500Files  500 varied Dockerfiles in one call: Dockerfiles/s
# then the CLI on the same 500 files, one `strata lint` process per file
# (what a pre-commit hook or CI does), and hadolint beside it when
# installed (Debian 12 has no hadolint package).
#
# The machine is shared: it waits (up to WAIT seconds) for the 1-minute load
# to drop under MAX_LOAD and prints the load with the figures.
#
#   env: BENCH_DIR (default /var/tmp/strata-bench-lint)  COUNT (default 5)
#        MAX_LOAD (default 1.5)  WAIT (default 300)
#        STRATA (default ./bin/strata, built by make bench-lint)
set -euo pipefail
cd "$(dirname "$0")/.."

BENCH_DIR=${BENCH_DIR:-/var/tmp/strata-bench-lint}
COUNT=${COUNT:-5}
MAX_LOAD=${MAX_LOAD:-1.5}
WAIT=${WAIT:-300}
STRATA=$(realpath "${STRATA:-./bin/strata}")
GO=${GO:-go}
FILES=$BENCH_DIR/files

log() { printf '[bench-lint %(%T)T] %s\n' -1 "$*" >&2; }
load1() { cut -d' ' -f1 /proc/loadavg; }
[[ -x $STRATA ]] || { log "no strata binary at $STRATA (make build)"; exit 1; }
mkdir -p "$BENCH_DIR"

for ((t = 0; t < WAIT; t += 15)); do
  awk -v l="$(load1)" -v m="$MAX_LOAD" 'BEGIN {exit !(l < m)}' && break
  log "load $(load1) >= $MAX_LOAD: waiting"
  sleep 15
done
log "load: $(cut -d' ' -f1-3 /proc/loadavg)"

# The benchmark writes its 500 Dockerfiles to $FILES/NNN/Dockerfile.
rm -rf "$FILES"
STRATA_BENCH_LINT_DIR=$FILES $GO test -run '^$' -bench 'Lint2000|Lint500Files' -benchmem \
  -count "$COUNT" ./internal/lint/ | grep -E '^Benchmark' | tee "$BENCH_DIR/go-bench.txt"
log "load after go test: $(cut -d' ' -f1-3 /proc/loadavg)"

# cli_rate NAME CMD...: run CMD FILE for every Dockerfile, print files/s.
cli_rate() {
  local name=$1 start end n=0
  shift
  start=$(date +%s.%N)
  for f in "$FILES"/*/Dockerfile; do
    "$@" "$f" >/dev/null 2>&1 || true
    n=$((n + 1))
  done
  end=$(date +%s.%N)
  awk -v n="$n" -v s="$start" -v e="$end" -v t="$name" 'BEGIN {printf "%s: %d Dockerfiles in %.2f s, %.0f Dockerfiles/s (one process each)\n", t, n, e - s, n / (e - s)}'
}
cli_rate "strata lint" "$STRATA" lint --fail-on none -f
if command -v hadolint >/dev/null; then
  cli_rate hadolint hadolint --no-fail
else
  echo "hadolint: not installed ($(apt-cache policy hadolint 2>/dev/null | grep -m1 Candidate || echo 'no Debian package'))"
fi
log "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
