//go:build !amd64 && !arm64

package rootfs

import "golang.org/x/sys/unix"

// lstatAt is unix.Fstatat(fd, name, st, unix.AT_SYMLINK_NOFOLLOW); buf
// is for the architectures that stat without allocating.
func lstatAt(fd int, name string, _ *[]byte, st *unix.Stat_t) error {
	return unix.Fstatat(fd, name, st, unix.AT_SYMLINK_NOFOLLOW)
}

// lstatAtWarm is lstatAt.
func lstatAtWarm(fd int, name string, buf *[]byte, st *unix.Stat_t) error {
	return lstatAt(fd, name, buf, st)
}
