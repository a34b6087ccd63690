package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// seccomp checks the step runs under a filter that refuses what Docker's
// default profile refuses, and allows what ordinary builds need.
func seccomp([]string) {
	seccompStatus()
	for _, c := range deniedCalls() {
		refused(c.name, c.call())
	}
	unshareBusybox()
	for _, c := range allowedCalls() {
		detail, err := c.call()
		allowed(c.name, err, detail)
	}
	// clone3 may be refused with ENOSYS (libcs fall back to clone).
	_, _, e := unix.Syscall(unix.SYS_CLONE3, 0, 0, 0)
	report("clone3", "size-0", "info", "returned "+e.Error())
}

// seccompStatus reports the Seccomp lines of /proc/self/status.
func seccompStatus() {
	b, err := os.ReadFile("/proc/self/status")
	if errors.Is(err, os.ErrNotExist) {
		// No /proc (chroot mode): prctl tells the mode, not the filters.
		mode, perr := unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0)
		verdict := "failed"
		if perr == nil && mode == 2 {
			verdict = "ok"
		}
		report("seccomp", "Seccomp", verdict, fmt.Sprintf("PR_GET_SECCOMP: %d, %v", mode, perr))
		report("seccomp", "Seccomp_filters", "skipped", "no /proc/self/status")
		return
	}
	if err != nil {
		report("seccomp", "mode", "failed", errText(err))
		return
	}
	want := map[string]func(int) bool{"Seccomp": func(n int) bool { return n == 2 }, "Seccomp_filters": func(n int) bool { return n >= 1 }}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(l, ":")
		ok, found := want[k]
		if !found {
			continue
		}
		delete(want, k)
		v = strings.TrimSpace(v)
		n, err := strconv.Atoi(v)
		verdict := "failed"
		if err == nil && ok(n) {
			verdict = "ok"
		}
		report("seccomp", k, verdict, k+": "+v)
	}
	for k := range want {
		report("seccomp", k, "failed", "no "+k+" line in /proc/self/status")
	}
}

type call struct {
	name string
	call func() error
}

// deniedCalls are the attempts seccomp must refuse. Each is harmless if
// it succeeds: what it creates is closed or undone at once.
func deniedCalls() []call {
	scratch := "/tmp/strata-probe-mnt"
	os.Mkdir(scratch, 0o755)
	fd := func(fd int, err error) error {
		if err == nil {
			unix.Close(fd)
		}
		return err
	}
	raw := func(nr uintptr, a ...uintptr) (int, error) {
		a = append(a, 0, 0, 0, 0, 0, 0)
		r, _, e := unix.Syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])
		return int(r), errnoErr(e)
	}
	ret := func(_ int, err error) error { return err }
	return []call{
		{"unshare(CLONE_NEWUSER)", func() error { return forkExec(&syscall.SysProcAttr{Unshareflags: unix.CLONE_NEWUSER}) }},
		{"clone(CLONE_NEWUSER)", func() error { return forkExec(&syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWUSER}) }},
		{"keyctl", func() error {
			_, err := unix.KeyctlInt(unix.KEYCTL_GET_KEYRING_ID, unix.KEY_SPEC_SESSION_KEYRING, 0, 0, 0)
			return err
		}},
		{"add_key", func() error {
			_, err := unix.AddKey("user", "strata-probe", []byte("x"), unix.KEY_SPEC_PROCESS_KEYRING)
			return err
		}},
		{"bpf", func() error {
			attr := [5]uint32{unix.BPF_MAP_TYPE_ARRAY, 4, 4, 1, 0}
			return fd(raw(unix.SYS_BPF, unix.BPF_MAP_CREATE, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr)))
		}},
		{"perf_event_open", func() error {
			attr := unix.PerfEventAttr{Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_CPU_CLOCK,
				Bits: unix.PerfBitDisabled | unix.PerfBitExcludeKernel | unix.PerfBitExcludeHv}
			attr.Size = uint32(unsafe.Sizeof(attr))
			return fd(unix.PerfEventOpen(&attr, 0, -1, -1, unix.PERF_FLAG_FD_CLOEXEC))
		}},
		{"mount", func() error {
			err := unix.Mount("tmpfs", scratch, "tmpfs", 0, "size=4k")
			if err == nil {
				unix.Unmount(scratch, unix.MNT_DETACH)
			}
			return err
		}},
		// scratch is not a mount point: EINVAL unless refused first.
		{"umount2", func() error { return unix.Unmount(scratch, unix.MNT_DETACH) }},
		{"pivot_root", func() error { return unix.PivotRoot("/strata-probe-none", "/strata-probe-none") }},
		{"kexec_load", func() error { return ret(raw(unix.SYS_KEXEC_LOAD, 0, 0, 0, 0)) }},
		{"init_module", func() error { return ret(raw(unix.SYS_INIT_MODULE, 0, 0, 0)) }},
		{"open_by_handle_at", func() error {
			h := unix.NewFileHandle(1, []byte{2, 0, 0, 0, 0, 0, 0, 0})
			return fd(unix.OpenByHandleAt(unix.AT_FDCWD, h, unix.O_RDONLY))
		}},
		{"socket(AF_VSOCK)", func() error { return fd(unix.Socket(unix.AF_VSOCK, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)) }},
		{"userfaultfd", func() error {
			const uffdUserModeOnly = 1
			return fd(raw(unix.SYS_USERFAULTFD, unix.O_CLOEXEC|unix.O_NONBLOCK|uffdUserModeOnly))
		}},
		{"personality(0xffff)", func() error {
			old, _, _ := unix.Syscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0)
			if _, err := raw(unix.SYS_PERSONALITY, 0xffff); err != nil {
				return err
			}
			unix.Syscall(unix.SYS_PERSONALITY, old, 0, 0)
			return nil
		}},
	}
}

