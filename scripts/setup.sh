#!/usr/bin/env bash
# Installs what strata's tests and demo need on Debian 12 (run as root).
# Idempotent: packages already present are skipped, and it prints only
# what it changes.
set -euo pipefail

pkgs=(busybox-static skopeo umoci runc crun debootstrap chromium uidmap qemu-user-static binfmt-support docker-registry apache2-utils tmux)

# Foreign test bases (internal/testenv) come from Debian's arm64 packages.
update=0
if [ "$(dpkg --print-architecture)" != arm64 ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
  echo "setup: adding dpkg architecture arm64"
  dpkg --add-architecture arm64
  update=1
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] || [ "$update" = 1 ]; then
  apt-get update -qq
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# RUN steps of foreign platforms run under QEMU through binfmt_misc, with
# handlers that have the F (fix-binary) flag so that they work inside the
# sandbox's chroot. qemu-user-static's postinst registers them (flags PF)
# only outside containers and when binfmt_misc is mounted: make up for it.
binfmt=/proc/sys/fs/binfmt_misc
if [ ! -e "$binfmt/register" ]; then
  echo "setup: mounting binfmt_misc"
  mount -t binfmt_misc binfmt_misc "$binfmt" || echo "setup: warning: cannot mount binfmt_misc; foreign-platform tests will skip" >&2
fi
if [ -e "$binfmt/register" ]; then
  for arch in aarch64 arm riscv64 ppc64le s390x; do
    entry="$binfmt/qemu-$arch"
    if [ -e "$entry" ] && head -n1 "$entry" | grep -qx enabled && grep -q '^flags: .*F' "$entry"; then
      continue
    fi
    echo "setup: registering qemu-$arch with binfmt_misc"
    [ -e "$entry" ] && echo -1 >"$entry" # disabled, or without F
    [ -e "/var/lib/binfmts/qemu-$arch" ] || update-binfmts --import "qemu-$arch"
    [ -e "$entry" ] || update-binfmts --enable "qemu-$arch"
  done
fi

export PATH="/usr/local/go/bin:$PATH"
go version >/dev/null
go mod download
echo "setup: ok"
