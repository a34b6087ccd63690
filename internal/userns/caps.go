package userns

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// allCaps lists every capability the kernel knows, for the pending
// child's ambient set: an execve by a uid the namespace does not map yet
// keeps those and no others.
func allCaps() []uintptr {
	last := lastCap()
	caps := make([]uintptr, 0, last+1)
	for c := 0; c <= last; c++ {
		caps = append(caps, uintptr(c))
	}
	return caps
}

// lastCap is the kernel's highest capability: /proc says, else the
// highest this program knows that the bounding set does (a capability the
// kernel lacks cannot be raised, and fails the child's start).
func lastCap() int {
	if b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			return n
		}
	}
	last := unix.CAP_LAST_CAP
	for last > 0 {
		if _, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(last), 0, 0, 0); err == nil {
			break
		}
		last--
	}
	return last
}

// becomeRoot leaves the process, now mapped to root of the namespace,
// with the capabilities an execve as root would have given it: effective
// and permitted as they are (all of them), inheritable and therefore
// ambient (which the kernel keeps within both) empty, in every thread.
// Started with no ambient capabilities, it has none: it executes itself
// again, now as root. A binary with cgo cannot change every thread at
// once: it executes itself again from a thread so lowered.
func becomeRoot() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("reading capabilities: %w", err)
	}
	if data[0].Effective&(1<<unix.CAP_SYS_ADMIN) == 0 {
		return execSelf()
	}
	for i := range data {
		data[i].Inheritable = 0
	}
	_, _, errno := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0)
	runtime.KeepAlive(&hdr)
	runtime.KeepAlive(&data)
	switch errno {
	case 0:
		return nil
	case syscall.ENOTSUP:
		runtime.LockOSThread() // never unlocked: the thread execs or the process fails
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			return fmt.Errorf("lowering inheritable capabilities: %w", err)
		}
		return execSelf()
	default:
		return fmt.Errorf("lowering inheritable capabilities: %w", errno)
	}
}

// execSelf executes this program again, with its arguments and
// environment: mapped, it starts as root of the namespace.
func execSelf() error {
	if err := unix.Exec("/proc/self/exe", os.Args, os.Environ()); err != nil {
		return fmt.Errorf("executing strata in the namespace: %w", err)
	}
	return nil
}
