#!/usr/bin/env bash
# Writes a busybox root filesystem tar to stdout, made from Debian's
# busybox-static: the binary, a symlink per applet, /etc/passwd and /etc/group
# (root, app 1000:1000, nobody), /tmp. Import it with `strata import`.
set -euo pipefail
bb=/bin/busybox
[ -x "$bb" ] || { echo "busybox-static is not installed (apt-get install busybox-static)" >&2; exit 1; }
dir=$(mktemp -d)
chmod 755 "$dir"
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir"/{bin,etc,home/app,root,tmp,usr/bin,var}
cp "$bb" "$dir/bin/busybox"
for a in $("$bb" --list); do [ "$a" = busybox ] || ln -s busybox "$dir/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$dir/etc/passwd"
printf 'root:x:0:\ndaemon:x:1:\nwheel:x:10:root\nstaff:x:50:app\napp:x:1000:\nnogroup:x:65534:\n' > "$dir/etc/group"
chown 1000:1000 "$dir/home/app"
chmod 700 "$dir/root"
chmod 1777 "$dir/tmp"
tar --numeric-owner --sort=name --mtime=@0 -C "$dir" -cf - .
