package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/strata-build/strata/internal/testenv"
)

// chrootBackend is chroot mode with its scratch dirs on a nodev tmpfs of
// the test's: this host has no device cgroup, and chroot mode refuses to
// run where device nodes can be opened. A container's device cgroup does
// the same job (TestChrootInDocker in internal/cli).
func chrootBackend(t testing.TB, tmp string) Runner {
	return NewChroot(Options{TempDir: nodevDir(t)})
}

// nodevDir mounts a nodev tmpfs for t's lifetime, outside the dirs
// runStep watches for leftover mounts.
func nodevDir(t testing.TB) string { return testenv.NodevTmpfs(t) }

// chrootSkips are the TestRun cases and TestEscape attacks that cannot
// apply to chroot mode, and where what they check is checked instead.
func chrootSkips() map[string]string {
	noProc := "chroot mode has no /proc (it cannot mount one)"
	devs := "device nodes cannot be opened on the nodev tmpfs chroot tests run on; TestChrootInDocker (internal/cli) checks them under a container's device cgroup"
	return map[string]string{
		"user caps dropped":    noProc + "; TestChrootSelf reads them with capget",
		"capabilities":         noProc + "; TestChrootSelf reads them with capget",
		"hostname":             "chroot mode has no UTS namespace: hostname(1) is the host's; TestChrootEtcFiles checks /etc/hostname and /etc/hosts",
		"fresh proc":           noProc,
		"sys read-only":        "chroot mode has no /sys (it cannot mount one)",
		"dev":                  devs + "; TestChrootDev checks the fallback",
		"network none":         "chroot mode refuses --network=none (no network namespace): TestChrootRefuses",
		"mount tmpfs and bind": noProc + " (/proc/mounts); TestChrootMounts",
		"init-takeover":        noProc + " and no init; TestChrootEscape attacks the launcher (ptrace, process_vm_readv) and TestChrootLauncher checks its threads",
		"dev-sanity":           devs,
		"dev-sanity-user":      devs,
		"own-session":          noProc + "; the launcher starts every step with setsid (chroot.go)",
	}
}

// TestChrootEscape has a step try to leave its root under every backend:
// a directory descriptor given to it, ptrace of any pid (in chroot mode a
// dumpable process of the same user in strata's PID namespace would be a
// way out), process_vm_readv of its parent (the launcher, non-dumpable
// and refused by seccomp), and the double chroot, which needs
// CAP_SYS_CHROOT: chroot mode must have dropped it.
//
// A dumpable process of uid 1000 runs on the host: a uid 1000 step could
// ptrace it but for the seccomp filter (the kernel refuses root steps
// processes with capabilities they lack, not those with none).
func TestChrootEscape(t *testing.T) {
	lower := busyboxLower(t)
	h := newEscapeHost(t, lower)
	victim := exec.Command("/bin/sh", "-c", "exec sleep 300")
	victim.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 1000, Gid: 1000}}
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { victim.Process.Kill(); victim.Wait() })
	want := map[string]string{"dir-fd": "denied", "ptrace-any": "denied", "vm-read-parent": "denied", "double-chroot": "denied"}
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			for _, uid := range []uint32{0, 1000} {
				t.Run(fmt.Sprint("uid", uid), func(t *testing.T) {
					runAttack(t, b, h, escapeAttack{name: "root-escape", want: want, prepare: func(t *testing.T, h *escapeHost) escapeStep {
						return escapeStep{args: []string{"/probe", "root-escape", strconv.Itoa(victim.Process.Pid)}, uid: uid}
					}})
				})
			}
			t.Run("host-unchanged", h.checkUnchanged)
		})
	}
}

// TestChrootInheritedFDs runs a step while strata holds a descriptor of
// the host's root without close-on-exec (inherited from whatever started
// it): the step must not get it.
func TestChrootInheritedFDs(t *testing.T) {
	lower := busyboxLower(t)
	h := newEscapeHost(t, lower)
	fd, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	for _, b := range []backend{{"chroot", chrootBackend, nil}, {"builtin", func(t testing.TB, tmp string) Runner { return NewBuiltin(Options{TempDir: tmp}) }, nil}} {
		t.Run(b.name, func(t *testing.T) {
			runAttack(t, b, h, escapeAttack{name: "root-escape",
				want: map[string]string{"dir-fd": "denied", "ptrace-any": "any", "vm-read-parent": "any", "double-chroot": "any"},
				prepare: func(t *testing.T, h *escapeHost) escapeStep {
					return escapeStep{args: []string{"/probe", "root-escape"}}
				}})
		})
	}
}

