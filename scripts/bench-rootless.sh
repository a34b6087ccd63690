#!/usr/bin/env bash
# bench-rootless.sh - RUN step cost and no-op rebuild as root, as an ordinary
# user (user namespace, subordinate ids) and, when dockerd answers, as root in
# a container with Docker's default security (chroot mode), in one run.
#
# The Dockerfile is busybox + 20 x RUN true; cold is --no-cache, no-op is the
# same build again. hyperfine medians; the user's figures include `su`, which
# the script measures on its own too. Env: RUNS (5), USER_NAME
# (strata-bench, created with a subordinate range if missing), STRATA
# (./bin/strata).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
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
BB=$(ls -t /var/tmp/strata-test/busybox-*.tar 2>/dev/null | head -1)
[ -n "$BB" ] || { echo "no busybox tar in /var/tmp/strata-test (run make test once)" >&2; exit 1; }
mkdir -p "$W/ctx" && cp "$BB" "$W/busybox.tar"
{ echo "FROM busybox"; for i in $(seq 1 20); do echo "RUN true # $i"; done; } > "$W/ctx/Dockerfile"
chmod -R a+rwX "$W"
export SOURCE_DATE_EPOCH=1700000000
STRATA_ROOT=$W/root "$W/strata" import "$W/busybox.tar" busybox:latest >/dev/null
su "$U" -c "SOURCE_DATE_EPOCH=1700000000 XDG_DATA_HOME=$W/user $W/strata import $W/busybox.tar busybox:latest >/dev/null"

cmds=(
  "env STRATA_ROOT=$W/root $W/strata build --progress=quiet --no-cache $W/ctx"
  "su $U -c 'XDG_DATA_HOME=$W/user $W/strata build --progress=quiet --no-cache $W/ctx'"
  "env STRATA_ROOT=$W/root $W/strata build --progress=quiet $W/ctx"
  "su $U -c 'XDG_DATA_HOME=$W/user $W/strata build --progress=quiet $W/ctx'"
  "su $U -c true"
)
names=(root-cold user-cold root-noop user-noop su)
if docker info >/dev/null 2>&1 && "$W/strata" build --help | grep -q chroot; then
  # A container of strata (static) and busybox (to idle), default security.
  mkdir -p "$W/img/tmp" && chmod 1777 "$W/img/tmp" && cp "$W/strata" "$W/img/strata" && cp /bin/busybox "$W/img/busybox"
  tar -C "$W/img" -c strata busybox tmp | docker import - strata-bench-rootless:latest >/dev/null
  docker run --rm -v "$W:/w" -e SOURCE_DATE_EPOCH=1700000000 -e STRATA_ROOT=/w/ctr strata-bench-rootless:latest \
    /strata import /w/busybox.tar busybox:latest >/dev/null
  # Inside one container, so docker's own start-up is not counted.
  cmds+=("docker exec strata-bench-rootless /strata build --progress=quiet --no-cache /w/ctx"
         "docker exec strata-bench-rootless /strata build --progress=quiet /w/ctx"
         "docker exec strata-bench-rootless /busybox true")
  names+=(container-cold container-noop docker-exec)
  docker rm -f strata-bench-rootless >/dev/null 2>&1 || true
  docker run -d --rm --name strata-bench-rootless -v "$W:/w" -e STRATA_ROOT=/w/ctr -e SOURCE_DATE_EPOCH=1700000000 \
    strata-bench-rootless:latest /busybox sleep 3600 >/dev/null
fi
args=()
for i in "${!cmds[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
hyperfine -N -w 1 -r "$RUNS" --export-markdown "$W/table.md" "${args[@]}" >&2
cat "$W/table.md"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
docker rm -f strata-bench-rootless >/dev/null 2>&1 || true
