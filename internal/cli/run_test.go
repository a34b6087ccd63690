package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"golang.org/x/sys/unix"
)

func TestRunExitCodes(t *testing.T) {
	root := buildRoot(t)
	for _, tc := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"busybox:1.35", "true"}, 0, ""},
		{[]string{"busybox:1.35", "sh", "-c", "exit 1"}, 1, ""},
		{[]string{"busybox:1.35", "sh", "-c", "exit 3"}, 3, ""},
		{[]string{"busybox:1.35", "/etc/passwd"}, 126, "permission denied"},
		{[]string{"busybox:1.35", "/bin"}, 126, `"/bin"`},
		{[]string{"busybox:1.35", "nope"}, 127, `exec: "nope": executable file not found in $PATH`},
		{[]string{"busybox:1.35", "/no/such"}, 127, "no such file or directory"},
		// The process is PID 1, as under Docker: the kernel keeps from it
		// the signals it has no handler for, SIGKILL included; busybox sh
		// handles SIGINT (docker run gives 130, 0 and 0 here too).
		{[]string{"busybox:1.35", "sh", "-c", "kill -INT $$"}, 130, ""},
		{[]string{"busybox:1.35", "sh", "-c", "kill -TERM $$"}, 0, ""},
		{[]string{"busybox:1.35", "sh", "-c", "kill -KILL $$"}, 0, ""},
		{[]string{"busybox:1.35", "sh", "-c", `trap "exit 143" TERM; kill -TERM $$; sleep 1`}, 143, ""},
		{[]string{"--bogus", "busybox:1.35"}, 125, "unknown flag: --bogus"},
		{[]string{}, 125, "requires at least 1 argument"},
		{[]string{"--pull=never", "nothere:1"}, 125, `image "nothere:1" not found`},
		{[]string{"--pull=sometimes", "busybox:1.35"}, 125, "invalid --pull"},
		{[]string{"-v", "data:/data", "busybox:1.35", "true"}, 125, "named volumes are not supported"},
		{[]string{"-p", "70000:80", "busybox:1.35", "true"}, 125, "out of range"},
		{[]string{"-it", "busybox:1.35", "true"}, 125, "the input device is not a TTY"},
	} {
		out, errs, code := strata(t, root, nil, append([]string{"run"}, tc.args...)...)
		if code != tc.code || !strings.Contains(errs, tc.err) {
			t.Errorf("run %q = exit %d, stderr %q; want %d, %q (stdout %q)", tc.args, code, errs, tc.code, tc.err, out)
		}
	}
	if out := mustStrata(t, root, nil, "run", "busybox:1.35", "sh", "-c", "echo $$; kill -TERM $$; echo alive"); out != "1\nalive\n" {
		t.Errorf("the process is not PID 1 or died of a signal it has no handler for: %q", out)
	}
}

func TestRunFlags(t *testing.T) {
	root := buildRoot(t)
	out := mustStrata(t, root, nil, "run", "-e", "A=b c", "-w", "/tmp/w", "--user", "1000:1000", "--rm",
		"busybox:1.35", "sh", "-c", `echo "$A"; pwd; id -u; id -g`)
	if out != "b c\n/tmp/w\n1000\n1000\n" {
		t.Errorf("run -e -w --user = %q", out)
	}
	if out := mustStrata(t, root, nil, "run", "--entrypoint", "echo", "busybox:1.35", "hi"); out != "hi\n" {
		t.Errorf("run --entrypoint = %q", out)
	}
	if out := mustStrata(t, root, strings.NewReader("in\n"), "run", "-i", "busybox:1.35", "cat"); out != "in\n" {
		t.Errorf("run -i cat = %q", out)
	}
	if out := mustStrata(t, root, strings.NewReader("in\n"), "run", "busybox:1.35", "cat"); out != "" {
		t.Errorf("run cat without -i read stdin: %q", out)
	}
	if out := mustStrata(t, root, nil, "run", "-t", "busybox:1.35", "sh", "-c", "tty; echo $TERM"); out != "/dev/pts/0\r\nxterm\r\n" {
		t.Errorf("run -t with no terminal of strata's = %q", out)
	}
	_, errs, code := strata(t, root, nil, "run", "-p", "8080:80", "-p", "9090:9090/udp", "busybox:1.35", "true")
	if code != 0 || !strings.Contains(errs, "cannot be remapped (8080->80/tcp)") || strings.Contains(errs, "9090") {
		t.Errorf("run -p = %d %q, want a warning for 8080->80 alone", code, errs)
	}
}