// TestChrootSelf reads a chroot-mode step's capabilities, no_new_privs
// and seccomp mode with capget and prctl: Docker's set without
// CAP_SYS_CHROOT for root, none for another user, no_new_privs, a filter;
// an insecure step still lacks CAP_SYS_CHROOT.
func TestChrootSelf(t *testing.T) {
	lower := busyboxLower(t)
	h := newEscapeHost(t, lower)
	caps, err := capMask(withoutCap(&specs.LinuxCapabilities{Bounding: DefaultCapabilities()}, "CAP_SYS_CHROOT").Bounding)
	if err != nil {
		t.Fatal(err)
	}
	if caps&(1<<unix.CAP_SYS_CHROOT) != 0 || caps&(1<<unix.CAP_MKNOD) == 0 {
		t.Fatalf("expected set %016x", caps)
	}
	all, err := capMask(withoutCap(&specs.LinuxCapabilities{Bounding: allCapabilities()}, "CAP_SYS_CHROOT").Bounding)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		uid      uint32
		security string
		want     map[string]string
	}{
		{"root", 0, "", map[string]string{"CapEff": fmt.Sprintf("%016x", caps), "CapPrm": fmt.Sprintf("%016x", caps), "CapInh": "0000000000000000",
			"CapBnd": fmt.Sprintf("%016x", caps), "CapAmb": "0000000000000000", "NoNewPrivs": "1", "Seccomp": "2"}},
		{"uid1000", 1000, "", map[string]string{"CapEff": "0000000000000000", "CapPrm": "0000000000000000", "CapInh": "0000000000000000",
			"CapBnd": fmt.Sprintf("%016x", caps), "CapAmb": "0000000000000000", "NoNewPrivs": "1", "Seccomp": "2"}},
		// Every capability strata holds but CAP_SYS_CHROOT, no filter.
		{"insecure", 0, SecurityInsecure, map[string]string{"CapEff": fmt.Sprintf("%016x", all), "CapBnd": fmt.Sprintf("%016x", all), "Seccomp": "0"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runStep(t, backend{"chroot", chrootBackend, nil}, t.Context(), "", func(s *Step) {
				s.Lower = append(s.Lower, h.probeLayer)
				s.Spec.Process.Args = []string{"/probe", "self"}
				s.Spec.Process.User = specs.User{UID: c.uid, GID: c.uid}
				s.Security = c.security
			})
			checkCode(t, r.err, 0, r.stderr)
			got := map[string]string{}
			for _, m := range regexp.MustCompile(`(?m)^self (\S+): info \((\S+)\)$`).FindAllStringSubmatch(r.stdout, -1) {
				got[m[1]] = m[2]
			}
			for k, w := range c.want {
				if got[k] != w {
					t.Errorf("%s = %q, want %q (probe output:\n%s)", k, got[k], w, r.stdout)
				}
			}
		})
	}
}

// TestChrootLauncher looks at the launcher while its step runs: every
// thread without capabilities, with no_new_privs and the filter; and at
// strata, made non-dumpable by the step.
func TestChrootLauncher(t *testing.T) {
	marker := fmt.Sprint(700000 + time.Now().UnixNano()%99999)
	problems := make(chan []string, 1)
	go func() { problems <- inspectLauncher(marker) }()
	r := runStep(t, backend{"chroot", chrootBackend, nil}, t.Context(), "sleep "+marker, nil)
	for _, p := range <-problems {
		t.Error(p)
	}
	var ee *ExitError
	if !errors.As(r.err, &ee) || ee.Code != 128+int(unix.SIGKILL) {
		t.Errorf("step killed by SIGKILL: Run() = %v, want exit code 137", r.err)
	}
	if d, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0); err != nil || d != 0 {
		t.Errorf("strata after a chroot-mode step: dumpable = %d, %v; want 0", d, err)
	}
}

