package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// errNoOverlay marks an overlay mount that failed, so the caller can fall
// back to copying.
var errNoOverlay = errors.New("overlayfs unavailable")

// mountOverlay mounts an overlay of lower (bottom first), upper and work on
// target, nodev. It uses the new mount API with one "lowerdir+" per layer, so the
// number of layers is not limited by the page-sized option string of
// mount(2) (kernel 6.8 or later), and falls back to mount(2) otherwise.
func mountOverlay(target string, lower []string, upper, work string) error {
	err := fsmountOverlay(target, lower, upper, work)
	if err == nil {
		return nil
	}
	lowers := slices.Clone(lower)
	slices.Reverse(lowers)
	data := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s,index=off,metacopy=off,redirect_dir=nofollow",
		strings.Join(lowers, ":"), upper, work)
	if inUserNS() {
		data += ",userxattr"
	}
	if len(data) >= os.Getpagesize() {
		return fmt.Errorf("mounting overlay: %w: %w", errNoOverlay, err)
	}
	if unix.Mount("overlay", target, "overlay", unix.MS_NODEV, data+",volatile") == nil {
		return nil // volatile: see fsmountOverlay
	}
	if err2 := unix.Mount("overlay", target, "overlay", unix.MS_NODEV, data); err2 != nil {
		return fmt.Errorf("mounting overlay: %w: %w", errNoOverlay, errors.Join(err, err2))
	}
	return nil
}

func fsmountOverlay(target string, lower []string, upper, work string) error {
	fd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("opening overlay: %w", err)
	}
	defer unix.Close(fd)
	set := func(k, v string) error {
		if err := unix.FsconfigSetString(fd, k, v); err != nil {
			return fmt.Errorf("setting overlay %s=%s: %w", k, v, err)
		}
		return nil
	}
	for _, l := range slices.Backward(lower) {
		if err := set("lowerdir+", l); err != nil {
			return err
		}
	}
	for _, kv := range [][2]string{{"upperdir", upper}, {"workdir", work}, {"index", "off"}, {"metacopy", "off"}, {"redirect_dir", "nofollow"}} {
		if err := set(kv[0], kv[1]); err != nil {
			return err
		}
	}
	if inUserNS() {
		if err := unix.FsconfigSetFlag(fd, "userxattr"); err != nil {
			return fmt.Errorf("setting overlay userxattr: %w", err)
		}
	}
	// volatile (Linux 5.10): the end of the step's mount namespace does not
	// sync the whole upper filesystem (0.5-0.7 s for a 900 MB layer). What
	// needs to last is the layer's blob, which is fsynced before its rename;
	// the upper dir kept as the extracted layer is no less durable than any
	// extracted layer (none is fsynced). Older kernels refuse the flag: then
	// the mount goes without it.
	_ = unix.FsconfigSetFlag(fd, "volatile")
	if err := unix.FsconfigCreate(fd); err != nil {
		return fmt.Errorf("creating overlay: %w", err)
	}
	// nodev: a device node in a layer, or one a step makes, is data.
	mfd, err := unix.Fsmount(fd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NODEV)
	if err != nil {
		return fmt.Errorf("mounting overlay: %w", err)
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("attaching overlay: %w", err)
	}
	return nil
}

// mountFlag is a mount(8) option as a flag; clear says the option clears
// it.
type mountFlag struct {
	clear bool
	flag  uintptr
}

// mountFlags maps mount(8) options to flags.
func mountFlags() map[string]mountFlag {
	return map[string]mountFlag{
		"ro": {false, unix.MS_RDONLY}, "rw": {true, unix.MS_RDONLY},
		"nosuid": {false, unix.MS_NOSUID}, "suid": {true, unix.MS_NOSUID},
		"nodev": {false, unix.MS_NODEV}, "dev": {true, unix.MS_NODEV},
		"noexec": {false, unix.MS_NOEXEC}, "exec": {true, unix.MS_NOEXEC},
		"sync": {false, unix.MS_SYNCHRONOUS}, "async": {true, unix.MS_SYNCHRONOUS},
		"noatime": {false, unix.MS_NOATIME}, "atime": {true, unix.MS_NOATIME},
		"nodiratime": {false, unix.MS_NODIRATIME}, "diratime": {true, unix.MS_NODIRATIME},
		"relatime": {false, unix.MS_RELATIME}, "norelatime": {true, unix.MS_RELATIME},
		"strictatime": {false, unix.MS_STRICTATIME}, "nostrictatime": {true, unix.MS_STRICTATIME},
		"bind": {false, unix.MS_BIND}, "rbind": {false, unix.MS_BIND | unix.MS_REC},
	}
}

// isPropagation reports propagation options, accepted and ignored: every
// sandbox mount is private to its namespace.
func isPropagation(o string) bool {
	return slices.Contains([]string{"private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable"}, o)
}

// parseMountOptions splits options into mount flags and the data string.
func parseMountOptions(opts []string) (uintptr, string) {
	var flags uintptr
	var data []string
	known := mountFlags()
	for _, o := range opts {
		if f, ok := known[o]; ok {
			if f.clear {
				flags &^= f.flag
			} else {
				flags |= f.flag
			}
			continue
		}
		if isPropagation(o) {
			continue
		}
		data = append(data, o)
	}
	return flags, strings.Join(data, ",")
}