func TestRunVolumes(t *testing.T) {
	root := buildRoot(t)
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "in"), []byte("from host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code := strata(t, root, nil, "run", "-v", host+":/data:ro", "busybox:1.35", "sh", "-c", "cat /data/in; echo x > /data/out")
	if code != 1 || out != "from host\n" || !strings.Contains(errs, "Read-only file system") {
		t.Errorf("run -v :ro = %d %q %q, want the file read and the write refused", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(host, "out")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a read-only volume was written: %v", err)
	}
	mustStrata(t, root, nil, "run", "-v", host+":/data", "-v", filepath.Join(host, "made")+":/made", "busybox:1.35",
		"sh", "-c", "echo from container > /data/out; touch /made/f")
	if b, err := os.ReadFile(filepath.Join(host, "out")); err != nil || string(b) != "from container\n" {
		t.Errorf("rw volume: host file = %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(host, "made", "f")); err != nil {
		t.Errorf("missing host dir of -v not created and bound: %v", err)
	}
}

// TestRunSignals sends strata SIGTERM and SIGINT while a container runs:
// they reach its process (PID 1, as under Docker: it handles them) and
// strata exits with its code.
func TestRunSignals(t *testing.T) {
	root := buildRoot(t)
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGTERM, 143}, {syscall.SIGINT, 130}} {
		dir := t.TempDir()
		codec := make(chan int, 1)
		go func() {
			_, _, code := strata(t, root, nil, "run", "-v", dir+":/mnt", "busybox:1.35", "sh", "-c",
				`trap "exit 130" INT; trap "exit 143" TERM; touch /mnt/ready; while :; do sleep 0.1; done`)
			codec <- code
		}()
		waitFor(t, func() bool { _, err := os.Stat(filepath.Join(dir, "ready")); return err == nil })
		if err := syscall.Kill(os.Getpid(), tc.sig); err != nil {
			t.Fatal(err)
		}
		if code := <-codec; code != tc.code {
			t.Errorf("run killed by %v = exit %d, want %d", tc.sig, code, tc.code)
		}
	}
}

