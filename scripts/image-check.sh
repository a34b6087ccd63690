#!/usr/bin/env bash
# image-check.sh - strata's own image, run by Docker with its default security
# (no --privileged, no added capability, Docker's seccomp profile), as
# deploy/docker/README.md tells users to run it. Checks, in order:
#
#   image   strata builds strata:dev (scripts/image.sh), `strata save`, `docker load`;
#           the image holds /strata, the CAs, passwd/group, the homes, /tmp and
#           nothing else; user 1000:1000, entrypoint /strata, OCI labels
#   help    docker run strata:dev --help, as root (--user 0) and as the image's
#           user (which needs a user namespace: see the note it prints)
#   copy    a COPY-only build in the container, as root, the store on a named
#           volume, FROM a busybox OCI layout in the mounted context
#           (--build-context base=oci-layout://); the result docker-loaded and run
#   cache   two containers, two empty stores, one registry cache: the first
#           --cache-to type=registry and --push, the second --cache-from runs no step
#   auth    --push to a registry with htpasswd auth on 127.0.0.1, the
#           credentials a config.json given through DOCKER_CONFIG (as the
#           Kubernetes Job mounts its Secret); refused without them
#   run     a RUN step under default security, in the chroot mode that the
#           default --isolation auto picks there; skipped (with a message)
#           while strata has no chroot mode
#   job     the same with the Kubernetes Job's security settings as far as
#           Docker plays them: its added capabilities (JOB_CAPS), no_new_privs
#
# One line per check ("check NAME: ok|skip|FAIL ..."), then "N passed, N failed,
# N skipped"; exit 1 if any failed. Needs root, Docker (started through
# ../shared/peers/setup.sh when not running), the registry and bases of
# scripts/bases.sh (image.sh runs it).
#
# Env: STRATA (./bin/strata), IMAGE_CHECK_WORK (/var/tmp/strata-image-check;
# the host's store for the image build lives there and is kept), BUILD (1; 0
# uses strata:dev already in that store), BASES (1), DOCKER (/usr/bin/docker),
# BASES_PORT (5001), AUTH_PORT (5092), PEERS_SCRIPTS.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
S=$(realpath "${STRATA:-./bin/strata}")
W=${IMAGE_CHECK_WORK:-/var/tmp/strata-image-check}
D=${DOCKER:-/usr/bin/docker} # the Debian client, see ../shared/peers/README.md
REG=127.0.0.1:${BASES_PORT:-5001}
AUTH=127.0.0.1:${AUTH_PORT:-5092}
PEERS_SCRIPTS=${PEERS_SCRIPTS:-$(dirname "$REPO")/shared/peers}
IMG=strata:dev
export STRATA_ROOT=$W/store
VOL=strata-image-check-$$

log() { printf '[image-check %(%T)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 2; }
PASSED=0 FAILED=0 SKIPPED=0
ok() { printf 'check %s: ok%s\n' "$1" "${2:+ ($2)}"; PASSED=$((PASSED + 1)); }
skip() { printf 'check %s: skip: %s\n' "$1" "$2"; SKIPPED=$((SKIPPED + 1)); }
fail() { printf 'check %s: FAIL: %s\n' "$1" "$2"; FAILED=$((FAILED + 1)); }

[ "$(id -u)" = 0 ] || die "run as root (docker, the RUN sandbox)"
[ -x "$S" ] || die "no strata binary at $S (make build)"
mkdir -p "$W"
RUNDIR=$W/run
rm -rf "$RUNDIR"
mkdir -p "$RUNDIR/ctx" "$RUNDIR/out"

PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  "$D" volume rm -f "$VOL" >/dev/null 2>&1 || true
  "$D" rmi -f strata-check/hello:copy strata-check/hello:run strata-check/hello:job >/dev/null 2>&1 || true
}
trap cleanup EXIT

if ! "$D" info >/dev/null 2>&1; then
  [ -x "$PEERS_SCRIPTS/setup.sh" ] || die "docker is not running and $PEERS_SCRIPTS/setup.sh is missing"
  log "starting dockerd ($PEERS_SCRIPTS/setup.sh, log $W/peers-setup.log)"
  "$PEERS_SCRIPTS/setup.sh" > "$W/peers-setup.log" 2>&1 || { tail -20 "$W/peers-setup.log"; die "peers setup.sh"; }
fi

# ------------------------------------------------------------------ image
t=$SECONDS
if [ "${BUILD:-1}" = 1 ]; then
  STRATA="$S" PROGRESS=quiet ./scripts/image.sh > "$W/image.log" 2>&1 \
    || { tail -30 "$W/image.log"; die "scripts/image.sh (log $W/image.log)"; }
