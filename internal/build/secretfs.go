package build

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// secretFS holds one RUN --mount=type=secret file in memory: a tmpfs of its
// own, made with fsopen/fsmount and mounted nowhere. The sandbox binds the
// file through the mount's descriptor, /proc/<strata pid>/fd/<fd>/secret,
// while the host's /proc is still visible to it; no path on the host names
// the bytes and nothing reaches a disk. When the step ends, or strata is
// killed, the descriptor closes and the kernel frees the tmpfs with the
// last mount of it (the sandbox's, which dies with the step).
//
// A memfd cannot be used: bind mount sources must be on a mount of the
// caller's namespace, which the kernel's internal memfd mount is not (nor
// is an unlinked file). Kernels before 6.15 refuse binds out of detached
// mounts as well (bindableDetached asks), and those before 5.2 have no
// fsmount; there the tmpfs is mounted on the step's scratch dir for the
// step's lifetime (in memory, 0700, root's alone), and if strata is killed
// it stays until the store's next Open removes the dead scratch dir.
//
// Where no mount can be made at all (chroot mode, in a container without
// CAP_SYS_ADMIN), the secret is a memfd instead: that sandbox copies the
// file in rather than binding it, and reads it through /proc/<pid>/fd.
type secretFS struct {
	fd       int    // the tmpfs's mount, its root directory if attached, or the memfd
	attached string // where it is mounted on the host, or "" if nowhere
	memfd    bool
}

// secretOwner is the file's mode and owner, as the mount asks for them.
type secretOwner struct {
	mode     uint32
	uid, gid int
}

// newSecretFS makes the tmpfs holding data as a file with o's mode and
// owner; dir is where it is attached if the kernel cannot bind from a
// detached mount.
func newSecretFS(data []byte, o secretOwner, dir string) (*secretFS, error) {
	s, err := newTmpfs(dir)
	if errors.Is(err, unix.EPERM) {
		return newSecretMemfd(data, o)
	}
	if err != nil {
		return nil, fmt.Errorf("making secret tmpfs: %w", err)
	}
	if err := writeSecret(s.fd, data, o); err != nil {
		s.close()
		return nil, fmt.Errorf("writing secret: %w", err)
	}
	if s.attached == "" && !bindableDetached(s.fd) {
		if err := s.attach(dir); err != nil {
			s.close()
			return nil, fmt.Errorf("attaching secret tmpfs: %w", err)
		}
	}
	return s, nil
}

// newSecretMemfd holds data in a memfd with o's mode and owner.
func newSecretMemfd(data []byte, o secretOwner) (*secretFS, error) {
	fd, err := unix.MemfdCreate("strata-secret", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("making secret memfd: %w", err)
	}
	_, err = unix.Write(fd, data)
	if err == nil {
		err = unix.Fchown(fd, o.uid, o.gid)
	}
	if err == nil {
		err = unix.Fchmod(fd, o.mode&0o7777)
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("writing secret: %w", err)
	}
	return &secretFS{fd: fd, memfd: true}, nil
}

// newTmpfs makes a detached tmpfs, or on kernels without fsmount mounts
// one on dir.
func newTmpfs(dir string) (*secretFS, error) {
	fd, err := detachedTmpfs()
	switch {
	case err == nil:
		return &secretFS{fd: fd}, nil
	case errors.Is(err, unix.ENOSYS):
		return mountTmpfs(dir)
	}
	return nil, err
}

// mountTmpfs mounts a tmpfs (0700, nosuid, nodev, noexec) on dir, a new
// directory.
func mountTmpfs(dir string) (*secretFS, error) {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, err
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0700"); err != nil {
		return nil, err
	}
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Unmount(dir, unix.MNT_DETACH)
		return nil, err
	}
	return &secretFS{fd: fd, attached: dir}, nil
}

// attach mounts the tmpfs on dir, a new directory.
func (s *secretFS) attach(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	if err := unix.MoveMount(s.fd, "", unix.AT_FDCWD, dir, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return err
	}
	s.attached = dir
	return nil
}

// source is the path the sandbox binds.
func (s *secretFS) source() string {
	if s.memfd {
		return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), s.fd)
	}
	if s.attached != "" {
		return filepath.Join(s.attached, "secret")
	}
	return fmt.Sprintf("/proc/%d/fd/%d/secret", os.Getpid(), s.fd)
}

// close unmounts the tmpfs and drops it; the sandbox's bind of it is gone
// by then, so the kernel frees its memory.
func (s *secretFS) close() {
	if s.attached != "" {
		unix.Unmount(s.attached, unix.MNT_DETACH)
	}
	unix.Close(s.fd)
}

// detachedTmpfs makes a tmpfs (0700, nosuid, nodev, noexec) and returns
// its mount's descriptor.
func detachedTmpfs() (int, error) {
	fsfd, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, err
	}
	defer unix.Close(fsfd)
	if err := unix.FsconfigSetString(fsfd, "mode", "0700"); err != nil {
		return -1, err
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, err
	}
	return unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
}

// writeSecret creates the file "secret" at the root of the mount fd.
func writeSecret(fd int, data []byte, o secretOwner) error {
	f, err := unix.Openat(fd, "secret", unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	file := os.NewFile(uintptr(f), "secret")
	_, err = file.Write(data)
	// Owner first: chown clears the set-id bits a mode may ask for.
	if err == nil {
		err = unix.Fchown(f, o.uid, o.gid)
	}
	if err == nil {
		err = unix.Fchmod(f, o.mode&0o7777)
	}
	return errors.Join(err, file.Close())
}

// bindableDetached reports whether the kernel copies mounts out of a
// detached mount (6.15 and later): cloning it the way a bind does, without
// attaching the copy anywhere, says so.
func bindableDetached(fd int) bool {
	c, err := unix.OpenTree(fd, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH)
	if err != nil {
		return false
	}
	unix.Close(c)
	return true
}
