package sandbox

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Mounts in chroot mode, where nothing can be mounted: each is made by
// copying into the step's copied root before the step and undone after
// it, before the diff, so none reaches a layer. What was at a mount
// point (a file or a tree of the image) is moved aside and put back
// unchanged. The kinds:
//
//   - tmpfs: an empty dir (mode= as asked, default 1777), removed after;
//     /dev is one, holding nodes for Docker's six default devices (made
//     with mknod: the device cgroup of a container allows exactly those)
//     and the usual links; where nodes cannot be made or opened, /dev/null
//     is an empty regular file and the others are missing;
//   - a bind of a file (the /etc files, secrets, heredoc scripts): a copy
//     with the source's mode and owner, removed after: what the step wrote
//     to it is lost, read-only or not;
//   - a bind of a directory (RUN --mount=type=bind and type=cache): a
//     copy, removed after; unless read-only, its contents are first copied
//     back over the source's (so a cache keeps what the step left);
//   - a socket (RUN --mount=type=ssh), proc, sysfs, devpts, mqueue:
//     refused, with why.
//
// Everything after the step goes through a tree of the copied root
// (beneath.go): a mount point the step replaced by a symlink, or moved, is
// not followed; the step's copy then stays where the step put it.

// fakeMount is a mount made by copying: the path in the root, where what
// was there before waits (stash, "" if nothing), and for a writable
// directory bind the source to copy the contents back to.
type fakeMount struct {
	rel   string
	stash string
	back  string
}

// fakeMounts are the mounts made in a copied root, in order.
type fakeMounts struct {
	root     string
	stashDir string // on the root's filesystem, outside it
	done     []fakeMount
}

// chrootMounts are the step's mounts in chroot mode: /dev and /dev/shm,
// the generated /etc files, each replaced by a step mount with the same
// destination, then the step's.
func chrootMounts(step *Step, etc etcFiles) []specs.Mount {
	defaults := []specs.Mount{
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"mode=755"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"mode=1777"}},
		etcBind(etc.ResolvConf, "/etc/resolv.conf"),
		etcBind(etc.Hosts, "/etc/hosts"),
		etcBind(etc.Hostname, "/etc/hostname"),
	}
	extra := step.Spec.Mounts
	var out []specs.Mount
	for _, m := range defaults {
		if !slices.ContainsFunc(extra, func(e specs.Mount) bool { return cleanDest(e.Destination) == m.Destination }) {
			out = append(out, m)
		}
	}
	return append(out, extra...)
}

// setup makes mounts in order. Mount points missing in the image are
// created and recorded in st, as the builtin does.
func (f *fakeMounts) setup(mounts []specs.Mount, st *stubs, devices []specs.LinuxDevice) error {
	if err := os.Mkdir(f.stashDir, 0o700); err != nil {
		return fmt.Errorf("creating stash dir: %w", err)
	}
	for i, m := range mounts {
		if err := f.mount(i, m, st, devices); err != nil {
			return fmt.Errorf("mounting %s in chroot mode: %w", m.Destination, err)
		}
	}
	return nil
}