fi
"$S" save "$IMG" -o "$W/strata.tar"
"$D" load -i "$W/strata.tar" > /dev/null
size=$("$S" size --top 1 "$IMG" | sed -n 's/^Size: *\([^,]*\), \([^ ]*\) uncompressed.*/\1, \2 uncompressed/p')
log "image $IMG ($size) built and loaded in $((SECONDS - t)) s"

cfg=$("$D" image inspect "$IMG" | jq -c '.[0].Config | {User, Entrypoint, Labels}')
# every entry of the image's filesystem (docker export adds /dev, /proc,
# /sys, /.dockerenv and its /etc files: left out)
listing=$("$D" create "$IMG" | { read -r id; "$D" export "$id"; "$D" rm "$id" > /dev/null; } \
  | tar --numeric-owner -tvf - | awk '{print $1, $2, $6}' \
  | grep -Ev ' (\.dockerenv|dev/.*|proc/|sys/|etc/(hostname|hosts|mtab|resolv\.conf))$' | sort -k3)
want='drwxr-xr-x 0/0 etc/
-rw-r--r-- 0/0 etc/group
-rw-r--r-- 0/0 etc/passwd
drwxr-xr-x 0/0 etc/ssl/
drwxr-xr-x 0/0 etc/ssl/certs/
-rw-r--r-- 0/0 etc/ssl/certs/ca-certificates.crt
drwxr-xr-x 0/0 home/
drwxr-xr-x 1000/1000 home/strata/
drwxr-xr-x 1000/1000 home/strata/.local/
drwxr-xr-x 1000/1000 home/strata/.local/share/
drwxr-xr-x 1000/1000 home/strata/.local/share/strata/
drwx------ 0/0 root/
-rwxr-xr-x 0/0 strata
drwxrwxrwt 0/0 tmp/
drwxr-xr-x 0/0 var/
drwxr-xr-x 0/0 var/lib/
drwx------ 0/0 var/lib/strata/'
if [ "$(jq -r '.User' <<< "$cfg")" != 1000:1000 ] || [ "$(jq -c '.Entrypoint' <<< "$cfg")" != '["/strata"]' ]; then
  fail image "config $cfg, want user 1000:1000 and entrypoint [\"/strata\"]"
elif [ "$(jq -r '.Labels | keys | map(select(startswith("org.opencontainers.image."))) | length' <<< "$cfg")" -lt 4 ]; then
  fail image "too few org.opencontainers.image.* labels: $cfg"
elif [ "$listing" != "$want" ]; then
  fail image "the filesystem differs from what the Dockerfile makes: $(diff <(echo "$want") <(echo "$listing") | grep '^[<>]' | tr '\n' ';')"
else
  ok image "$size; user 1000:1000, entrypoint /strata, $(jq -r '.Labels | length' <<< "$cfg") labels, only the files it should have"
fi

# ------------------------------------------------------------------ help
if out=$("$D" run --rm --user 0 "$IMG" --help 2>&1) && grep -q 'Build container images' <<< "$out"; then
  ok help-root
else
  fail help-root "docker run --user 0 $IMG --help: $out"
fi
if out=$("$D" run --rm "$IMG" --help 2>&1) && grep -q 'Build container images' <<< "$out"; then
  ok help-user
elif grep -q 'user namespace' <<< "$out"; then
  # strata as an ordinary user re-executes itself in a user namespace of its
  # own (internal/userns); Docker's seccomp profile refuses to make one
  skip help-user "as uid 1000 strata needs a user namespace, which Docker's default seccomp profile refuses; run the image with --user 0: $(tail -1 <<< "$out")"
else
  fail help-user "docker run $IMG --help: $out"
fi

# ------------------------------------------------------------------ the context
# a busybox base as an OCI layout inside the context, made by the host's strata
CTX=$RUNDIR/ctx
scripts/busybox-rootfs.sh | "$S" import --change 'CMD ["sh"]' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - busybox:image-check > /dev/null
printf 'FROM busybox:image-check\n' > "$RUNDIR/base.Dockerfile"
"$S" build --progress=quiet -f "$RUNDIR/base.Dockerfile" -o "type=oci,dest=$CTX/base" "$RUNDIR" > /dev/null
printf 'hello from strata in a container\n' > "$CTX/hello.txt"
printf 'FROM base\nCOPY hello.txt /hello.txt\nCMD ["cat", "/hello.txt"]\n' > "$CTX/Dockerfile.copy"
# shellcheck disable=SC2016 # $(id -u) is for the RUN step's shell
printf 'FROM base\nRUN echo "ran as $(id -u)" > /ran.txt\nCMD ["cat", "/ran.txt"]\n' > "$CTX/Dockerfile.run"