// waitFor polls cond until it holds (the test's own timeout bounds it).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for !cond() {
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRunDetached(t *testing.T) {
	root := buildRoot(t)
	t.Cleanup(func() { // nothing left running when the test fails half-way
		for _, id := range strings.Fields(mustStrata(t, root, nil, "ps", "-aq")) {
			strata(t, root, nil, "rm", "-f", id)
		}
	})
	id := strings.TrimSpace(mustStrata(t, root, nil, "run", "-d", "--name", "web", "-p", "8080:8080", "busybox:1.35",
		"sh", "-c", `echo started; echo warned >&2; trap "echo bye; exit 0" TERM; while :; do sleep 0.1; done`))
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(id) {
		t.Fatalf("run -d printed %q, want a container ID", id)
	}
	ps := mustStrata(t, root, nil, "ps")
	want := regexp.MustCompile(`(?m)^CONTAINER ID +IMAGE +COMMAND +CREATED +STATUS +PORTS +NAMES\n` + id[:12] +
		` +busybox:1\.35 +"sh -c echo started;…" +.* ago +Up .* +0\.0\.0\.0:8080->8080/tcp +web$`)
	if !want.MatchString(ps) {
		t.Errorf("ps =\n%s", ps)
	}
	waitFor(t, func() bool {
		out, errs, _ := strata(t, root, nil, "logs", "web")
		return out == "started\n" && errs == "warned\n"
	})
	if _, errs, code := strata(t, root, nil, "run", "-d", "--name", "web", "busybox:1.35", "true"); code != 125 || !strings.Contains(errs, "already in use") {
		t.Errorf("second --name web = %d %q", code, errs)
	}
	if out := mustStrata(t, root, nil, "stop", "web"); out != "web\n" {
		t.Errorf("stop = %q", out)
	}
	if out, errs, code := strata(t, root, nil, "logs", id[:8]); code != 0 || out != "started\nbye\n" || errs != "warned\n" {
		t.Errorf("logs after stop = %d, stdout %q, stderr %q", code, out, errs)
	}
	if out := mustStrata(t, root, nil, "ps", "-q"); out != "" {
		t.Errorf("ps after stop = %q, want nothing running", out)
	}
	if out := mustStrata(t, root, nil, "ps", "-a"); !regexp.MustCompile(`Exited \(0\) .* ago +0\.0\.0\.0:8080->8080/tcp +web\n`).MatchString(out) {
		t.Errorf("ps -a after stop =\n%s", out)
	}
	// A process that ignores SIGTERM is killed after the timeout, and so is
	// one without a handler for it (PID 1, as under docker stop: 137); the
	// log follows to the end.
	mustStrata(t, root, nil, "run", "-d", "--name", "deaf", "busybox:1.35", "sh", "-c", `trap "" TERM; while :; do sleep 0.1; done`)
	mustStrata(t, root, nil, "run", "-d", "--name", "sleeper", "busybox:1.35", "sleep", "60")
	mustStrata(t, root, nil, "stop", "-t", "1", "deaf", "sleeper")
	mustStrata(t, root, nil, "run", "-d", "--name", "counter", "busybox:1.35", "sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.1; done; exit 4")
	if out := mustStrata(t, root, nil, "logs", "-f", "counter"); out != "1\n2\n3\n" {
		t.Errorf("logs -f = %q", out)
	}
	if out := mustStrata(t, root, nil, "logs", "--tail", "2", "counter"); out != "2\n3\n" {
		t.Errorf("logs --tail 2 = %q", out)
	}
	if out := mustStrata(t, root, nil, "logs", "-t", "-n", "1", "counter"); !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z 3\n$`).MatchString(out) {
		t.Errorf("logs -t -n 1 = %q", out)
	}
	all := mustStrata(t, root, nil, "ps", "-a")
	for _, w := range []string{`Exited \(137\) .* deaf`, `Exited \(137\) .* sleeper`, `Exited \(4\) .* counter`} {
		if !regexp.MustCompile(w).MatchString(all) {
			t.Errorf("ps -a lacks %s:\n%s", w, all)
		}
	}
	if _, errs, code := strata(t, root, nil, "run", "-d", "busybox:1.35", "nope"); code != 127 || !strings.Contains(errs, "not found") {
		t.Errorf("run -d nope = %d %q", code, errs)
	}
	mustStrata(t, root, nil, "run", "-d", "--rm", "--name", "gone", "busybox:1.35", "true")
	mustStrata(t, root, nil, "rm", "web", "deaf", "sleeper", "counter")
	waitFor(t, func() bool { return mustStrata(t, root, nil, "ps", "-aq") == "" })
	if entries, _ := os.ReadDir(filepath.Join(root, containersDir)); len(entries) != 0 {
		t.Errorf("containers left after rm and --rm: %v", entries)
	}
}

// TestRunTTY runs -it on a pseudo-terminal of the test's: the container
// gets one of its own with the same size.
func TestRunTTY(t *testing.T) {
	root := buildRoot(t)
	master, slave := openPty(t, 33, 101)
	var errb bytes.Buffer
	outc := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(onEIO{master})
		outc <- string(b)
	}()
	code := Main(context.Background(), []string{"--root", root, "run", "-it", "busybox:1.35", "sh", "-c", "tty; stty size; ls -1 /dev/pts; exit 5"},
		Stdio{In: slave, Out: slave, Err: &errb})
	// strata's copy of stdin still reads the slave: a line ends it, so
	// that closing the slave ends the output (EIO).
	if _, err := master.Write([]byte("\n")); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	out := <-outc
	// Its own devpts: no terminal of the host's is there.
	if code != 5 || !strings.HasPrefix(out, "/dev/pts/0\r\n33 101\r\n0\r\nptmx\r\n") {
		t.Errorf("run -it = %d, %q (stderr %q)", code, out, errb.String())
	}
}

// onEIO reads a pty master, ending at the EIO that says the slave closed.
type onEIO struct{ f *os.File }

func (r onEIO) Read(p []byte) (int, error) {
	n, err := r.f.Read(p)
	if errors.Is(err, syscall.EIO) {
		err = io.EOF
	}
	return n, err
}

// openPty opens a host pseudo-terminal of rows x cols.
func openPty(t *testing.T, rows, cols uint16) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}); err != nil {
		t.Fatal(err)
	}
	return m, s
}

func TestRunPullsMissingImage(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	mustStrata(t, buildRoot(t), nil, "push", "busybox:1.35", host+"/test/bb:1")
	root := t.TempDir()
	ref := host + "/test/bb:1"
	if _, errs, code := strata(t, root, nil, "run", "--pull=never", ref, "true"); code != 125 || !strings.Contains(errs, "not found") {
		t.Errorf("run --pull=never of a missing image = %d %q", code, errs)
	}
	out, errs, code := strata(t, root, nil, "run", "--platform", "linux/amd64", ref, "echo", "pulled")
	if code != 0 || out != "pulled\n" || !strings.Contains(errs, "Unable to find image '"+ref+"' locally") {
		t.Errorf("run of a missing image = %d %q %q", code, out, errs)
	}
	if out := mustStrata(t, root, nil, "images", "-q"); out == "" {
		t.Error("the pulled image is not in the store")
	}
	out, errs, code = strata(t, root, nil, "run", ref, "echo", "again")
	if code != 0 || out != "again\n" || strings.Contains(errs, "Unable to find") {
		t.Errorf("run of a stored image = %d %q %q", code, out, errs)
	}
	if out, _, code := strata(t, root, nil, "run", "--pull=always", ref, "true"); code != 0 || out != "" {
		t.Errorf("run --pull=always = %d %q", code, out)
	}
}

// TestRunExitCodesOCI: runc or crun report a command that cannot start in
// their own words; strata exits as docker does all the same.
func TestRunExitCodesOCI(t *testing.T) {
	if _, err := exec.LookPath("runc"); err != nil {
		if _, err := exec.LookPath("crun"); err != nil {
			t.Skip("no runc or crun")
		}
	}
	root := buildRoot(t)
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"sh", "-c", "exit 3"}, 3},
		{[]string{"nope"}, 127},
		{[]string{"/etc/passwd"}, 126},
	} {
		_, errs, code := strata(t, root, nil, append([]string{"run", "--isolation=oci", "busybox:1.35"}, tc.args...)...)
		if code != tc.code {
			t.Errorf("run --isolation=oci %q = exit %d (%s), want %d", tc.args, code, errs, tc.code)
		}
	}
}

// TestPruneKeepsContainerImages: prune keeps the image of a container,
// running or stopped, until the container is removed, as docker does; a
// running one keeps its files.
func TestPruneKeepsContainerImages(t *testing.T) {
	root := buildRoot(t)
	t.Cleanup(func() { strata(t, root, nil, "rm", "-f", "keeper") })
	mustStrata(t, root, nil, "run", "-d", "--name", "keeper", "busybox:1.35", "sh", "-c",
		`while :; do test -e /bin/sh || echo missing; sleep 0.05; done`)
	mustStrata(t, root, nil, "rmi", "busybox:1.35", "busybox:latest")
	if out := mustStrata(t, root, nil, "prune", "-af"); strings.Contains(out, "deleted:") {
		t.Errorf("prune with a running container removed its image:\n%s", out)
	}
	time.Sleep(300 * time.Millisecond) // the loop looks a few times
	if out := mustStrata(t, root, nil, "logs", "keeper"); out != "" {
		t.Errorf("the container lost its files to prune: logs %q", out)
	}
	mustStrata(t, root, nil, "stop", "-t", "1", "keeper")
	if out := mustStrata(t, root, nil, "prune", "-af"); strings.Contains(out, "deleted:") {
		t.Errorf("prune with a stopped container removed its image:\n%s", out)
	}
	mustStrata(t, root, nil, "rm", "keeper")
	if out := mustStrata(t, root, nil, "prune", "-af"); !strings.Contains(out, "Total reclaimed space") || strings.Contains(out, "Total reclaimed space: 0B") {
		t.Errorf("prune after rm kept the image:\n%s", out)
	}
}
