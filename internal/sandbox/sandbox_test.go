package sandbox

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/strata-build/strata/internal/testenv"
)

func TestMain(m *testing.M) {
	Init()
	code := m.Run()
	if busybox.dir != "" {
		os.RemoveAll(busybox.dir)
	}
	os.Exit(code)
}

// backend is a Runner under test.
type backend struct {
	name string
	new  func(t testing.TB, tmp string) Runner
	// skip are the TestRun cases and TestEscape attacks that cannot apply
	// to this backend, with why.
	skip map[string]string
}

func backends() []backend {
	return []backend{
		{"builtin", func(t testing.TB, tmp string) Runner { return NewBuiltin(Options{TempDir: tmp}) }, nil},
		{"builtin-copy", func(t testing.TB, tmp string) Runner { return &builtin{opts: Options{TempDir: tmp}, mode: copyRoot} }, nil},
		{"runc", ociBackend("runc"), nil},
		{"crun", ociBackend("crun"), nil},
		{"chroot", chrootBackend, chrootSkips()},
	}
}

func ociBackend(name string) func(t testing.TB, tmp string) Runner {
	return func(t testing.TB, tmp string) Runner {
		if _, err := exec.LookPath(name); err != nil {
			t.Skipf("%s not installed", name)
		}
		if b, err := os.ReadFile("/sys/fs/cgroup/unified/cgroup.controllers"); name == "crun" && err == nil && len(b) > 0 {
			t.Skip("crun refuses hybrid cgroup hierarchies with controllers on the v2 side")
		}
		return NewOCI(name, Options{TempDir: tmp})
	}
}

var busybox struct {
	once sync.Once
	dir  string
	err  error
}

// busyboxLower extracts testenv's busybox rootfs once per test binary and
// returns it as a read-only lower dir.
func busyboxLower(t testing.TB) string {
	t.Helper()
	testenv.RequireRoot(t)
	tarPath := testenv.BusyboxTar(t)
	busybox.once.Do(func() {
		busybox.dir, busybox.err = os.MkdirTemp("", "strata-sandbox-busybox-")
		if busybox.err == nil {
			busybox.err = extractTar(tarPath, busybox.dir)
		}
		// As in real images (debian, alpine): the runtime's mount points
		// exist, so steps add nothing of their own (TestRuntimeMountPoints
		// has a root without them).
		for _, d := range runtimeMountPoints() {
			if busybox.err == nil {
				busybox.err = os.MkdirAll(filepath.Join(busybox.dir, d), 0o755)
			}
		}
	})
	if busybox.err != nil {
		t.Fatalf("extracting busybox: %v", busybox.err)
	}
	return busybox.dir
}

func extractTar(path, dst string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	var dirs []*tar.Header
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		p := filepath.Join(dst, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
			dirs = append(dirs, h)
		case tar.TypeReg:
			body, err := io.ReadAll(tr)
			if err != nil {
				return err
			}
			if err := os.WriteFile(p, body, 0o600); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := os.Symlink(h.Linkname, p); err != nil {
				return err
			}
			if err := os.Lchown(p, h.Uid, h.Gid); err != nil {
				return err
			}
			continue
		default:
			return fmt.Errorf("unsupported tar entry %s", h.Name)
		}
		if err := os.Chown(p, h.Uid, h.Gid); err != nil {
			return err
		}
		if err := os.Chmod(p, os.FileMode(h.Mode&0o777)|modeBits(h.Mode)); err != nil {
			return err
		}
	}
	for _, h := range dirs {
		p := filepath.Join(dst, filepath.Clean("/"+h.Name))
		if err := os.Chtimes(p, h.ModTime, h.ModTime); err != nil {
			return err
		}
	}
	return nil
}

func modeBits(m int64) os.FileMode {
	var out os.FileMode
	if m&0o4000 != 0 {
		out |= os.ModeSetuid
	}
	if m&0o2000 != 0 {
		out |= os.ModeSetgid
	}
	if m&0o1000 != 0 {
		out |= os.ModeSticky
	}
	return out
}

