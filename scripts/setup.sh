#!/usr/bin/env bash
# Installs what strata's tests and demo need on Debian 12 (run as root).
# Idempotent: packages already present are skipped.
set -euo pipefail

pkgs=(busybox-static skopeo umoci runc crun debootstrap chromium uidmap)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
export PATH="/usr/local/go/bin:$PATH"
go version >/dev/null
go mod download
echo "setup: ok"
