//go:build amd64 || arm64

package rootfs

import (
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// lstatAt is unix.Fstatat(fd, name, st, unix.AT_SYMLINK_NOFOLLOW)
// without allocating: name is copied, NUL-terminated, into *buf, which
// grows as needed. A walk stats every file of a context, so the
// allocation per call that unix.Fstatat makes would be most of what the
// walk allocates.
func lstatAt(fd int, name string, buf *[]byte, st *unix.Stat_t) error {
	if strings.IndexByte(name, 0) >= 0 {
		return unix.EINVAL
	}
	b := append(append((*buf)[:0], name...), 0)
	*buf = b
	_, _, errno := unix.Syscall6(sysFstatat, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(unsafe.Pointer(st)), unix.AT_SYMLINK_NOFOLLOW, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}
