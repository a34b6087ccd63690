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
	last := unix.CAP_LAST_CAP
	if b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			last = n
		}
	}
	caps := make([]uintptr, 0, last+1)
	for c := 0; c <= last; c++ {
		caps = append(caps, uintptr(c))
	}
	return caps
}

// becomeRoot leaves the process, now mapped to root of the namespace,
// with the capabilities an execve as root would have given it: effective
// and permitted as they are (all of them), inheritable and therefore
// ambient (which the kernel keeps within both) empty, in every thread. A
// binary with cgo cannot change every thread at once: it executes itself
// once more, from a thread so lowered.
func becomeRoot() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("reading capabilities: %w", err)
	}
	if data[0].Effective&(1<<unix.CAP_SYS_ADMIN) == 0 {
		return fmt.Errorf("no capabilities in the namespace (effective %08x%08x)", data[1].Effective, data[0].Effective)
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
		if err := unix.Exec("/proc/self/exe", os.Args, os.Environ()); err != nil {
			return fmt.Errorf("executing strata in the namespace: %w", err)
		}
		return nil
	default:
		return fmt.Errorf("lowering inheritable capabilities: %w", errno)
	}
}
