package sandbox

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// capNames maps capability names to numbers (linux/capability.h).
func capNames() map[string]int {
	return map[string]int{
		"CAP_CHOWN": unix.CAP_CHOWN, "CAP_DAC_OVERRIDE": unix.CAP_DAC_OVERRIDE,
		"CAP_DAC_READ_SEARCH": unix.CAP_DAC_READ_SEARCH, "CAP_FOWNER": unix.CAP_FOWNER,
		"CAP_FSETID": unix.CAP_FSETID, "CAP_KILL": unix.CAP_KILL, "CAP_SETGID": unix.CAP_SETGID,
		"CAP_SETUID": unix.CAP_SETUID, "CAP_SETPCAP": unix.CAP_SETPCAP,
		"CAP_LINUX_IMMUTABLE": unix.CAP_LINUX_IMMUTABLE, "CAP_NET_BIND_SERVICE": unix.CAP_NET_BIND_SERVICE,
		"CAP_NET_BROADCAST": unix.CAP_NET_BROADCAST, "CAP_NET_ADMIN": unix.CAP_NET_ADMIN,
		"CAP_NET_RAW": unix.CAP_NET_RAW, "CAP_IPC_LOCK": unix.CAP_IPC_LOCK, "CAP_IPC_OWNER": unix.CAP_IPC_OWNER,
		"CAP_SYS_MODULE": unix.CAP_SYS_MODULE, "CAP_SYS_RAWIO": unix.CAP_SYS_RAWIO,
		"CAP_SYS_CHROOT": unix.CAP_SYS_CHROOT, "CAP_SYS_PTRACE": unix.CAP_SYS_PTRACE,
		"CAP_SYS_PACCT": unix.CAP_SYS_PACCT, "CAP_SYS_ADMIN": unix.CAP_SYS_ADMIN,
		"CAP_SYS_BOOT": unix.CAP_SYS_BOOT, "CAP_SYS_NICE": unix.CAP_SYS_NICE,
		"CAP_SYS_RESOURCE": unix.CAP_SYS_RESOURCE, "CAP_SYS_TIME": unix.CAP_SYS_TIME,
		"CAP_SYS_TTY_CONFIG": unix.CAP_SYS_TTY_CONFIG, "CAP_MKNOD": unix.CAP_MKNOD,
		"CAP_LEASE": unix.CAP_LEASE, "CAP_AUDIT_WRITE": unix.CAP_AUDIT_WRITE,
		"CAP_AUDIT_CONTROL": unix.CAP_AUDIT_CONTROL, "CAP_SETFCAP": unix.CAP_SETFCAP,
		"CAP_MAC_OVERRIDE": unix.CAP_MAC_OVERRIDE, "CAP_MAC_ADMIN": unix.CAP_MAC_ADMIN,
		"CAP_SYSLOG": unix.CAP_SYSLOG, "CAP_WAKE_ALARM": unix.CAP_WAKE_ALARM,
		"CAP_BLOCK_SUSPEND": unix.CAP_BLOCK_SUSPEND, "CAP_AUDIT_READ": unix.CAP_AUDIT_READ,
		"CAP_PERFMON": unix.CAP_PERFMON, "CAP_BPF": unix.CAP_BPF,
		"CAP_CHECKPOINT_RESTORE": unix.CAP_CHECKPOINT_RESTORE,
	}
}

// capMask turns capability names into a 64-bit mask.
func capMask(names []string) (uint64, error) {
	known := capNames()
	var m uint64
	for _, n := range names {
		c, ok := known[strings.ToUpper(n)]
		if !ok {
			return 0, fmt.Errorf("parsing capabilities: unknown capability %q", n)
		}
		m |= 1 << uint(c)
	}
	return m, nil
}

// lastCap is the highest capability the running kernel knows.
func lastCap() int {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return unix.CAP_LAST_CAP
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return unix.CAP_LAST_CAP
	}
	return n
}

