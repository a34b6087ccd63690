package userns

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/strata-build/strata/internal/testenv"
)

// A Dockerfile with RUN as root and as USER, chown to other ids, COPY
// --chown, steps reading the build context (whose keys hold its files'
// owners), an ARG for a step to run again.
const noopDockerfile = `FROM busybox AS prep
RUN mkdir -p /out && echo prepared > /out/file && chown 4242:4343 /out/file
FROM busybox
RUN echo hello > /hello && mkdir -p /data && chown 4242:4343 /data
COPY --chown=1000:1000 --from=prep /out /home/app/
COPY app.txt /app.txt
COPY <<EOF /heredoc.txt
here
EOF
RUN --mount=type=bind,source=app.txt,target=/mnt/app.txt cp /mnt/app.txt /bound.txt
USER app
RUN id > /tmp/id.txt && ls -ln /home/app > /tmp/ls.txt
USER root
ARG V=1
RUN echo "$V" > /v
`

// noopCase is a store of root's and of an ordinary user's, each holding
// busybox, and a context of noopDockerfile with an app.txt.
type noopCase struct {
	t          *testing.T
	work, ctx  string
	root, user runner
}

func newNoopCase(t *testing.T) *noopCase {
	u := ensureUser(t, "strata-rootless", true)
	bin := strataBinary(t)
	c := &noopCase{t: t, work: sharedDir(t)}
	c.ctx = filepath.Join(c.work, "ctx")
	if err := os.Mkdir(c.ctx, 0o755); err != nil {
		t.Fatal(err)
	}
	c.write("Dockerfile", noopDockerfile)
	c.write("app.txt", "app\n")
	base := filepath.Join(c.work, "busybox.tar")
	copyFile(t, testenv.BusyboxTar(t), base)
	c.root = runner{t: t, bin: bin, env: []string{"STRATA_ROOT=" + filepath.Join(c.work, "store-root")}}
	c.user = runner{t: t, bin: bin, user: &u, env: []string{"STRATA_ROOT=" + filepath.Join(c.work, "store-user")}}
	c.root.must(c.work, "import", base, "busybox:latest")
	c.user.must(c.work, "import", base, "busybox:latest")
	return c
}

func (c *noopCase) write(name, body string) {
	c.t.Helper()
	if err := os.WriteFile(filepath.Join(c.ctx, name), []byte(body), 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// build builds the context as r with args, and returns the image ID and
// stderr.
func (c *noopCase) build(r runner, args ...string) (string, string) {
	c.t.Helper()
	iid := filepath.Join(c.work, "iid")
	os.Remove(iid)
	args = append(append([]string{"build", "--progress=plain", "--iidfile", iid, "-t", "noop:1"}, args...), ".")
	out, stderr, err := r.run(c.ctx, args...)
	if err != nil {
		c.t.Fatalf("strata %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	b, err := os.ReadFile(iid)
	if err != nil {
		c.t.Fatal(err)
	}
	return strings.TrimSpace(string(b)), stderr
}

var summaryLine = regexp.MustCompile(`(?m)^built sha256:[0-9a-f]{64} in [0-9.]+s \((\d+) steps? run, (\d+) cached\)`)

// oneBuild checks that stderr holds one build's output, with run steps
// run and cached taken from the cache.
func oneBuild(t *testing.T, what, stderr, run, cached string) {
	t.Helper()
	m := summaryLine.FindAllStringSubmatch(stderr, -1)
	if len(m) != 1 || strings.Count(stderr, "exporting to image") != 1 || strings.Count(stderr, "load build definition") != 1 {
		t.Fatalf("%s: want one build's output, got:\n%s", what, stderr)
	}
	if m[0][1] != run || m[0][2] != cached {
		t.Errorf("%s: summary %q; want %s run, %s cached", what, m[0][0], run, cached)
	}
}

// TestNoopOutside: an ordinary user's no-op build, steps reading the
// context too, finishes outside the user namespace (with newuidmap and newgidmap out of reach, entering one
// would say it maps the user alone), with root's digest and one build's
// output; a step to run (a new build argument) and an edited context file
// have it build in the namespace, each step once, to root's digest.
func TestNoopOutside(t *testing.T) {
	c := newNoopCase(t)
	rootID, _ := c.build(c.root)
	userID, stderr := c.build(c.user)
	if userID != rootID {
		t.Fatalf("cold build as the user = %s, as root = %s; want one digest", userID, rootID)
	}
	oneBuild(t, "cold build", stderr, "8", "0")

	noHelpers := c.user
	noHelpers.env = append(append([]string(nil), c.user.env...), "PATH=/nonexistent")
	id, stderr := c.build(noHelpers)
	if id != rootID {
		t.Errorf("no-op build as the user = %s, want %s", id, rootID)
	}
	if strings.Contains(stderr, "only your own uid") || strings.Contains(stderr, "strata:") {
		t.Errorf("no-op build as the user entered a user namespace:\n%s", stderr)
	}
	oneBuild(t, "no-op build", stderr, "0", "8")
	if n := strings.Count(stderr, "CACHED"); n != 8 {
		t.Errorf("no-op build shows %d CACHED steps, want 8:\n%s", n, stderr)
	}

	// A build argument: the last RUN must run, so the try falls back.
	rootID, _ = c.build(c.root, "--build-arg", "V=2")
	id, stderr = c.build(c.user, "--build-arg", "V=2")
	if id != rootID {
		t.Errorf("build as the user with V=2 = %s, as root = %s; want one digest", id, rootID)
	}
	oneBuild(t, "build with V=2", stderr, "1", "7")
	if n := strings.Count(stderr, `RUN echo "$V" > /v`); n != 1 {
		t.Errorf("the step to run shows %d times, want once:\n%s", n, stderr)
	}

	// An edit of the file two steps read: from the first, every step runs.
	c.write("app.txt", "app v2\n")
	rootID, _ = c.build(c.root)
	id, stderr = c.build(c.user)
	if id != rootID {
		t.Errorf("build as the user of an edited file = %s, as root = %s; want one digest", id, rootID)
	}
	oneBuild(t, "build of an edited file", stderr, "5", "3")
}

// TestNoopOutsideError: a Dockerfile error, as an ordinary user, is said
// once, with its line, and the build fails with 1.
func TestNoopOutsideError(t *testing.T) {
	c := newNoopCase(t)
	c.write("Dockerfile", "FROM busybox\nRUN true\nRUNN false\n")
	out, stderr, err := c.user.run(c.ctx, "build", "--progress=plain", ".")
	if code := exitCode(err); code != 1 {
		t.Fatalf("build of a bad Dockerfile exited %d (%v), want 1\n%s%s", code, err, out, stderr)
	}
	if strings.Count(stderr, "error:") != 1 || strings.Count(stderr, "Dockerfile:3") != 1 {
		t.Errorf("want the error once, with Dockerfile:3, got:\n%s", stderr)
	}
}

// exitCode is the exit code of a command's error.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(interface{ ExitCode() int }); ok {
		return ee.ExitCode()
	}
	return -1
}