// result is what a step left behind.
type result struct {
	stdout, stderr string
	err            error
	upper          string
	elapsed        time.Duration
}

// runStep runs script with sh -c over busybox and checks nothing under
// the test's dirs stays mounted.
func runStep(t *testing.T, b backend, ctx context.Context, script string, tweak func(*Step)) result {
	t.Helper()
	lower := busyboxLower(t)
	tmp := t.TempDir()
	upper, work := filepath.Join(tmp, "upper"), filepath.Join(tmp, "work")
	for _, d := range []string{upper, work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var stdout, stderr bytes.Buffer
	step := &Step{
		Lower: []string{lower},
		Upper: upper, Work: work,
		Spec: &specs.Spec{Process: &specs.Process{
			Args: []string{"/bin/sh", "-c", script},
			Env:  []string{"PATH=/bin"},
			Cwd:  "/",
		}},
		Stdout: &stdout, Stderr: &stderr,
	}
	if tweak != nil {
		tweak(step)
	}
	before := mountsUnder(t, tmp, lower)
	start := time.Now()
	err := b.new(t, tmp).Run(ctx, step)
	res := result{stdout: stdout.String(), stderr: stderr.String(), err: err, upper: upper, elapsed: time.Since(start)}
	if after := mountsUnder(t, tmp, lower); after != before {
		t.Errorf("mounts after step:\n%s\nwant:\n%s", after, before)
	}
	return res
}

// mountsUnder returns the lines of /proc/self/mountinfo that mention any
// of dirs.
func mountsUnder(t *testing.T, dirs ...string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		for _, d := range dirs {
			if strings.Contains(l, d) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

func TestRun(t *testing.T) {
	dockerCaps, err := capMask(DefaultCapabilities())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		script  string
		tweak   func(*Step)
		want    string // stdout, exactly
		code    int
		checkFn func(t *testing.T, r result)
	}{
		{name: "echo", script: "echo hello", want: "hello\n", checkFn: upperIs()},
		{name: "exit code", script: "echo out; exit 3", want: "out\n", code: 3},
		{name: "stdin", script: "cat", tweak: func(s *Step) { s.Stdin = strings.NewReader("in\n") }, want: "in\n"},
		{name: "stderr", script: "echo oops >&2", checkFn: func(t *testing.T, r result) {
			if r.stderr != "oops\n" {
				t.Errorf("stderr = %q, want %q", r.stderr, "oops\n")
			}
		}},
		{name: "env and cwd", script: "echo $FOO; pwd",
			tweak: func(s *Step) {
				s.Spec.Process.Env = append(s.Spec.Process.Env, "FOO=bar")
				s.Spec.Process.Cwd = "/work/dir"
			},
			want: "bar\n/work/dir\n", checkFn: upperIs("work/", "work/dir/")},
		{name: "user", script: "id -u; id -g; id -G",
			tweak: func(s *Step) { s.Spec.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{50}} },
			want:  "1000\n1000\n1000 50\n"},
		{name: "user caps dropped", script: "grep CapEff /proc/self/status",
			tweak: func(s *Step) { s.Spec.Process.User = specs.User{UID: 1000, GID: 1000} },
			want:  "CapEff:\t0000000000000000\n"},
		{name: "hostname", script: "hostname; cat /etc/hostname; grep -c myhost /etc/hosts",
			tweak: func(s *Step) { s.Spec.Hostname = "myhost" }, want: "myhost\nmyhost\n1\n"},
		{name: "extra hosts and rlimits", script: "tail -n 2 /etc/hosts; ulimit -n; ulimit -Hn",
			tweak: func(s *Step) {
				s.Hosts = []Host{{Name: "db.local", IP: "10.0.0.7"}, {Name: "v6.local", IP: "::2"}}
				s.Spec.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 321, Hard: 654}}
			},
			want: "10.0.0.7\tdb.local\n::2\tv6.local\n321\n654\n"},
		{name: "fresh proc", script: "test -d /proc/1 && ls /proc | grep -c '^[0-9]'", checkFn: func(t *testing.T, r result) {
			// sh, ls, grep, and the builtin's init.
			if n, err := strconv.Atoi(strings.TrimSpace(r.stdout)); err != nil || n > 4 {
				t.Errorf("processes in /proc = %q, want at most 4", r.stdout)
			}
		}},
		{name: "dev", script: "for d in null zero full random urandom tty; do test -c /dev/$d || echo no $d; done; " +
			"test -L /dev/ptmx && test -c /dev/pts/ptmx && test -d /dev/shm && test -L /dev/fd && echo ok; echo x > /dev/null; head -c 3 /dev/zero | wc -c",
			want: "ok\n3\n", checkFn: upperIs()},
		{name: "sys read-only", script: "grep -c ' /sys sysfs ro,' /proc/mounts; touch /sys/x 2>/dev/null || echo denied", want: "1\ndenied\n"},
		{name: "etc files not captured", script: "echo nameserver 1.2.3.4 > /etc/resolv.conf; echo x >> /etc/hosts; echo h > /etc/hostname; cat /etc/resolv.conf",
			want: "nameserver 1.2.3.4\n", checkFn: upperIs()},
		{name: "writes land in upper", script: "echo hi > /tmp/f; mkdir -p /a/b; echo x > /a/b/c",
			checkFn: upperIs("a/", "a/b/", "a/b/c", "tmp/", "tmp/f")},
		{name: "delete makes whiteout", script: "rm /etc/passwd", checkFn: func(t *testing.T, r result) {
			upperIs("etc/", "etc/passwd")(t, r)
			var st unix.Stat_t
			if err := unix.Lstat(filepath.Join(r.upper, "etc/passwd"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
				t.Errorf("etc/passwd in upper is not a 0/0 whiteout: %+v, %v", st, err)
			}
		}},
		{name: "replaced dir is opaque", script: "rm -rf /home && mkdir /home && touch /home/new", checkFn: func(t *testing.T, r result) {
			// Overlayfs makes an opaque dir; the copy fallback whiteouts
			// each removed entry instead. Both hide the lower's home/app.
			if v, _ := getxattr(filepath.Join(r.upper, "home"), "trusted.overlay.opaque"); v == "y" {
				upperIs("home/", "home/new")(t, r)
				return
			}
			upperIs("home/", "home/app", "home/new")(t, r)
			var st unix.Stat_t
			if err := unix.Lstat(filepath.Join(r.upper, "home/app"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
				t.Errorf("home is neither opaque nor has a whiteout for home/app: %+v, %v", st, err)
			}
		}},
		{name: "dir replaced by file", script: "rm -rf /home && echo x > /home", checkFn: func(t *testing.T, r result) {
			upperIs("home")(t, r)
			if fi, err := os.Lstat(filepath.Join(r.upper, "home")); err != nil || !fi.Mode().IsRegular() {
				t.Errorf("home in upper = %v, %v; want a regular file", fi, err)
			}
		}},
		{name: "symlink", script: "ln -s /bin/busybox /usr/bin/x", checkFn: func(t *testing.T, r result) {
			upperIs("usr/", "usr/bin/", "usr/bin/x")(t, r)
			if l, err := os.Readlink(filepath.Join(r.upper, "usr/bin/x")); l != "/bin/busybox" {
				t.Errorf("usr/bin/x in upper links to %q, %v; want /bin/busybox", l, err)
			}
		}},
		{name: "setuid kept", script: "cp /bin/busybox /bin/su2 && chmod 4755 /bin/su2", checkFn: func(t *testing.T, r result) {
			fi, err := os.Lstat(filepath.Join(r.upper, "bin/su2"))
			if err != nil || fi.Mode()&os.ModeSetuid == 0 {
				t.Errorf("bin/su2 in upper: %v, %v; want setuid", fi.Mode(), err)
			}
		}},
		{name: "capabilities", script: "grep -e CapEff -e CapBnd -e NoNewPrivs /proc/self/status",
			want: fmt.Sprintf("CapEff:\t%016x\nCapBnd:\t%016x\nNoNewPrivs:\t0\n", dockerCaps, dockerCaps)},
		{name: "network none", script: "ls /sys/class/net; cat /sys/class/net/lo/flags",
			tweak: func(s *Step) { s.Network = "none" }, want: "lo\n0x9\n"},
		{name: "mount tmpfs and bind", script: "grep -c ' /cache tmpfs' /proc/mounts; cat /run/secrets/s; echo x > /cache/y",
			tweak: func(s *Step) {
				secret := filepath.Join(filepath.Dir(s.Upper), "secret")
				os.WriteFile(secret, []byte("shh\n"), 0o600)
				s.Spec.Mounts = []specs.Mount{
					{Destination: "/cache", Type: "tmpfs", Source: "tmpfs"},
					{Destination: "/run/secrets/s", Type: "bind", Source: secret, Options: []string{"rbind", "ro"}},
				}
			}, want: "1\nshh\n", checkFn: upperIs()},
		{name: "command not found", script: "nosuchcmd", code: 127},
	}
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					if why, ok := b.skip[c.name]; ok {
						t.Skip(why)
					}
					r := runStep(t, b, t.Context(), c.script, c.tweak)
					checkCode(t, r.err, c.code, r.stderr)
					if r.stdout != c.want && (c.want != "" || c.checkFn == nil) {
						t.Errorf("stdout = %q, want %q (stderr %q)", r.stdout, c.want, r.stderr)
					}
					if c.checkFn != nil {
						c.checkFn(t, r)
					}
				})
			}
		})
	}
}