# strata_in [docker run flags...] -- [strata args...]: strata in a container
# with default security, as root, the context read-only at /work, outputs
# in /out (as deploy/docker/README.md says)
OUT=$RUNDIR/out
strata_in() {
  local flags=()
  while [ "$1" != -- ]; do flags+=("$1"); shift; done
  shift
  "$D" run --rm --user 0 -v "$CTX:/work:ro" -v "$OUT:/out" "${flags[@]}" "$IMG" "$@" 2>&1
}
built() { sed -n 's/^built \(sha256:[0-9a-f]*\) in .*(\([0-9]*\) steps\? run.*/\1 \2/p' <<< "$1"; }
BASE=(--build-context base=oci-layout:///work/base)

# ------------------------------------------------------------------ copy
t=$SECONDS
if ! out=$(strata_in -v "$VOL:/var/lib/strata" -- build --progress=plain "${BASE[@]}" -f /work/Dockerfile.copy \
      -o type=docker,dest=/out/copy.tar -t strata-check/hello:copy /work); then
  fail copy "the build in the container failed: $(tail -5 <<< "$out")"
elif ! "$D" load -i "$OUT/copy.tar" > /dev/null || [ "$("$D" run --rm strata-check/hello:copy)" != "hello from strata in a container" ]; then
  fail copy "the built image does not print hello.txt"
elif ! again=$(strata_in -v "$VOL:/var/lib/strata" -- build --progress=plain "${BASE[@]}" -f /work/Dockerfile.copy /work) \
      || [ "$(built "$again" | cut -d' ' -f2)" != 0 ]; then
  fail copy "a rebuild on the same store volume ran steps: $(tail -3 <<< "$again")"
else
  ok copy "built, loaded and run; the rebuild on the volume ran no step ($((SECONDS - t)) s)"
fi

# ------------------------------------------------------------------ cache
CACHE=$REG/strata-check/cache:copy
mkdir -p "$RUNDIR/store-a" "$RUNDIR/store-b"
a=$(strata_in --network host -v "$RUNDIR/store-a:/var/lib/strata" -- build --progress=plain "${BASE[@]}" \
  -f /work/Dockerfile.copy --cache-to "type=registry,ref=$CACHE,mode=max" -t "$REG/strata-check/hello:copy" --push /work) || true
b=$(strata_in --network host -v "$RUNDIR/store-b:/var/lib/strata" -- build --progress=plain "${BASE[@]}" \
  -f /work/Dockerfile.copy --cache-from "type=registry,ref=$CACHE" /work) || true
read -r da na <<< "$(built "$a")" || true
read -r db nb <<< "$(built "$b")" || true
if [ -z "${da:-}" ]; then
  fail cache "the first store's build with --cache-to and --push failed: $(tail -5 <<< "$a")"
elif [ -z "${db:-}" ]; then
  fail cache "the second store's build with --cache-from failed: $(tail -5 <<< "$b")"
elif [ "$na" != 1 ] || [ "$nb" != 0 ] || [ "$da" != "$db" ]; then
  fail cache "first store: $da ($na steps run), second: $db ($nb steps run); want 1 then 0 and one digest"
elif ! curl -fs -o /dev/null -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$REG/v2/strata-check/hello/manifests/copy"; then
  fail cache "the pushed image is not in the registry"
else
  ok cache "the first store ran 1 step and pushed, the second ran none, both $da"
fi

# ------------------------------------------------------------------ auth
A=$RUNDIR/auth
mkdir -p "$A/docker" "$A/data"
user=strata pass=check-$$-$RANDOM
python3 -W ignore -c 'import crypt, sys; print(sys.argv[1] + ":" + crypt.crypt(sys.argv[2], crypt.mksalt(crypt.METHOD_BLOWFISH)))' \
  "$user" "$pass" > "$A/htpasswd"
cat > "$A/config.yml" <<CFG
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $A/data
auth:
  htpasswd:
    realm: strata-image-check
    path: $A/htpasswd
http:
  addr: $AUTH
CFG
printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$AUTH" "$(printf '%s:%s' "$user" "$pass" | base64 -w0)" > "$A/docker/config.json"
if curl -s -o /dev/null "http://$AUTH/v2/"; then
  fail auth "something already listens on $AUTH (set AUTH_PORT)"
else
  docker-registry serve "$A/config.yml" > "$A/registry.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 50); do [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$AUTH/v2/")" = 401 ] && break; sleep 0.1; done
  mkdir -p "$RUNDIR/store-auth"
  push=(build --progress=plain "${BASE[@]}" -f /work/Dockerfile.copy -t "$AUTH/check/hello:auth" --push /work)
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$AUTH/v2/")" != 401 ]; then
    fail auth "the registry with htpasswd did not start: $(tail -3 "$A/registry.log")"
  elif anon=$(strata_in --network host -v "$RUNDIR/store-auth:/var/lib/strata" -- "${push[@]}"); then
    fail auth "the push without credentials was accepted"
  elif ! out=$(strata_in --network host -v "$RUNDIR/store-auth:/var/lib/strata" \
        -e DOCKER_CONFIG=/etc/strata/docker -v "$A/docker:/etc/strata/docker:ro" -- "${push[@]}"); then
    fail auth "the push with DOCKER_CONFIG failed: $(tail -5 <<< "$out")"
  elif ! curl -fs -o /dev/null -u "$user:$pass" -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
        "http://$AUTH/v2/check/hello/manifests/auth"; then
    fail auth "the pushed manifest is not in the registry"
  else
    ok auth "refused without credentials ($(grep -o -m1 'UNAUTHORIZED\|401[^:]*\|unauthorized[^:]*' <<< "$anon" || echo refused)), pushed with DOCKER_CONFIG"
  fi
