package userns

import (
	"os"
	"strconv"
	"strings"
)

// NamespaceOwners returns how the user namespace Enter makes for this
// user sees the owners of the host's files: the user's uid and gid as 0,
// its subordinate ranges as 1 and up, every other id as the kernel's
// overflow id (65534). An ordinary user's strata outside the namespace
// makes, through it, the keys its build in the namespace makes.
func NamespaceOwners() func(uid, gid uint32) (uint32, uint32) {
	m, _ := mappingFor(os.Getuid(), os.Getgid())
	ou, og := overflowID("uid"), overflowID("gid")
	return func(uid, gid uint32) (uint32, uint32) {
		return inside(m.UIDs, uid, ou), inside(m.GIDs, gid, og)
	}
}

// inside is host id id as the ranges map it, or overflow.
func inside(rs []Range, id, overflow uint32) uint32 {
	for _, r := range rs {
		if int64(id) >= int64(r.Outside) && int64(id) < int64(r.Outside)+int64(r.Count) {
			return uint32(int64(r.Inside) + int64(id) - int64(r.Outside))
		}
	}
	return overflow
}

// overflowID is /proc/sys/kernel/overflow<kind>, where the kernel shows
// an unmapped id, or its default 65534.
func overflowID(kind string) uint32 {
	b, err := os.ReadFile("/proc/sys/kernel/overflow" + kind)
	if err != nil {
		return 65534
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32)
	if err != nil {
		return 65534
	}
	return uint32(n)
}
