#!/usr/bin/env bash
# The demo: builds examples/sample with strata on a busybox base made here
# from Debian's busybox-static, shows the images, runs the result, exports it
# as an OCI layout and checks it with skopeo and umoci.
set -euo pipefail
cd "$(dirname "$0")/.."
export STRATA_ROOT="${STRATA_ROOT:-/var/tmp/strata-demo}"
S=./bin/strata
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if ! $S inspect busybox:1.35 >/dev/null 2>&1; then
  step "making the busybox base image from busybox-static (1.35, Debian 12's)"
  ./scripts/busybox-rootfs.sh | $S import --change 'CMD ["sh"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - busybox:1.35
  $S tag busybox:1.35 busybox:latest
fi

step "strata lint examples/sample"
$S lint examples/sample

step "strata build -t sample:prod --target production examples/sample"
$S build --progress=plain -t sample:prod --target production examples/sample

step "strata build -t sample:debug examples/sample   (the debug variant, FROM production)"
$S build --progress=plain -t sample:debug examples/sample

step "strata images"
$S images

step "strata history sample:prod"
$S history sample:prod

if $S run --help >/dev/null 2>&1; then
  step "strata run sample:prod strata"
  $S run sample:prod strata
fi

step "reproducible: the same build again gives the same digest"
a=$($S build --progress=quiet --target production examples/sample)
b=$($S build --progress=quiet --target production examples/sample)
echo "$a"; echo "$b"
[ "$a" = "$b" ] && echo "same digest"

step "export as an OCI layout and check it with skopeo and umoci"
$S build --progress=quiet -t sample:prod --target production --output "type=oci,dest=$out/oci" examples/sample >/dev/null
skopeo inspect --config "oci:$out/oci" | head -30
umoci unpack --image "$out/oci:prod" "$out/bundle" >/dev/null
ls -l "$out/bundle/rootfs/usr/local/bin"
