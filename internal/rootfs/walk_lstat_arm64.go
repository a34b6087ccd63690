package rootfs

import "golang.org/x/sys/unix"

// sysFstatat is fstatat(2) with the struct stat of unix.Stat_t.
const sysFstatat = unix.SYS_FSTATAT
