package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Mode is a kind of sandbox for RUN steps.
type Mode string

const (
	// ModeBuiltin is the builtin backend: namespaces, an overlay (or a
	// copied) root and pivot_root (NewBuiltin).
	ModeBuiltin Mode = "builtin"
	// ModeChroot runs steps without namespaces, chrooted into a merged
	// copy of their layers (NewChroot).
	ModeChroot Mode = "chroot"
	// ModeNone is where no sandbox can run a step.
	ModeNone Mode = "none"
)

// ChrootLimits says in one line what a step in chroot mode is not
// isolated from; docs/security.md has the whole list.
const ChrootLimits = "a RUN step shares strata's network, PID and IPC namespaces and sees no /proc"

// Detection is the strongest sandbox this process can use.
type Detection struct {
	Mode Mode
	// Reason says in one line why no stronger mode is possible ("" for
	// the builtin).
	Reason string
	// Limits says in one line what Mode does not isolate ("" for the
	// builtin).
	Limits string
}

// probeArg0 is argv[0] of the re-executed binary when it is Detect's
// probe of namespaces: it makes / private and mounts a tmpfs in the mount
// namespace it starts in, and exits.
const probeArg0 = "strata-sandbox-probe"

func init() {
	if len(os.Args) > 0 && os.Args[0] == probeArg0 {
		os.Exit(runProbe())
	}
}

// Detect finds the strongest sandbox this process can use, by trying what
// each needs, cheaply (a few milliseconds: one short-lived process): the
// builtin needs to start a process in new mount, PID, IPC and UTS
// namespaces that can mount; chroot mode needs root with CAP_SYS_CHROOT
// and CAP_SETPCAP, and device nodes made under opts.TempDir that cannot
// be opened (a device cgroup, as in every container, or a nodev
// filesystem), since without a mount namespace nothing else can make a
// step's or a base layer's device nodes inert.
func Detect(ctx context.Context, opts Options) Detection {
	if !staticBinary() {
		return Detection{Mode: ModeNone, Reason: "strata was built with cgo; build it with CGO_ENABLED=0", Limits: "RUN steps cannot run"}
	}
	nsErr := probeNamespaces(ctx)
	if nsErr == nil {
		return Detection{Mode: ModeBuiltin}
	}
	reason := "no namespaces here: " + oneLine(nsErr.Error())
	if err := chrootAllowed(); err != nil {
		return Detection{Mode: ModeNone, Reason: reason + "; " + err.Error(), Limits: "RUN steps cannot run"}
	}
	if err := checkDevices(opts.TempDir); err != nil {
		return Detection{Mode: ModeNone, Reason: reason + "; " + err.Error(), Limits: "RUN steps cannot run"}
	}
	return Detection{Mode: ModeChroot, Reason: reason, Limits: ChrootLimits}
}

// probeNamespaces starts this binary as the probe in the namespaces the
// builtin's init gets (those of a default step), with the same clone
// flags.
func probeNamespaces(ctx context.Context) error {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "/proc/self/exe")
	cmd.Args = []string{probeArg0}
	cmd.Env = []string{}
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: cloneFlags(completeLinux(nil, "host", false)),
		Pdeathsig:  syscall.SIGKILL,
	}
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return errors.New(msg)
		}
		return err
	}
	return nil
}

// runProbe is the probe: what the builtin's init does first.
func runProbe() int {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		fmt.Fprintf(os.Stderr, "making / private: %v\n", err)
		return 1
	}
	if err := unix.Mount("tmpfs", "/", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=4k"); err != nil {
		fmt.Fprintf(os.Stderr, "mounting a tmpfs: %v\n", err)
		return 1
	}
	// A fresh /proc for the new PID namespace: refused where the
	// container's /proc has masked paths over it and this process is in a
	// user namespace ("too revealing"), which the builtin cannot do without.
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		fmt.Fprintf(os.Stderr, "mounting proc: %v\n", err)
		return 1
	}
	return 0
}

// chrootAllowed reports what keeps this process from running steps in
// chroot mode: it must be root, hold CAP_SYS_CHROOT (to chroot) and
// CAP_SETPCAP (to drop CAP_SYS_CHROOT from the step's bounding set), and
// chroot(2) must get through whatever seccomp filter or LSM confines it.
func chrootAllowed() error {
	if os.Geteuid() != 0 {
		return errors.New("not root: without namespaces only root can run steps (files of other owners, chroot)")
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("reading capabilities: %w", err)
	}
	eff := uint64(data[0].Effective) | uint64(data[1].Effective)<<32
	for _, c := range []struct {
		name string
		n    int
	}{{"CAP_SYS_CHROOT", unix.CAP_SYS_CHROOT}, {"CAP_SETPCAP", unix.CAP_SETPCAP}} {
		if eff&(1<<uint(c.n)) == 0 {
			return fmt.Errorf("no %s: chroot mode needs it", c.name)
		}
	}
	// chroot to the root it already has: a no-op that tells whether the
	// call is allowed at all.
	if err := unix.Chroot("/"); err != nil {
		return fmt.Errorf("chroot refused: %w", err)
	}
	return nil
}

// devicePolicy says what a device node made in a directory gives.
type devicePolicy int

const (
	// devicesRefused: nodes can be made but not opened (a device cgroup
	// refuses them, or the filesystem is nodev).
	devicesRefused devicePolicy = iota
	// devicesNoMknod: no node can be made (no CAP_MKNOD).
	devicesNoMknod
	// devicesUsable: a node made here opens its device.
	devicesUsable
)

// probeDevices makes a node for an unassigned character device (major
// 120, reserved for local use, so no driver answers it) in dir and opens
// it: EPERM or EACCES means a device cgroup or nodev stopped the open
// before any driver was asked; ENXIO, ENODEV or success mean nothing did.
func probeDevices(dir string) (devicePolicy, error) {
	tmp, err := os.MkdirTemp(dir, "strata-devices-")
	if err != nil {
		return 0, fmt.Errorf("probing device nodes: %w", err)
	}
	defer os.RemoveAll(tmp)
	node := filepath.Join(tmp, "probe")
	err = unix.Mknod(node, unix.S_IFCHR|0o600, int(unix.Mkdev(120, 0)))
	if errors.Is(err, unix.EPERM) {
		return devicesNoMknod, nil
	}
	if err != nil {
		return 0, fmt.Errorf("probing device nodes: %w", err)
	}
	fd, err := unix.Open(node, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err == nil {
		unix.Close(fd)
	}
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return devicesRefused, nil
	}
	return devicesUsable, nil
}

// checkDevices fails where device nodes under dir (default os.TempDir())
// can be opened: there chroot mode cannot keep a step off the host's
// devices (a node it makes, or one a base layer ships, would work).
func checkDevices(dir string) error {
	if dir == "" {
		dir = os.TempDir()
	}
	p, err := probeDevices(dir)
	if err != nil {
		return err
	}
	if p == devicesUsable {
		return fmt.Errorf("device nodes made in %s can be opened (no device cgroup, and not a nodev filesystem): chroot mode cannot keep a step off the host's devices; run strata in a container, or with TMPDIR on a nodev filesystem", dir)
	}
	return nil
}

// oneLine joins the lines of s.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}