// forkExec runs /bin/true with attr and waits for it.
func forkExec(attr *syscall.SysProcAttr) error {
	pid, err := syscall.ForkExec("/bin/true", []string{"true"}, &syscall.ProcAttr{Sys: attr})
	if err != nil {
		return err
	}
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
		return err
	}
	if ws.ExitStatus() != 0 {
		return fmt.Errorf("true exited %v", ws)
	}
	return nil
}

// unshareBusybox runs busybox's unshare -U: a single-threaded C caller
// of unshare(CLONE_NEWUSER).
func unshareBusybox() {
	out, err := exec.Command("/bin/unshare", "-U", "/bin/true").CombinedOutput()
	switch {
	case err == nil:
		report("deny", "unshare-U(busybox)", "ok", "")
	case strings.Contains(string(out), "not permitted"), strings.Contains(string(out), "not implemented"):
		report("deny", "unshare-U(busybox)", "denied", strings.TrimSpace(string(out)))
	default:
		report("deny", "unshare-U(busybox)", "failed", fmt.Sprintf("%v: %s", err, strings.TrimSpace(string(out))))
	}
}

type allowedCall struct {
	name string
	call func() (string, error)
}

// allowedCalls are what every build step needs.
func allowedCalls() []allowedCall {
	return []allowedCall{
		{"personality(0)", func() (string, error) {
			old, _, _ := unix.Syscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0)
			_, _, e := unix.Syscall(unix.SYS_PERSONALITY, 0, 0, 0)
			unix.Syscall(unix.SYS_PERSONALITY, old, 0, 0)
			return "", errnoErr(e)
		}},
		{"threads", threads},
		{"socket(AF_INET)", func() (string, error) {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err == nil {
				unix.Close(fd)
			}
			return "", err
		}},
		{"fork-exec(busybox)", func() (string, error) {
			out, err := exec.Command("/bin/busybox", "echo", "hi").Output()
			return strings.TrimSpace(string(out)), err
		}},
	}
}

// threads runs goroutines on distinct OS threads.
func threads() (string, error) {
	var mu sync.Mutex
	tids := map[int]bool{unix.Gettid(): true}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			runtime.LockOSThread()
			<-start
			mu.Lock()
			tids[unix.Gettid()] = true
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	if len(tids) < 2 {
		return "", errors.New("all goroutines ran on one thread")
	}
	return fmt.Sprintf("%d threads", len(tids)), nil
}