func checkCode(t *testing.T, err error, code int, stderr string) {
	t.Helper()
	var ee *ExitError
	switch {
	case code == 0 && err != nil:
		t.Fatalf("Run() = %v, want nil (stderr %q)", err, stderr)
	case code != 0 && (!errors.As(err, &ee) || ee.Code != code):
		t.Fatalf("Run() = %v, want exit code %d (stderr %q)", err, code, stderr)
	}
}

// upperIs checks the upper dir holds exactly paths (dirs end in "/").
func upperIs(paths ...string) func(t *testing.T, r result) {
	return func(t *testing.T, r result) {
		t.Helper()
		var got []string
		filepath.WalkDir(r.upper, func(p string, d os.DirEntry, err error) error {
			if err != nil || p == r.upper {
				return err
			}
			rel, _ := filepath.Rel(r.upper, p)
			if d.IsDir() {
				rel += "/"
			}
			got = append(got, rel)
			return nil
		})
		if strings.Join(got, " ") != strings.Join(paths, " ") {
			t.Errorf("upper = %q, want %q", got, paths)
		}
	}
}

func TestBackgroundProcessKilled(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			marker := fmt.Sprint(900000 + time.Now().UnixNano()%99999)
			r := runStep(t, b, t.Context(), "sleep "+marker+" & echo started", nil)
			checkCode(t, r.err, 0, r.stderr)
			if pids := processesWith(marker); len(pids) > 0 {
				t.Errorf("processes still running after the step: %v", pids)
			}
		})
	}
}

