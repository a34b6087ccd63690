#!/usr/bin/env bash
# bench-size.sh - time `strata size` on a 1 GB, 100,000-file image and
# report its peak memory, beside `dive --ci` on the same image when dive is
# installed (`make bench-size`). Goal (issue 6): faster than dive, peak
# resident memory under 200 MB.
#
# The image is made once and cached under $BENCH_DIR:
#   rootfs.tar   a rootfs of $FILES files, $MB MiB of content, half random
#                (incompressible) and half text; deterministic (seeded). It
#                has what the report looks at: ELF binaries, Go sources next
#                to them, docs, apt lists, a node_modules tree.
#   root/        strata's store, holding it as bench/size:latest (strata import)
#   image.tar    the same image as a docker archive (strata save), for dive
# Each tool runs $RUNS times, alternating; the table shows the median wall
# time and the median of /usr/bin/time -v's "Maximum resident set size".
#
#   env: BENCH_DIR (default /var/tmp/strata-bench-size)  RUNS (default 3)
#        FILES (default 100000)  MB (default 1024)
#        STRATA (default ./bin/strata, built by make bench-size)
#        DIVE (default $BENCH_DIR/bin/dive; install it with
#          GOBIN=$BENCH_DIR/bin go install github.com/wagoodman/dive/cmd/dive@latest)
set -euo pipefail
cd "$(dirname "$0")/.."

BENCH_DIR=${BENCH_DIR:-/var/tmp/strata-bench-size}
RUNS=${RUNS:-3}
FILES=${FILES:-100000}
MB=${MB:-1024}
STRATA=$(realpath "${STRATA:-./bin/strata}")
DIVE=${DIVE:-$BENCH_DIR/bin/dive}
ROOT=$BENCH_DIR/root
REF=bench/size:latest
TAR=$BENCH_DIR/rootfs-$FILES-$MB.tar
ARCHIVE=$BENCH_DIR/image-$FILES-$MB.tar

log() { printf '[bench-size %(%T)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
[[ -x $STRATA ]] || die "no strata binary at $STRATA (make build)"
[[ -x /usr/bin/time ]] || die "/usr/bin/time missing (apt-get install time)"
mkdir -p "$BENCH_DIR"

# ------------------------------------------------------------------ the rootfs tar, once
if [[ ! -f $TAR ]]; then
  log "writing $TAR ($FILES files, $MB MiB)"
  python3 - "$TAR.tmp" "$FILES" "$MB" <<'EOF'
import io, os, random, sys, tarfile
out, nfiles, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(42)
sizes = [rnd.lognormvariate(8.5, 1.6) for _ in range(nfiles)]
scale = mib * 1024 * 1024 / sum(sizes)
sizes = [max(0, int(s * scale)) for s in sizes]
text = b"".join(b"line %d of some compressible text, the same words again and again\n" % i for i in range(200000))
noise = rnd.randbytes(64 << 20)
# (directory pattern, file name pattern, mode): where files go, in turn
places = [
    ("usr/lib/x86_64-linux-gnu/pkg%d", "lib%d.so", 0o755),
    ("usr/share/doc/pkg%d", "changelog%d.txt", 0o644),
    ("usr/share/man/man%d", "page%d.1", 0o644),
    ("var/lib/apt/lists", "deb_%d_Packages", 0o644),
    ("app/node_modules/dep%d/lib", "index%d.js", 0o644),
    ("app/src/pkg%d", "file%d.go", 0o644),
    ("app/bin", "tool%d", 0o755),
    ("opt/data/set%d/part", "blob%d.bin", 0o644),
]
dirs = set()
def add_dir(tf, d):
    parts = d.split("/")
    for i in range(1, len(parts) + 1):
        p = "/".join(parts[:i])
        if p in dirs:
            continue
        dirs.add(p)
        ti = tarfile.TarInfo(p)
        ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, 1700000000
        tf.addfile(ti)
with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tf:
    for i, size in enumerate(sizes):
        dpat, fpat, mode = places[i % len(places)]
        d = dpat % (i // 97 % 300) if "%d" in dpat else dpat
        add_dir(tf, d)
        ti = tarfile.TarInfo(d + "/" + fpat % i)
        ti.size, ti.mode, ti.mtime = size, mode, 1700000000
        src = noise if i % 2 else text
        off = rnd.randrange(0, len(src) - size) if size < len(src) else 0
        body = src[off:off + size]
        if len(body) < size:
            body = (body * (size // max(1, len(body)) + 1))[:size]
        if mode & 0o111 and size >= 4:
            body = b"\x7fELF" + body[4:]
        tf.addfile(ti, io.BytesIO(body))
    ti = tarfile.TarInfo("app/package.json")
    pj = b'{"dependencies":{"dep1":"1"},"devDependencies":{"dep2":"1","dep3":"1"}}'
    ti.size, ti.mtime = len(pj), 1700000000
    tf.addfile(ti, io.BytesIO(pj))
EOF
  mv "$TAR.tmp" "$TAR"
fi

# ------------------------------------------------------------------ the image, in the store and as an archive
if ! "$STRATA" --root "$ROOT" inspect "$REF" >/dev/null 2>&1; then
  log "strata import $TAR $REF"
  "$STRATA" --root "$ROOT" import "$TAR" "$REF" >&2
  rm -f "$ARCHIVE"
fi
if [[ ! -f $ARCHIVE ]]; then
  log "strata save -o $ARCHIVE $REF"
  "$STRATA" --root "$ROOT" save -o "$ARCHIVE" "$REF"
fi

# ------------------------------------------------------------------ runs
# measure NAME CMD...: one run; appends "NAME seconds maxrss_kb exit" to $RES.
RES=$(mktemp)
trap 'rm -f "$RES" "$RES.time" "$RES.rss"' EXIT
measure() {
  local name=$1 code=0
  shift
  /usr/bin/time -v -o "$RES.time" "$@" >/dev/null 2>&1 || code=$?
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,t,":"); s=0; for(i=1;i<=n;i++) s=s*60+t[i]; print s}' "$RES.time")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$RES.time")
  log "$name: ${wall}s, max RSS $((rss / 1024)) MiB, exit $code"
  echo "$name $wall $rss $code" >>"$RES"
}
tools=(strata)
if [[ -x $DIVE ]]; then
  tools+=(dive)
else
  log "no dive at $DIVE: strata only"
fi
log "load: $(cut -d' ' -f1-3 /proc/loadavg); $(stat -c %s "$ARCHIVE" | numfmt --to=iec) archive"
for ((r = 0; r < RUNS; r++)); do
  for t in "${tools[@]}"; do
    case $t in
      strata) measure strata "$STRATA" --root "$ROOT" size "$REF" ;;
      # --ci exits 1 when the image fails dive's default rules: the time counts all the same.
      dive) measure dive env CI=true "$DIVE" --source docker-archive "$ARCHIVE" --ci ;;
    esac
  done
done

printf '\n| tool | wall (median of %d) | peak RSS (median) |\n|---|---|---|\n' "$RUNS"
for t in "${tools[@]}"; do
  awk -v t="$t" '$1 == t {print $2, $3}' "$RES" | sort -n | awk -v t="$t" '{w[NR]=$1} {print $2 > "/dev/stderr"} END {printf "| %s | %.2f s |", t, w[int((NR+1)/2)]}' 2>"$RES.rss"
  sort -n "$RES.rss" | awk '{r[NR]=$1} END {printf " %d MiB |\n", r[int((NR+1)/2)]/1024}'
done
printf 'load at end: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