// mount makes m. The root is still the image's (no step process exists):
// paths resolved inside it stay valid until the step starts.
func (f *fakeMounts) mount(i int, m specs.Mount, st *stubs, devices []specs.LinuxDevice) error {
	src, err := fakeSource(m)
	if err != nil {
		return err
	}
	rel, err := resolveIn(f.root, m.Destination)
	if err != nil {
		return err
	}
	if rel == "." {
		return errors.New("cannot mount over the root")
	}
	if parent := filepath.Dir(rel); parent != "." {
		if _, err := st.ensure(f.root, "/"+parent, false); err != nil {
			return err
		}
		if err := st.touch(f.root, parent); err != nil {
			return err
		}
	}
	fm := fakeMount{rel: rel}
	host := filepath.Join(f.root, rel)
	if _, err := os.Lstat(host); err == nil {
		fm.stash = filepath.Join(f.stashDir, strconv.Itoa(i))
		if err := os.Rename(host, fm.stash); err != nil {
			return fmt.Errorf("moving %s aside: %w", rel, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	f.done = append(f.done, fm)
	switch {
	case src == nil:
		if err := makeTmpfs(host, m.Options); err != nil {
			return err
		}
		if cleanDest(m.Destination) == "/dev" {
			return makeDevices(host, devices)
		}
		return nil
	case src.IsDir():
		if !slices.Contains(m.Options, "ro") {
			f.done[len(f.done)-1].back = m.Source
		}
		return copyDirIn(m.Source, host)
	default:
		return copyFileIn(m.Source, host)
	}
}

// fakeSource checks chroot mode can make m and returns its source's
// info, nil for a tmpfs.
func fakeSource(m specs.Mount) (os.FileInfo, error) {
	flags, _ := parseMountOptions(m.Options)
	switch {
	case m.Type == "tmpfs":
		return nil, nil
	case m.Type != "bind" && flags&unix.MS_BIND == 0:
		return nil, fmt.Errorf("a %s mount needs a mount namespace, which chroot mode cannot make", m.Type)
	}
	fi, err := os.Stat(m.Source)
	switch {
	case err != nil:
		return nil, fmt.Errorf("binding %s: %w", m.Source, err)
	case fi.Mode()&os.ModeSocket != 0:
		return nil, errors.New("a socket (an SSH agent, RUN --mount=type=ssh) cannot be passed in without a mount namespace, which chroot mode cannot make")
	case !fi.IsDir() && !fi.Mode().IsRegular():
		return nil, fmt.Errorf("binding %s: chroot mode binds only files and directories", m.Source)
	}
	return fi, nil
}

// makeTmpfs makes the empty dir standing for a tmpfs, with the mode its
// options ask for (tmpfs's default 1777).
func makeTmpfs(path string, opts []string) error {
	mode := uint32(0o1777)
	for _, o := range opts {
		if v, ok := strings.CutPrefix(o, "mode="); ok {
			n, err := strconv.ParseUint(v, 8, 32)
			if err != nil {
				return fmt.Errorf("parsing tmpfs option %q: %w", o, err)
			}
			mode = uint32(n)
		}
	}
	if err := os.Mkdir(path, 0o700); err != nil {
		return err
	}
	return unix.Chmod(path, mode&0o7777)
}

// makeDevices fills dir, a fresh /dev, with nodes for devices and the
// usual links. Where nodes cannot be made (no CAP_MKNOD) or opened (a
// nodev filesystem), null is an empty regular file and the rest are left
// out: a step's `> /dev/null` still works.
func makeDevices(dir string, devices []specs.LinuxDevice) error {
	var made []string
	usable := true
	for _, d := range devices {
		p := filepath.Join(dir, strings.TrimPrefix(filepath.Clean(d.Path), "/dev/"))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		kind := map[string]uint32{"c": unix.S_IFCHR, "u": unix.S_IFCHR, "b": unix.S_IFBLK}[d.Type]
		if kind == 0 || unix.Mknod(p, kind|0o600, int(unix.Mkdev(uint32(d.Major), uint32(d.Minor)))) != nil {
			usable = false
			break
		}
		made = append(made, p)
		mode := os.FileMode(0o666)
		if d.FileMode != nil {
			mode = *d.FileMode & 0o777
		}
		if err := os.Chmod(p, mode); err != nil {
			return err
		}
	}
	if usable {
		fd, err := unix.Open(filepath.Join(dir, "null"), unix.O_WRONLY|unix.O_CLOEXEC, 0)
		usable = err == nil
		if usable {
			unix.Close(fd)
		}
	}
	if !usable {
		for _, p := range made {
			os.Remove(p)
		}
		if err := os.WriteFile(filepath.Join(dir, "null"), nil, 0o666); err != nil {
			return err
		}
		if err := os.Chmod(filepath.Join(dir, "null"), 0o666); err != nil {
			return err
		}
	}
	links := [][2]string{{"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"}}
	for _, l := range links {
		if err := os.Symlink(l[0], filepath.Join(dir, l[1])); err != nil {
			return fmt.Errorf("linking /dev/%s: %w", l[1], err)
		}
	}
	return nil
}

// teardown undoes the mounts, last first: copies writable directory binds
// back to their sources, removes what was made and puts back what was
// moved aside. The step is gone, but it wrote the root: every path goes
// through a tree.
func (f *fakeMounts) teardown() error {
	var errs []error
	if len(f.done) > 0 {
		t, err := openTree(f.root)
		if err != nil {
			return fmt.Errorf("undoing mounts: %w", err)
		}
		defer t.Close()
		for _, m := range slices.Backward(f.done) {
			if m.back != "" {
				errs = append(errs, copyBack(t, m.rel, m.back))
			}
			errs = append(errs, t.removeAll(m.rel))
			if m.stash != "" {
				errs = append(errs, t.unstash(m.rel, m.stash))
			}
		}
	}
	if err := os.RemoveAll(f.stashDir); err != nil {
		errs = append(errs, fmt.Errorf("removing stash dir: %w", err))
	}
	return errors.Join(errs...)
}

// missingRuntimeDirs are the runtime's mount points (isRuntimeMountPoint)
// that root lacks before the step.
func missingRuntimeDirs(root string) []string {
	var missing []string
	for _, rel := range runtimeMountPoints() {
		if _, err := os.Lstat(filepath.Join(root, rel)); errors.Is(err, os.ErrNotExist) {
			missing = append(missing, rel)
		}
	}
	return missing
}

// keepRuntimeDirs leaves the runtime's mount points that the image lacked
// in the root as empty 0755 directories, as the other backends (and
// BuildKit's runc) leave them, whatever chroot mode made or undid there;
// unless the step put something of its own at that path.
func keepRuntimeDirs(root string, missing []string) error {
	if len(missing) == 0 {
		return nil
	}
	t, err := openTree(root)
	if err != nil {
		return fmt.Errorf("making mount points: %w", err)
	}
	defer t.Close()
	for _, rel := range missing {
		if err := unix.Mkdirat(t.fd, rel, 0o755); err != nil {
			if errors.Is(err, unix.EEXIST) {
				continue
			}
			return fmt.Errorf("making mount point %s: %w", rel, err)
		}
		if err := unix.Fchmodat(t.fd, rel, 0o755, 0); err != nil {
			return fmt.Errorf("making mount point %s: %w", rel, err)
		}
	}
	return nil
}

// removeAll removes rel and everything under it, unless the way to it is
// no longer a real directory of the tree.
func (t *tree) removeAll(rel string) error {
	fd, name, err := t.openParent(rel)
	if gone(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("removing %s: %w", rel, err)
	}
	defer unix.Close(fd)
	if err := removeAllAt(fd, name); err != nil {
		return fmt.Errorf("removing %s: %w", rel, err)
	}
	return nil
}

// unstash puts what was at rel before back there from stash, unless the
// step removed (or replaced) the directory holding it.
func (t *tree) unstash(rel, stash string) error {
	fd, name, err := t.openParent(rel)
	if gone(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("restoring %s: %w", rel, err)
	}
	defer unix.Close(fd)
	if err := unix.Renameat(unix.AT_FDCWD, stash, fd, name); err != nil {
		return fmt.Errorf("restoring %s: %w", rel, err)
	}
	return nil
}

// copyBack replaces the contents of the directory back (a bind's source,
// strata's path) with those of rel in the tree, and gives it rel's mode
// and owner. A rel the step removed or replaced leaves it empty, as
// emptying a bind mount does.
func copyBack(t *tree, rel, back string) error {
	dst, err := unix.Open(back, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("copying %s back: %w", rel, err)
	}
	defer unix.Close(dst)
	if err := removeChildren(dst); err != nil {
		return fmt.Errorf("copying %s back: %w", rel, err)
	}
	src, err := t.open(t.fd, rel, unix.O_RDONLY|unix.O_DIRECTORY)
	if gone(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("copying %s back: %w", rel, err)
	}
	defer unix.Close(src)
	var st unix.Stat_t
	err = unix.Fstat(src, &st)
	if err == nil {
		err = copyChildren(src, dst)
	}
	if err == nil {
		err = copyMetaFD(src, dst, &st)
	}
	if err != nil {
		return fmt.Errorf("copying %s back: %w", rel, err)
	}
	return nil
}

// copyDirIn copies the directory src (strata's path; its contents are
// read without following any symlink) to dst, a new path in a root no
// step runs in yet.
func copyDirIn(src, dst string) error {
	s, err := unix.Open(src, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("copying %s: %w", src, err)
	}
	defer unix.Close(s)
	var st unix.Stat_t
	if err := unix.Fstat(s, &st); err != nil {
		return fmt.Errorf("copying %s: %w", src, err)
	}
	if err := os.Mkdir(dst, 0o700); err != nil {
		return err
	}
	d, err := unix.Open(dst, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(d)
	if err := copyChildren(s, d); err != nil {
		return fmt.Errorf("copying %s: %w", src, err)
	}
	if err := copyMetaFD(s, d, &st); err != nil {
		return err
	}
	return setTimes(dst, st.Mtim)
}

// copyFileIn copies the file src (strata's path, which may go through
// /proc/<pid>/fd: a secret) to dst, a new path in a root no step runs in
// yet, with src's mode, owner and times.
func copyFileIn(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copying %s: %w", src, err)
	}
	defer in.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(in.Fd()), &st); err != nil {
		return fmt.Errorf("copying %s: %w", src, err)
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = copyMetaFD(int(in.Fd()), int(out.Fd()), &st)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("copying %s: %w", src, err)
	}
	return setTimes(dst, st.Mtim)
}

// copyChildren copies the entries of the directory src into the directory
// dst, recursively, one openat at a time without following symlinks: src
// may be a tree a step wrote. Hard links become copies; sockets are left
// out.
func copyChildren(src, dst int) error {
	names, err := readNames(src)
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := copyAt(src, dst, n); err != nil {
			return err
		}
	}
	return nil
}

// copyAt copies the entry name of the directory src into dst.
func copyAt(src, dst int, name string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(src, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("copying %s: %w", name, err)
	}
	var err error
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		err = copyDirAt(src, dst, name)
	case unix.S_IFREG:
		err = copyFileAt(src, dst, name)
	case unix.S_IFLNK:
		err = copySymlinkAt(src, dst, name, &st)
	case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO:
		err = unix.Mknodat(dst, name, st.Mode&unix.S_IFMT|0o600, int(st.Rdev))
		if err == nil {
			err = unix.Fchownat(dst, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW)
		}
		if err == nil {
			err = unix.Fchmodat(dst, name, st.Mode&0o7777, 0)
		}
	default:
		return nil
	}
	if err == nil {
		err = unix.UtimesNanoAt(dst, name, []unix.Timespec{st.Mtim, st.Mtim}, unix.AT_SYMLINK_NOFOLLOW)
	}
	if err != nil {
		return fmt.Errorf("copying %s: %w", name, err)
	}
	return nil
}