fi

# ------------------------------------------------------------------ run
# RUN under the default --isolation auto, which picks chroot mode where no
# namespace can be made
if ! strata_in -- build --help | grep -q -- chroot; then
  skip run "strata has no chroot mode yet: a RUN step needs namespaces that Docker's default security refuses (it fails with 'starting sandbox: ... operation not permitted'); COPY-only builds work"
else
  mkdir -p "$RUNDIR/store-run"
  if ! out=$(strata_in -v "$RUNDIR/store-run:/var/lib/strata" -- build --progress=plain "${BASE[@]}" \
        -f /work/Dockerfile.run -o type=docker,dest=/out/run.tar -t strata-check/hello:run /work); then
    fail run "a RUN step in the container failed: $(tail -5 <<< "$out")"
  elif ! grep -q 'chroot mode' <<< "$out"; then
    fail run "--isolation auto did not say it picked chroot mode: $(head -3 <<< "$out")"
  elif ! "$D" load -i "$OUT/run.tar" > /dev/null || [ "$("$D" run --rm strata-check/hello:run)" != "ran as 0" ]; then
    fail run "the image built with a RUN step does not print 'ran as 0'"
  else
    ok run "a RUN step in chroot mode (picked by --isolation auto), default security; the image runs"
  fi
fi

# ------------------------------------------------------------------ job
# the Kubernetes Job's container as far as Docker can play it: the
# capabilities deploy/kubernetes/job.yaml adds (JOB_CAPS, which
# deploy/image_test.go reads from it) on top of the runtime's default set
# (containerd's is Docker's), no_new_privs (allowPrivilegeEscalation:
# false), a RUN step; not the pod's user namespace. (With only the added
# ones, as on CRI-O, whose default set lacks NET_RAW, the step fails today:
# chroot mode gives it Docker's whole default set.)
IFS=, read -r -a caps <<< "${JOB_CAPS:-AUDIT_WRITE,CHOWN,DAC_OVERRIDE,FOWNER,FSETID,KILL,MKNOD,NET_BIND_SERVICE,SETFCAP,SETGID,SETPCAP,SETUID,SYS_CHROOT}"
capflags=()
for c in "${caps[@]}"; do capflags+=(--cap-add "$c"); done
if ! strata_in -- build --help | grep -q -- chroot; then
  skip job "strata has no chroot mode yet (see run)"
else
  mkdir -p "$RUNDIR/store-job"
  if ! out=$(strata_in "${capflags[@]}" --security-opt no-new-privileges -v "$RUNDIR/store-job:/var/lib/strata" -- \
        build --progress=plain "${BASE[@]}" -f /work/Dockerfile.run -o type=docker,dest=/out/job.tar -t strata-check/hello:job /work); then
    fail job "a RUN step with the Job's capabilities failed: $(tail -5 <<< "$out")"
  elif ! "$D" load -i "$OUT/job.tar" > /dev/null || [ "$("$D" run --rm strata-check/hello:job)" != "ran as 0" ]; then
    fail job "the image built with the Job's capabilities does not print 'ran as 0'"
  else
    ok job "a RUN step with the Job's ${#caps[@]} added capabilities and no_new_privs"
  fi
fi

printf 'image-check: %d passed, %d failed, %d skipped\n' "$PASSED" "$FAILED" "$SKIPPED"
[ "$FAILED" = 0 ]
