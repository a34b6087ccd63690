package sandbox

import (
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// What changes when strata runs in a user namespace (as an ordinary user,
// or in a container whose root is mapped): overlayfs must be mounted with
// userxattr and marks opaque dirs with user.overlay.opaque (trusted xattrs
// need the host's root); sysfs cannot be mounted for the host's network
// namespace, so it is bound read-only instead, as rootless runc does; and
// a bind mount keeps the flags its source mount has locked.

// inUserNS reports whether this process runs in a user namespace other
// than the host's.
func inUserNS() bool {
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	return !(len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295")
}

// opaqueXattrs are the xattrs that mark an opaque dir in a layer dir.
func opaqueXattrs() []string {
	return []string{"trusted.overlay.opaque", "user.overlay.opaque"}
}

// isOpaqueDir reports whether the dir at path is marked opaque.
func isOpaqueDir(path string) bool {
	for _, x := range opaqueXattrs() {
		if v, err := getxattr(path, x); err == nil && v == "y" {
			return true
		}
	}
	return false
}

// lockedFlags are the flags of the mount holding path that a bind of it
// must keep: in a user namespace the kernel refuses a remount that clears
// them, and as root keeping them loses nothing a bind gave.
func lockedFlags(path string) uintptr {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0
	}
	var out uintptr
	for st_, ms := range map[int64]uintptr{
		unix.ST_RDONLY: unix.MS_RDONLY, unix.ST_NOSUID: unix.MS_NOSUID, unix.ST_NODEV: unix.MS_NODEV,
		unix.ST_NOEXEC: unix.MS_NOEXEC, unix.ST_NOATIME: unix.MS_NOATIME, unix.ST_NODIRATIME: unix.MS_NODIRATIME,
		unix.ST_RELATIME: unix.MS_RELATIME,
	} {
		if st.Flags&st_ != 0 {
			out |= ms
		}
	}
	return out
}

// setgroupsDenied reports a user namespace where setgroups(2) is refused
// (one mapping the user alone): the step keeps the groups it has.
func setgroupsDenied() bool {
	b, err := os.ReadFile("/proc/self/setgroups")
	return err == nil && strings.TrimSpace(string(b)) == "deny"
}
