package build

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/strata-build/strata/internal/dockerfile"
	"github.com/strata-build/strata/internal/sandbox"
	"github.com/strata-build/strata/internal/store"
	"github.com/strata-build/strata/internal/testenv"
)

// newSecret is a random marker no file holds by chance.
func newSecret(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "strata-secret-" + hex.EncodeToString(b)
}

// filesHolding lists the regular files under root whose bytes (gunzipped,
// for gzip files) contain secret.
func filesHolding(t *testing.T, root, secret string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // a step's scratch, removed meanwhile
			}
			return err
		}
		if !e.Type().IsRegular() {
			return nil // directories, links, and the step's FIFO
		}
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if zr, err := gzip.NewReader(bytes.NewReader(b)); err == nil {
			if all, err := io.ReadAll(zr); err == nil {
				b = append(b, all...)
			}
		}
		if bytes.Contains(b, []byte(secret)) {
			found = append(found, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestRunSecretInMemory: a secret file has the mode and owner the mount
// asks for, sits on a tmpfs, and no file under the store holds its bytes,
// neither while the step runs (it waits on a FIFO in a cache mount until
// the store has been searched) nor afterwards.
func TestRunSecretInMemory(t *testing.T) {
	forEachIsolation(t, func(t *testing.T, f *fixture) {
		secret := newSecret(t)
		t.Setenv("STRATA_TEST_SECRET", secret)
		df := "FROM busybox\n" +
			"RUN --mount=type=cache,id=gate,target=/gate --mount=type=secret,id=s,mode=0440,uid=1000,gid=1001 " +
			"stat -c '%a %u %g' /run/secrets/s > /stat && stat -f -c %T /run/secrets/s > /fstype && " +
			"wc -c < /run/secrets/s > /len && rm -f /gate/go && mkfifo /gate/go && echo ready && cat /gate/go\n"
		file, err := dockerfile.Parse("Dockerfile", []byte(df))
		if err != nil {
			t.Fatal(err)
		}
		sig := &startSignal{started: make(chan struct{})}
		done := make(chan error, 1)
		var res *Result
		go func() {
			var err error
			res, err = f.b.Build(context.Background(), Options{File: file, ContextDir: t.TempDir(), Progress: sig,
				Secrets: map[string]Secret{"s": {Env: "STRATA_TEST_SECRET"}}})
			done <- err
		}()
		select {
		case <-sig.started:
		case err := <-done:
			t.Fatalf("Build() ended before the step waited: %v", err)
		case <-time.After(60 * time.Second):
			t.Fatal("the RUN step did not start")
		}
		found := filesHolding(t, f.store.Root(), secret)
		if !kernelBindsDetached(t) {
			found = onDisk(t, found) // the tmpfs is attached under the step's scratch dir
		}
		if len(found) > 0 {
			t.Errorf("while the step runs, files under the store hold the secret: %v", found)
		}
		openGate(t, f.store.Root())
		if err := <-done; err != nil {
			t.Fatalf("Build() = %v", err)
		}
		fs := flatten(t, res.Image)
		for name, want := range map[string]string{"/stat": "440 1000 1001", "/fstype": "tmpfs", "/len": strconv.Itoa(len(secret))} {
			if got := strings.TrimSpace(fs[name].body); got != want {
				t.Errorf("%s = %q, want %q", name, got, want)
			}
		}
		if found := filesHolding(t, f.store.Root(), secret); len(found) > 0 {
			t.Errorf("after the build, files under the store hold the secret: %v", found)
		}
	})
}

// onDisk is the paths not on a tmpfs.
func onDisk(t *testing.T, paths []string) []string {
	t.Helper()
	var disk []string
	for _, p := range paths {
		var st unix.Statfs_t
		if err := unix.Statfs(p, &st); err != nil {
			t.Fatal(err)
		}
		if st.Type != unix.TMPFS_MAGIC {
			disk = append(disk, p)
		}
	}
	return disk
}

// openGate opens the FIFO the step waits on (in its cache mount) for
// writing and closes it: the step's cat ends.
func openGate(t *testing.T, root string) {
	t.Helper()
	fifos, err := filepath.Glob(filepath.Join(root, "cache-mounts", "*", "data", "go"))
	if err != nil || len(fifos) != 1 {
		t.Fatalf("the step's FIFO: %v, %v", fifos, err)
	}
	w, err := os.OpenFile(fifos[0], os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
}

// TestSecretGoneWhenKilled SIGKILLs a builder process (this test binary,
// re-executed) while a RUN step with a secret mount sleeps: no file under
// the store may hold the secret and no mount may be left, at once (the
// secret's tmpfs dies with the process) or, on kernels that cannot bind
// from a detached mount, after the store's next Open.
func TestSecretGoneWhenKilled(t *testing.T) {
	if os.Getenv("STRATA_SECRET_KILL_CHILD") != "" {
		killedBuilder(t)
		return
	}
	testenv.RequireRoot(t)
	scope := filepath.Dir(t.TempDir())
	before := mountinfo(t, scope)
	root, sandboxDir := t.TempDir(), t.TempDir()
	secret := newSecret(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestSecretGoneWhenKilled$")
	cmd.Env = append(os.Environ(), "STRATA_SECRET_KILL_CHILD=1", "STRATA_TEST_ROOT="+root,
		"STRATA_TEST_SANDBOX="+sandboxDir, "STRATA_TEST_SECRET="+secret)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitForLine(t, stdout, "started")
	// "started" is printed before the shell forks sleep: wait for it.
	var sleeps []int
	for deadline := time.Now().Add(10 * time.Second); len(sleeps) == 0 && time.Now().Before(deadline); {
		sleeps = pidfds(t, processesRunning(t, "sleep 1041"))
		time.Sleep(10 * time.Millisecond)
	}
	if len(sleeps) == 0 {
		t.Fatal("the step's sleep is not running")
	}
	cmd.Process.Kill()
	cmd.Wait()
	for _, fd := range sleeps {
		waitExit(t, fd)
	}
	if !kernelBindsDetached(t) {
		st, err := store.Open(context.Background(), root) // removes the dead scratch dir
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
	}
	if found := filesHolding(t, root, secret); len(found) > 0 {
		t.Errorf("after SIGKILL, files under the store hold the secret: %v", found)
	}
	if after := mountinfo(t, scope); after != before {
		t.Errorf("mounts left by a killed build:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// killedBuilder is the child of TestSecretGoneWhenKilled: it builds with
// the builtin sandbox and prints the step's output until it is killed.
func killedBuilder(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, os.Getenv("STRATA_TEST_ROOT"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := st.WriteImage(ctx, testenv.BusyboxImage(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Tag(ctx, "busybox:latest", h); err != nil {
		t.Fatal(err)
	}
	runner := sandbox.NewBuiltin(sandbox.Options{TempDir: os.Getenv("STRATA_TEST_SANDBOX")})
	file, err := dockerfile.Parse("Dockerfile", []byte("FROM busybox\n"+
		"RUN --mount=type=secret,id=s wc -c < /run/secrets/s && echo started && sleep 1041\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(st, nil, runner, nil).Build(ctx, Options{File: file, ContextDir: t.TempDir(),
		Progress: stdoutProgress{}, Secrets: map[string]Secret{"s": {Env: "STRATA_TEST_SECRET"}}})
	t.Fatalf("Build() returned (%v); it should have been killed", err)
}

// stdoutProgress prints RUN output to stdout.
type stdoutProgress struct{}

func (stdoutProgress) Step(string, int, int, string) (io.Writer, func(bool, error)) {
	return os.Stdout, func(bool, error) {}
}

func (stdoutProgress) Warn(string) {}

// waitForLine reads r until a line is want.
func waitForLine(t *testing.T, r io.Reader, want string) {
	t.Helper()
	found := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) == want {
				found <- true
				return
			}
		}
		found <- false
	}()
	select {
	case ok := <-found:
		if !ok {
			t.Fatalf("the builder ended before printing %q", want)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the builder did not print %q", want)
	}
}

// pidfds opens a pidfd per pid (closed with the test).
func pidfds(t *testing.T, pids []string) []int {
	t.Helper()
	var fds []int
	for _, p := range pids {
		pid, err := strconv.Atoi(p)
		if err != nil {
			t.Fatal(err)
		}
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			continue // gone already
		}
		t.Cleanup(func() { unix.Close(fd) })
		fds = append(fds, fd)
	}
	return fds
}

// waitExit waits until the process of pidfd has exited.
func waitExit(t *testing.T, pidfd int) {
	t.Helper()
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 20_000)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || n == 0 {
			t.Fatalf("the step's process did not exit after its builder was killed: %v", err)
		}
		return
	}
}

// kernelBindsDetached reports whether secrets stay on a detached tmpfs
// (kernel 6.15 and later) rather than one attached under the store.
func kernelBindsDetached(t *testing.T) bool {
	t.Helper()
	fd, err := detachedTmpfs()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	return bindableDetached(fd)
}

// TestSecretFS: the file has the bytes, mode and owner asked for, on a
// tmpfs made any of the three ways; after close its path leads nowhere and
// nothing is left mounted.
func TestSecretFS(t *testing.T) {
	testenv.RequireRoot(t)
	tests := []struct {
		name string
		make func(dir string) (*secretFS, error)
	}{
		{"detached", func(string) (*secretFS, error) { return newTmpfs("/nonexistent") }},
		{"attached", func(dir string) (*secretFS, error) { // kernels before 6.15
			s, err := newTmpfs("/nonexistent")
			if err == nil {
				err = s.attach(dir)
			}
			return s, err
		}},
		{"mounted", mountTmpfs}, // kernels before 5.2
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "secret0")
			s, err := tt.make(dir)
			if err != nil {
				t.Fatal(err)
			}
			if err := writeSecret(s.fd, []byte("s3cr3t"), secretOwner{mode: 0o440, uid: 1000, gid: 1001}); err != nil {
				t.Fatal(err)
			}
			src := checkSecretFile(t, s)
			if got := onDisk(t, []string{src}); len(got) > 0 {
				t.Errorf("%s is not on a tmpfs", src)
			}
			s.close()
			if _, err := os.ReadFile(src); err == nil {
				t.Errorf("after close, %s still reads", src)
			}
			if m := mountinfo(t, dir); m != "" {
				t.Errorf("after close, mounts at %s:\n%s", dir, m)
			}
		})
	}
}

// TestSecretMemfd: where no mount can be made (chroot mode), the secret
// is a memfd with the mode and owner asked for, read through /proc, and
// gone once closed.
func TestSecretMemfd(t *testing.T) {
	testenv.RequireRoot(t)
	s, err := newSecretMemfd([]byte("s3cr3t"), secretOwner{mode: 0o440, uid: 1000, gid: 1001})
	if err != nil {
		t.Fatal(err)
	}
	src := checkSecretFile(t, s)
	s.close()
	if _, err := os.ReadFile(src); err == nil {
		t.Errorf("after close, %s still reads", src)
	}
}

// checkSecretFile checks that s holds "s3cr3t" with mode 0440 and owner
// 1000:1001, and returns the path the sandbox would read.
func checkSecretFile(t *testing.T, s *secretFS) string {
	t.Helper()
	src := s.source()
	var st unix.Stat_t
	if err := unix.Stat(src, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&0o7777 != 0o440 || st.Uid != 1000 || st.Gid != 1001 {
		t.Errorf("%s: mode %o, owner %d:%d, want 440 1000:1001", src, st.Mode&0o7777, st.Uid, st.Gid)
	}
	if b, err := os.ReadFile(src); err != nil || string(b) != "s3cr3t" {
		t.Errorf("ReadFile(%s) = %q, %v", src, b, err)
	}
	return src
}