// inspectLauncher finds the launcher of the step running sleep marker,
// checks its threads, then kills the step.
func inspectLauncher(marker string) []string {
	defer func() {
		for _, pid := range processesWith(marker) {
			if n, err := strconv.Atoi(pid); err == nil {
				unix.Kill(n, unix.SIGKILL)
			}
		}
	}()
	launcher := 0
	for deadline := time.Now().Add(10 * time.Second); launcher == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, pid := range processesWith(marker) {
			if p := parentOf(pid); strings.HasPrefix(cmdline(p), chrootArg0) {
				launcher = p
			}
		}
	}
	if launcher == 0 {
		return []string{"no launcher found running the step"}
	}
	var problems []string
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", launcher))
	if err != nil {
		return []string{err.Error()}
	}
	for _, task := range tasks {
		st, err := readStatusFile(fmt.Sprintf("/proc/%d/task/%s/status", launcher, task.Name()))
		if err != nil {
			return append(problems, err.Error())
		}
		for k, w := range map[string]string{"CapEff": "0000000000000000", "CapPrm": "0000000000000000", "CapInh": "0000000000000000",
			"CapAmb": "0000000000000000", "NoNewPrivs": "1", "Seccomp": "2"} {
			if st[k] != w {
				problems = append(problems, fmt.Sprintf("launcher thread %s: %s = %q, want %q", task.Name(), k, st[k], w))
			}
		}
	}
	return problems
}

func parentOf(pid string) int {
	st, err := readStatusFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(st["PPid"])
	return n
}

func cmdline(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return string(b)
}

// readStatusFile reads a /proc status file as key: value.
func readStatusFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out, nil
}

// TestChrootEtcFiles: the step sees generated /etc/hosts, resolv.conf and
// hostname (over an image that has its own), may write them, and none of
// it reaches the layer: the image's files come back unchanged, or go when
// the image had none.
func TestChrootEtcFiles(t *testing.T) {
	b := backend{"chroot", chrootBackend, nil}
	image := t.TempDir()
	if err := os.MkdirAll(filepath.Join(image, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(image, "etc/hosts"), []byte("10.0.0.1 image\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		script string
		lower  bool
	}{
		{"image has hosts", "cat /etc/hostname; grep -c myhost /etc/hosts; echo x >> /etc/hosts; echo h > /etc/hostname; echo nameserver 9.9.9.9 > /etc/resolv.conf", true},
		{"image has none", "cat /etc/hostname; grep -c myhost /etc/hosts; echo x >> /etc/hosts", false},
		{"step removes them", "rm /etc/hosts /etc/hostname /etc/resolv.conf; echo myhost; echo 1", true},
		{"step replaces hosts by a dir", "rm /etc/hosts && mkdir /etc/hosts && echo x > /etc/hosts/f; echo myhost; echo 1", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runStep(t, b, t.Context(), c.script, func(s *Step) {
				s.Spec.Hostname = "myhost"
				if c.lower {
					s.Lower = append(s.Lower, image)
				}
			})
			checkCode(t, r.err, 0, r.stderr)
			if r.stdout != "myhost\n1\n" {
				t.Errorf("stdout = %q, want %q", r.stdout, "myhost\n1\n")
			}
			upperIs()(t, r)
		})
	}
}

// TestChrootMounts: RUN --mount kinds made by copying. A tmpfs is empty
// and gone after; a read-only bind shows its source and leaves it
// unchanged; a writable bind of a dir (a cache) keeps what the step left
// across steps; a secret has its mode and owner, and never reaches the
// layer; an image dir under a mount point comes back; a socket (ssh) and
// proc are refused.
func TestChrootMounts(t *testing.T) {
	b := backend{"chroot", chrootBackend, nil}
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "ctx"), []byte("context\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	if err := os.Chmod(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	secretFile, err := os.OpenFile(filepath.Join(t.TempDir(), "secret"), os.O_CREATE|os.O_RDWR, 0o400)
	if err != nil {
		t.Fatal(err)
	}
	defer secretFile.Close()
	if _, err := secretFile.WriteString("shh\n"); err != nil {
		t.Fatal(err)
	}
	// As the build passes secrets: through strata's /proc/<pid>/fd.
	secret := fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), secretFile.Fd())
	mounts := []specs.Mount{
		{Destination: "/scratch", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev"}},
		{Destination: "/src", Type: "bind", Source: src, Options: []string{"rbind", "ro"}},
		{Destination: "/cache", Type: "bind", Source: cache, Options: []string{"rbind"}},
		{Destination: "/run/secrets/s", Type: "bind", Source: secret, Options: []string{"rbind", "ro"}},
		{Destination: "/home", Type: "tmpfs", Source: "tmpfs", Options: []string{"mode=0700"}},
	}
	steps := []struct {
		name, script, want string
		uid                uint32
	}{
		{"first", `stat -c '%a' /scratch; ls -A /scratch; touch /scratch/x
cat /src/ctx; echo changed > /src/ctx
stat -c '%a %u' /run/secrets/s; cat /run/secrets/s
stat -c '%a' /home; ls -A /home; mkdir /home/gone
echo kept > /cache/x; mkdir -p /cache/d && echo y > /cache/d/y`,
			"1777\ncontext\n400 0\nshh\n700\n", 0},
		{"second", "cat /cache/x /cache/d/y; ls -A /scratch; cat /src/ctx; rm /cache/x", "kept\ny\ncontext\n", 0},
		{"as a user", "cat /run/secrets/s 2>/dev/null || echo denied; ls -A /cache", "denied\nd\n", 1000},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			r := runStep(t, b, t.Context(), s.script, func(st *Step) {
				st.Spec.Mounts = mounts
				st.Spec.Process.User = specs.User{UID: s.uid, GID: s.uid}
			})
			checkCode(t, r.err, 0, r.stderr)
			if r.stdout != s.want {
				t.Errorf("stdout = %q, want %q (stderr %q)", r.stdout, s.want, r.stderr)
			}
			upperIs()(t, r)
		})
	}
	if b, err := os.ReadFile(filepath.Join(src, "ctx")); err != nil || string(b) != "context\n" {
		t.Errorf("read-only bind source = %q, %v; want it unchanged", b, err)
	}
	if ents, err := os.ReadDir(cache); err != nil || len(ents) != 1 || ents[0].Name() != "d" {
		t.Errorf("cache after the steps = %v, %v; want d alone", ents, err)
	}
	for _, c := range []struct {
		name  string
		mount specs.Mount
		want  string
	}{
		{"ssh", specs.Mount{Destination: "/run/buildkit/ssh_agent.0", Type: "bind", Source: unixSocket(t), Options: []string{"rbind"}}, "SSH agent"},
		{"proc", specs.Mount{Destination: "/proc", Type: "proc", Source: "proc"}, "proc mount needs a mount namespace"},
	} {
		t.Run("refuses "+c.name, func(t *testing.T) {
			r := runStep(t, b, t.Context(), "true", func(st *Step) { st.Spec.Mounts = []specs.Mount{c.mount} })
			if r.err == nil || !strings.Contains(r.err.Error(), c.want) {
				t.Errorf("Run() = %v, want an error saying %q", r.err, c.want)
			}
			upperIs()(t, r)
		})
	}
}