func TestFailingStepLeavesNoMounts(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			r := runStep(t, b, t.Context(), "exit 1", func(s *Step) {
				s.Spec.Mounts = []specs.Mount{{Destination: "/x", Type: "bind", Source: "/nonexistent-source"}}
			})
			if r.err == nil {
				t.Fatal("Run() = nil, want a setup error")
			}
		})
	}
}

func TestCancel(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(300*time.Millisecond, cancel)
			marker := fmt.Sprint(800000 + time.Now().UnixNano()%99999)
			r := runStep(t, b, ctx, "sleep "+marker+" & sleep 100", nil)
			if !errors.Is(r.err, context.Canceled) {
				t.Errorf("Run() = %v, want context.Canceled", r.err)
			}
			if r.elapsed > 3*time.Second {
				t.Errorf("Run() took %v after cancel, want prompt", r.elapsed)
			}
			if pids := processesWith(marker); len(pids) > 0 {
				t.Errorf("processes still running after cancel: %v", pids)
			}
		})
	}
}

// processesWith lists host pids whose command line contains s.
func processesWith(s string) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), s) {
			out = append(out, e.Name())
		}
	}
	return out
}

func BenchmarkRunTrue(b *testing.B) {
	lower := busyboxLower(b)
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) {
			tmp := b.TempDir()
			r := be.new(b, tmp)
			for i := 0; b.Loop(); i++ {
				upper, work := filepath.Join(tmp, fmt.Sprint("u", i)), filepath.Join(tmp, fmt.Sprint("w", i))
				os.Mkdir(upper, 0o755)
				os.Mkdir(work, 0o755)
				err := r.Run(b.Context(), &Step{
					Lower: []string{lower}, Upper: upper, Work: work,
					Spec: &specs.Spec{Process: &specs.Process{Args: []string{"/bin/true"}, Cwd: "/"}},
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestManyLayers stacks more layers than a mount(2) option string can
// name, with the top layer (last in Lower) winning.
func TestManyLayers(t *testing.T) {
	base := busyboxLower(t)
	dir := t.TempDir()
	lower := []string{base}
	for i := range 150 {
		l := filepath.Join(dir, fmt.Sprintf("a-rather-long-layer-directory-name-to-fill-the-page-%03d", i))
		if err := os.MkdirAll(filepath.Join(l, "layers"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(l, "layers", "top"), []byte(fmt.Sprint(i)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(l, "layers", fmt.Sprint(i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		lower = append(lower, l)
	}
	if n := len(strings.Join(lower, ":")); n < os.Getpagesize() {
		t.Fatalf("layer paths take %d bytes, want more than a page", n)
	}
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			r := runStep(t, b, t.Context(), "cat /layers/top; echo; ls /layers | wc -l", func(s *Step) { s.Lower = lower })
			checkCode(t, r.err, 0, r.stderr)
			if want := "149\n151\n"; r.stdout != want {
				t.Errorf("stdout = %q, want %q", r.stdout, want)
			}
		})
	}
}

func TestRunRejectsBadSteps(t *testing.T) {
	spec := &specs.Spec{Process: &specs.Process{Args: []string{"true"}}}
	steps := map[string]*Step{
		"no process": {Upper: "u", Work: "w", Spec: &specs.Spec{}},
		"no upper":   {Spec: spec},
		"network":    {Upper: "u", Work: "w", Spec: spec, Network: "bridge"},
	}
	for _, b := range []Runner{NewBuiltin(Options{}), NewOCI("", Options{})} {
		for name, s := range steps {
			if err := b.Run(t.Context(), s); err == nil || !strings.HasPrefix(err.Error(), "checking step") {
				t.Errorf("%T.Run(%s) = %v, want a checking error", b, name, err)
			}
		}
	}
}

// TestOwnSession: a step leads a session of its own, so no terminal of
// strata's is its controlling terminal, into which it could type
// commands for the user's shell (TIOCSTI).
func TestOwnSession(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			if b.skip != nil {
				if why := b.skip["own-session"]; why != "" {
					t.Skip(why)
				}
			}
			// Fields 1 and 6 of /proc/self/stat: pid and session id; a
			// session led from outside the PID namespace reads 0.
			r := runStep(t, b, t.Context(), "exec awk '{print ($1 == $6) ? \"leader\" : \"session \" $6}' /proc/self/stat", nil)
			checkCode(t, r.err, 0, r.stderr)
			if got := strings.TrimSpace(r.stdout); got != "leader" {
				t.Errorf("step's session = %q, want its own (leader)", got)
			}
		})
	}
}