func copyDirAt(src, dst int, name string) error {
	if err := unix.Mkdirat(dst, name, 0o700); err != nil {
		return err
	}
	s, err := unix.Openat(src, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(s)
	d, err := unix.Openat(dst, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(d)
	var st unix.Stat_t
	if err := unix.Fstat(s, &st); err != nil {
		return err
	}
	if err := copyChildren(s, d); err != nil {
		return err
	}
	return copyMetaFD(s, d, &st)
}

func copyFileAt(src, dst int, name string) error {
	s, err := unix.Openat(src, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	in := os.NewFile(uintptr(s), name)
	defer in.Close()
	var st unix.Stat_t
	if err := unix.Fstat(s, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return errors.New("not a regular file any more")
	}
	d, err := unix.Openat(dst, name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	out := os.NewFile(uintptr(d), name)
	_, err = io.Copy(out, in)
	if err == nil {
		err = copyMetaFD(s, d, &st)
	}
	return errors.Join(err, out.Close())
}

func copySymlinkAt(src, dst int, name string, st *unix.Stat_t) error {
	buf := make([]byte, st.Size+1)
	for {
		n, err := unix.Readlinkat(src, name, buf)
		if err != nil {
			return err
		}
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	if err := unix.Symlinkat(string(buf), dst, name); err != nil {
		return err
	}
	return unix.Fchownat(dst, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW)
}

// copyMetaFD gives the open file dst the owner, mode and xattrs (but
// overlay's own) of st and the open file src. Owner first: chown clears
// set-id bits.
func copyMetaFD(src, dst int, st *unix.Stat_t) error {
	if err := unix.Fchown(dst, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	if err := unix.Fchmod(dst, st.Mode&0o7777); err != nil {
		return err
	}
	buf := make([]byte, 64<<10)
	n, err := unix.Flistxattr(src, buf)
	if errors.Is(err, unix.ENOTSUP) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing xattrs: %w", err)
	}
	for _, x := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		if x == "" || strings.HasPrefix(x, "trusted.overlay.") || strings.HasPrefix(x, "user.overlay.") {
			continue
		}
		val := make([]byte, 64<<10)
		vn, err := unix.Fgetxattr(src, x, val)
		if err != nil {
			return fmt.Errorf("reading xattr %s: %w", x, err)
		}
		if err := unix.Fsetxattr(dst, x, val[:vn], 0); err != nil {
			return fmt.Errorf("writing xattr %s: %w", x, err)
		}
	}
	return nil
}

// removeAllAt removes name from the directory dirfd, with everything
// under it, without following any symlink.
func removeAllAt(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EPERM) {
		return err
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	err = removeChildren(fd)
	unix.Close(fd)
	if err != nil {
		return err
	}
	if err := unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		return err
	}
	return nil
}

// removeChildren empties the directory fd.
func removeChildren(fd int) error {
	names, err := readNames(fd)
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := removeAllAt(fd, n); err != nil {
			return err
		}
	}
	return nil
}

// readNames lists the directory fd (through a descriptor of its own, so
// fd's offset is untouched).
func readNames(fd int) ([]string, error) {
	d, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(d), ".")
	defer f.Close()
	return f.Readdirnames(-1)
}