// mountOne performs one spec mount on target (a host path already inside
// the new root).
func mountOne(m specs.Mount, target string) error {
	flags, data := parseMountOptions(m.Options)
	if m.Type == "bind" || flags&unix.MS_BIND != 0 {
		return bindMount(m.Source, target, flags)
	}
	err := unix.Mount(m.Source, target, m.Type, flags, data)
	if errors.Is(err, unix.EINVAL) && m.Type == "devpts" && inUserNS() {
		// gid=5 (tty) has no id when only the user is mapped.
		err = unix.Mount(m.Source, target, m.Type, flags, withoutOption(data, "gid="))
	}
	if errors.Is(err, unix.EPERM) && m.Type == "sysfs" && inUserNS() {
		// sysfs belongs to the network namespace's owner: in a user
		// namespace sharing the host's network, bind the host's.
		err = bindMount("/sys", target, unix.MS_REC|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC)
	}
	if err != nil {
		return fmt.Errorf("mounting %s on %s: %w", m.Type, m.Destination, err)
	}
	return nil
}

// withoutOption drops the options starting with prefix from data.
func withoutOption(data, prefix string) string {
	var out []string
	for _, o := range strings.Split(data, ",") {
		if !strings.HasPrefix(o, prefix) {
			out = append(out, o)
		}
	}
	return strings.Join(out, ",")
}

// bindMount binds src on target, then remounts it with the flags a bind
// mount ignores on creation (ro, nosuid, nodev, noexec...) and those the
// source's mount has locked.
func bindMount(src, target string, flags uintptr) error {
	bind := unix.MS_BIND | flags&unix.MS_REC
	if err := unix.Mount(src, target, "", uintptr(bind), ""); err != nil {
		return fmt.Errorf("binding %s on %s: %w", src, target, err)
	}
	if rest := flags &^ (unix.MS_BIND | unix.MS_REC); rest != 0 {
		if err := unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|rest|lockedFlags(target), ""); err != nil {
			return fmt.Errorf("remounting %s: %w", target, err)
		}
	}
	return nil
}

// isDirSource reports whether a mount needs a directory mount point: all
// but binds of non-directories.
func isDirSource(m specs.Mount) bool {
	flags, _ := parseMountOptions(m.Options)
	if m.Type != "bind" && flags&unix.MS_BIND == 0 {
		return true
	}
	fi, err := os.Stat(m.Source)
	return err != nil || fi.IsDir()
}

// maskPath hides path: /dev/null over a file, an empty read-only tmpfs
// over a dir. Missing paths are skipped.
func maskPath(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil
	}
	if fi.IsDir() {
		err = unix.Mount("tmpfs", path, "tmpfs", unix.MS_RDONLY, "size=0")
	} else {
		err = unix.Mount("/dev/null", path, "", unix.MS_BIND, "")
	}
	if err != nil {
		return fmt.Errorf("masking %s: %w", path, err)
	}
	return nil
}

// readonlyPath remounts path read-only. Missing paths are skipped.
func readonlyPath(path string) error {
	if _, err := os.Lstat(path); err != nil {
		return nil
	}
	if err := unix.Mount(path, path, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("binding %s read-only: %w", path, err)
	}
	if err := unix.Mount("", path, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_REC|lockedFlags(path), ""); err != nil {
		return fmt.Errorf("remounting %s read-only: %w", path, err)
	}
	return nil
}

// defaultDevices are the nodes runc creates in a tmpfs /dev.
func defaultDevices() []specs.LinuxDevice {
	dev := func(path string, major, minor int64) specs.LinuxDevice {
		return specs.LinuxDevice{Path: path, Type: "c", Major: major, Minor: minor}
	}
	return []specs.LinuxDevice{
		dev("/dev/null", 1, 3), dev("/dev/zero", 1, 5), dev("/dev/full", 1, 7),
		dev("/dev/random", 1, 8), dev("/dev/urandom", 1, 9), dev("/dev/tty", 5, 0),
	}
}

// bindDevices fills devDir, the host path of the sandbox's nodev tmpfs
// /dev, with the host's own nodes of devices, each bound read-only (so a
// step can use them but not chmod or replace the host's), and the usual
// /dev symlinks. As /dev is nodev, a node a step makes there is never
// usable: Docker's device policy without a device cgroup, the way rootless
// runtimes do it.
func bindDevices(devDir string, devices []specs.LinuxDevice) error {
	for _, d := range devices {
		if err := bindDevice(filepath.Join(devDir, strings.TrimPrefix(filepath.Clean(d.Path), "/dev/")), d); err != nil {
			return err
		}
	}
	links := [][2]string{
		{"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"},
		{"/proc/self/fd/2", "stderr"}, {"pts/ptmx", "ptmx"}, {"/proc/kcore", "core"},
	}
	for _, l := range links {
		if err := os.Symlink(l[0], filepath.Join(devDir, l[1])); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("linking /dev/%s: %w", l[1], err)
		}
	}
	return nil
}

// bindDevice binds the host's node d.Path on path, after checking that it
// is the device d names.
func bindDevice(path string, d specs.LinuxDevice) error {
	kind := map[string]uint32{"c": unix.S_IFCHR, "u": unix.S_IFCHR, "b": unix.S_IFBLK}[d.Type]
	var st unix.Stat_t
	if err := unix.Stat(d.Path, &st); err != nil {
		return fmt.Errorf("binding device %s: %w", d.Path, err)
	}
	if kind == 0 || st.Mode&unix.S_IFMT != kind || unix.Major(st.Rdev) != uint32(d.Major) || unix.Minor(st.Rdev) != uint32(d.Minor) {
		return fmt.Errorf("binding device %s: the host's is not %s %d:%d", d.Path, d.Type, d.Major, d.Minor)
	}
	if err := create(path, true); err != nil {
		return fmt.Errorf("binding device %s: %w", d.Path, err)
	}
	return bindMount(d.Path, path, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NOEXEC)
}