// unixSocket listens on a socket in a temporary dir.
func unixSocket(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "agent.sock")
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: p}); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestChrootDev: on a filesystem where nodes cannot be opened, /dev/null
// is a regular file a step can write to, the other nodes are missing;
// /dev/shm is a sticky world-writable dir; nothing of /dev stays.
func TestChrootDev(t *testing.T) {
	r := runStep(t, backend{"chroot", chrootBackend, nil}, t.Context(),
		"echo x > /dev/null && echo null; test -e /dev/zero || echo no zero; stat -c '%a' /dev/shm; touch /dev/shm/f; test -L /dev/fd && echo fd; mkdir /dev/new", nil)
	checkCode(t, r.err, 0, r.stderr)
	if want := "null\nno zero\n1777\nfd\n"; r.stdout != want {
		t.Errorf("stdout = %q, want %q", r.stdout, want)
	}
	upperIs()(t, r)
}

// TestChrootRefuses: what chroot mode cannot do fails with why: a step
// without network, and any step where device nodes can be opened.
func TestChrootRefuses(t *testing.T) {
	b := backend{"chroot", chrootBackend, nil}
	r := runStep(t, b, t.Context(), "true", func(s *Step) { s.Network = "none" })
	if r.err == nil || !strings.Contains(r.err.Error(), "network namespace") {
		t.Errorf("Run(--network=none) = %v, want a refusal naming the network namespace", r.err)
	}
	dir := t.TempDir()
	p, err := probeDevices(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p != devicesUsable {
		t.Skipf("device nodes cannot be opened in %s here (a device cgroup?)", dir)
	}
	r = runStep(t, backend{"chroot-usable-devices", func(t testing.TB, tmp string) Runner { return NewChroot(Options{TempDir: dir}) }, nil},
		t.Context(), "true", nil)
	if r.err == nil || !strings.Contains(r.err.Error(), "device nodes") {
		t.Errorf("Run() with usable device nodes = %v, want a refusal naming device nodes", r.err)
	}
}

// TestChrootDaemonKilled: what a step leaves running, even in a session
// of its own and reparented, dies when the step ends.
func TestChrootDaemonKilled(t *testing.T) {
	marker := fmt.Sprint(600000 + time.Now().UnixNano()%99999)
	r := runStep(t, backend{"chroot", chrootBackend, nil}, t.Context(),
		"setsid sh -c 'sleep "+marker+" & sleep "+marker+"1 &' & sleep 0.2; echo started", nil)
	checkCode(t, r.err, 0, r.stderr)
	if pids := processesWith(marker); len(pids) > 0 {
		t.Errorf("processes still running after the step: %v", pids)
	}
}

// TestChrootExecErrors: a missing command and a bad working directory
// fail the way they do under the builtin.
func TestChrootExecErrors(t *testing.T) {
	for _, b := range []backend{backends()[0], {"chroot", chrootBackend, nil}} {
		t.Run(b.name, func(t *testing.T) {
			r := runStep(t, b, t.Context(), "", func(s *Step) { s.Spec.Process.Args = []string{"nosuchcmd"} })
			var ee *ExitError
			if r.err == nil || errors.As(r.err, &ee) || !strings.Contains(r.err.Error(), `exec: "nosuchcmd": executable file not found in $PATH`) {
				t.Errorf("Run(nosuchcmd) = %v, want a not-found setup error", r.err)
			}
			r = runStep(t, b, t.Context(), "", func(s *Step) { s.Spec.Process.Args = []string{"/no/such"} })
			if r.err == nil || errors.As(r.err, &ee) || !strings.Contains(r.err.Error(), "no such file") {
				t.Errorf("Run(/no/such) = %v, want a no-such-file setup error", r.err)
			}
		})
	}
}

func TestLookPathIn(t *testing.T) {
	root := busyboxLower(t)
	for _, c := range []struct {
		args []string
		env  []string
		want string
		err  bool
	}{
		{args: []string{"sh"}, env: []string{"PATH=/bin"}, want: "/bin/sh"},
		{args: []string{"sh"}, env: []string{"PATH=/nope:/usr/../bin"}, want: "/bin/sh"},
		{args: []string{"busybox"}, env: []string{"PATH=bin"}, want: "/bin/busybox"},
		{args: []string{"sh"}, want: "/bin/sh"}, // the default PATH
		{args: []string{"./x"}, want: "./x"},
		{args: []string{"passwd"}, env: []string{"PATH=/etc"}, err: true}, // not executable
		{args: []string{"nosuch"}, env: []string{"PATH=/bin"}, err: true},
	} {
		got, err := lookPathIn(root, "/", c.args, c.env)
		if got != c.want || (err != nil) != c.err {
			t.Errorf("lookPathIn(%q, %q) = %q, %v; want %q (error %v)", c.args, c.env, got, err, c.want, c.err)
		}
	}
}

func TestProbeDevices(t *testing.T) {
	if p, err := probeDevices(nodevDir(t)); err != nil || p != devicesRefused {
		t.Errorf("probeDevices(nodev tmpfs) = %v, %v; want devicesRefused", p, err)
	}
}

// TestChrootMountSwap has a step replace its mount points (a cache, /dev,
// /etc/hosts) with absolute symlinks to a host dir before strata undoes
// the mounts: nothing there may change, the symlinks go as the mount
// points they replaced, and a cache whose mount point is gone is left
// empty, as a bind mount the step emptied.
func TestChrootMountSwap(t *testing.T) {
	v := newVictim(t, "cache/x", "dev/null", "etc/hosts")
	before := v.state(t)
	cache := t.TempDir()
	if err := os.WriteFile(filepath.Join(cache, "x"), []byte("cached\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf("mv /cache /cache.old && ln -s %[1]s/cache /cache && rm -rf /dev && ln -s %[1]s/dev /dev && "+
		"mv /etc/hosts /etc/hosts.old && ln -s %[1]s/etc/hosts /etc/hosts", v.dir)
	r := runStep(t, backend{"chroot", chrootBackend, nil}, t.Context(), script, func(s *Step) {
		s.Spec.Mounts = []specs.Mount{{Destination: "/cache", Type: "bind", Source: cache, Options: []string{"rbind"}}}
	})
	checkCode(t, r.err, 0, r.stderr)
	if after := v.state(t); after != before {
		t.Errorf("victim after the step:\n%s\nwant:\n%s", after, before)
	}
	if ents, err := os.ReadDir(cache); err != nil || len(ents) != 0 {
		t.Errorf("cache after its mount point was swapped = %v, %v; want empty", ents, err)
	}
	// Mount points never reach the layer, the step's symlinks there
	// neither; what it moved away is its own.
	upperIs("cache.old/", "cache.old/x", "etc/", "etc/hosts.old")(t, r)
}