// applyCapabilities brings every thread of the process down to c, for a
// process that stays beside the step (chroot mode's launcher): drops the
// bounding set of the calling thread, which starts the step, and sets the
// effective, permitted and inheritable sets of every thread (every Go
// runtime thread shares the address space a step must not borrow;
// syscall.AllThreadsSyscall, which needs a binary without cgo) and, when
// asked, no_new_privs in all, which keeps the other threads' full
// bounding sets from mattering. The caller must be locked to its OS
// thread.
func applyCapabilities(c *specs.LinuxCapabilities, noNewPrivs bool) error {
	if err := dropBounding(c); err != nil {
		return err
	}
	masks, err := capMasks(c)
	if err != nil {
		return err
	}
	if err := capsetAll(masks[0], masks[1], masks[2]); err != nil {
		return fmt.Errorf("setting capabilities: %w", err)
	}
	if noNewPrivs {
		if err := allThreads(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0); err != nil {
			return fmt.Errorf("setting no_new_privs: %w", err)
		}
	}
	return nil
}

// dropBounding drops from the calling thread's bounding set what c's
// lacks.
func dropBounding(c *specs.LinuxCapabilities) error {
	bounding, err := capMask(c.Bounding)
	if err != nil {
		return err
	}
	for i := 0; i <= lastCap(); i++ {
		if bounding&(1<<uint(i)) != 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(i), 0, 0, 0); err != nil {
			return fmt.Errorf("dropping capability %d from the bounding set: %w", i, err)
		}
	}
	return nil
}

// capMasks are c's effective, permitted and inheritable sets as masks.
func capMasks(c *specs.LinuxCapabilities) ([3]uint64, error) {
	var masks [3]uint64
	var err error
	for i, set := range [][]string{c.Effective, c.Permitted, c.Inheritable} {
		if masks[i], err = capMask(set); err != nil {
			return masks, err
		}
	}
	return masks, nil
}

// capsetThread sets the effective, permitted and inheritable sets of the
// calling thread.
func capsetThread(effective, permitted, inheritable uint64) error {
	hdr, data := capData(effective, permitted, inheritable)
	return unix.Capset(&hdr, &data[0])
}

// capData is the capset(2) argument for the three sets.
func capData(effective, permitted, inheritable uint64) (unix.CapUserHeader, [2]unix.CapUserData) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	for i := range data {
		shift := uint(32 * i)
		data[i] = unix.CapUserData{
			Effective:   uint32(effective >> shift),
			Permitted:   uint32(permitted >> shift),
			Inheritable: uint32(inheritable >> shift),
		}
	}
	return hdr, data
}

// capsetAll sets the effective, permitted and inheritable sets of every
// thread.
func capsetAll(effective, permitted, inheritable uint64) error {
	hdr, data := capData(effective, permitted, inheritable)
	err := allThreads(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0)
	runtime.KeepAlive(&hdr)
	runtime.KeepAlive(&data)
	return err
}

// allThreads makes one system call in every thread of the process.
func allThreads(trap, a1, a2, a3 uintptr) error {
	if _, _, errno := syscall.AllThreadsSyscall(trap, a1, a2, a3); errno != 0 {
		return errno
	}
	return nil
}

// shedCapabilities clears every capability of every thread once the step
// runs: PID 1 then only reaps.
func shedCapabilities() error {
	if err := capsetAll(0, 0, 0); err != nil {
		return fmt.Errorf("shedding capabilities: %w", err)
	}
	return nil
}

// ambientCaps returns the ambient set as numbers for SysProcAttr.
func ambientCaps(c *specs.LinuxCapabilities) ([]uintptr, error) {
	known := capNames()
	var out []uintptr
	for _, n := range c.Ambient {
		v, ok := known[strings.ToUpper(n)]
		if !ok {
			return nil, fmt.Errorf("parsing capabilities: unknown capability %q", n)
		}
		out = append(out, uintptr(v))
	}
	return out, nil
}
