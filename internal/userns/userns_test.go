package userns

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"

	"github.com/strata-build/strata/internal/testenv"
)

func TestSubordinate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "subuid")
	body := "# comment\nother:100000:65536\nbad:x:1\n1001:300000:1000\nalice:200000:65536\nalice:900000:10\n"
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		uid  int
		want Range
		ok   bool
	}{
		{"alice", 1000, Range{1, 200000, 65536}, true},
		{"bob", 1001, Range{1, 300000, 1000}, true},
		{"carol", 1002, Range{}, false},
	}
	for _, tt := range tests {
		got, err := subordinate(path, tt.name, tt.uid)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("subordinate(%s, %d) = %v, %v; want %v (found %v)", tt.name, tt.uid, got, err, tt.want, tt.ok)
		}
	}
}

// An ordinary user made for the test, with or without a subordinate range.
type testUser struct {
	name     string
	uid, gid int
	home     string
}

// ensureUser creates user name (home in /home) with subordinate ids when
// sub is true; the set-up is the test's own, never the machine's.
func ensureUser(t *testing.T, name string, sub bool) testUser {
	t.Helper()
	testenv.RequireRoot(t)
	for _, tool := range []string{"useradd", "newuidmap", "newgidmap"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (scripts/setup.sh installs uidmap)", tool)
		}
	}
	if _, err := user.Lookup(name); err != nil {
		args := []string{"-m", "-s", "/bin/sh"}
		if !sub {
			// A system user gets no subordinate ids from useradd.
			args = append(args, "-r")
		}
		if out, err := exec.Command("useradd", append(args, name)...).CombinedOutput(); err != nil {
			t.Fatalf("useradd %s: %v: %s", name, err, out)
		}
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
		b, _ := os.ReadFile(f)
		has := strings.Contains("\n"+string(b), "\n"+name+":")
		switch {
		case sub && !has:
			if out, err := exec.Command("usermod", "--add-subuids", "400000-465535", "--add-subgids", "400000-465535", name).CombinedOutput(); err != nil {
				t.Fatalf("usermod: %v: %s", err, out)
			}
		case !sub && has:
			t.Fatalf("%s has subordinate ids in %s; the test needs a user without", name, f)
		}
	}
	return testUser{name: name, uid: uid, gid: gid, home: u.HomeDir}
}

var strataBin struct {
	once sync.Once
	path string
	err  error
}

// strataBinary builds a static strata once per test binary, where every
// user can run it.
func strataBinary(t *testing.T) string {
	t.Helper()
	strataBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "strata-userns-bin-")
		if err != nil {
			strataBin.err = err
			return
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			strataBin.err = err
			return
		}
		strataBin.path = filepath.Join(dir, "strata")
		cmd := exec.Command("go", "build", "-o", strataBin.path, "github.com/strata-build/strata/cmd/strata")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			strataBin.err = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	if strataBin.err != nil {
		t.Fatal(strataBin.err)
	}
	return strataBin.path
}

func TestMain(m *testing.M) {
	if how := os.Getenv(envStatusHelper); how != "" {
		os.Exit(statusHelper(how))
	}
	code := m.Run()
	if strataBin.path != "" {
		os.RemoveAll(filepath.Dir(strataBin.path))
	}
	os.Exit(code)
}

// runner runs strata as one user with one store.
type runner struct {
	t    *testing.T
	bin  string
	user *testUser // nil: root
	env  []string
}

func (r runner) run(dir string, args ...string) (string, string, error) {
	r.t.Helper()
	cmd := exec.Command(r.bin, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "SOURCE_DATE_EPOCH=1700000000"}, r.env...)
	if r.user != nil {
		cmd.Env = append(cmd.Env, "HOME="+r.user.home, "USER="+r.user.name)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(r.user.uid), Gid: uint32(r.user.gid)}}
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

func (r runner) must(dir string, args ...string) string {
	r.t.Helper()
	out, stderr, err := r.run(dir, args...)
	if err != nil {
		r.t.Fatalf("strata %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return out
}

// sharedDir makes a dir every user can read and write.
func sharedDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "strata-userns-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir
}

// A Dockerfile that needs the subordinate ids: RUN as root and as USER,
// chown to ids other than root, COPY --chown, a cache mount, a secret.
const digestDockerfile = `FROM busybox
RUN echo hello > /hello && mkdir -p /data && chown 4242:4343 /data && chmod 2750 /data
COPY --chown=1000:1000 app.txt /home/app/app.txt
RUN --mount=type=cache,target=/cache echo cached >> /cache/log && cat /cache/log > /cache-seen
RUN --mount=type=secret,id=token cat /run/secrets/token | wc -c > /secret-len
RUN --mount=type=bind,source=app.txt,target=/mnt/app.txt --mount=type=tmpfs,target=/scratch cp /mnt/app.txt /bound.txt && touch /scratch/gone
USER app
RUN id > /tmp/id.txt && touch /tmp/mine && ls -ln /home/app > /tmp/ls.txt && grep -E '^Cap(Inh|Prm|Eff|Amb):' /proc/self/status > /tmp/caps.txt
USER root
RUN grep -E '^(Seccomp|Cap(Inh|Prm|Eff|Amb)):' /proc/self/status > /status.txt && awk '$5 == "/" {print $(NF-2)}' /proc/self/mountinfo > /rootfs-type.txt
`

// TestOneDigest builds one Dockerfile as root and as an ordinary user with
// subordinate ids, and the two images must be the same, to the digest.
func TestOneDigest(t *testing.T) {
	u := ensureUser(t, "strata-rootless", true)
	bin := strataBinary(t)
	work := sharedDir(t)
	ctx := filepath.Join(work, "ctx")
	files := map[string]string{"Dockerfile": digestDockerfile, "app.txt": "app\n", "token": "s3cret-token"}
	if err := os.Mkdir(ctx, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(ctx, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	base := filepath.Join(work, "busybox.tar")
	copyFile(t, testenv.BusyboxTar(t), base)
	ids := map[string]string{}
	for _, who := range []struct {
		name string
		user *testUser
	}{{"root", nil}, {"user", &u}} {
		store := filepath.Join(work, "store-"+who.name)
		r := runner{t: t, bin: bin, user: who.user, env: []string{"STRATA_ROOT=" + store}}
		r.must(work, "import", base, "busybox:latest")
		_, stderr, err := r.run(ctx, "build", "--progress=plain", "--secret", "id=token,src="+filepath.Join(ctx, "token"), "-t", "onedigest:1", "--iidfile", filepath.Join(work, who.name+".iid"), ".")
		if err != nil {
			t.Fatalf("build as %s: %v\n%s", who.name, err, stderr)
		}
		if strings.Contains(stderr, "only your own uid") {
			t.Errorf("build as %s warned about a single mapping despite subordinate ids:\n%s", who.name, stderr)
		}
		iid, err := os.ReadFile(filepath.Join(work, who.name+".iid"))
		if err != nil {
			t.Fatal(err)
		}
		ids[who.name] = strings.TrimSpace(string(iid))
		if who.user != nil {
			out := filepath.Join(work, "out-"+who.name+".tar")
			r.must(ctx, "build", "--progress=quiet", "--secret", "id=token,src="+filepath.Join(ctx, "token"), "-o", "type=tar,dest="+out, ".")
			checkUserBuild(t, out)
		}
	}
	if ids["root"] == "" || ids["root"] != ids["user"] {
		t.Errorf("image as root = %s, as an ordinary user = %s; want one digest", ids["root"], ids["user"])
	}
}

// checkUserBuild checks the filesystem the ordinary user's build made,
// from its tar export (owners as the image has them).
func checkUserBuild(t *testing.T, tarPath string) {
	t.Helper()
	f, err := os.Open(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type entry struct {
		body     string
		uid, gid int
	}
	got := map[string]entry{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		got[strings.TrimPrefix(path.Clean(h.Name), "/")] = entry{string(b), h.Uid, h.Gid}
	}
	want := map[string]string{
		"hello":      "hello\n",
		"cache-seen": "cached\n",
		"secret-len": "12\n",
		"tmp/id.txt": "uid=1000(app) gid=1000(app) groups=50(staff),1000(app)\n",
		// Docker's capabilities for root, none inheritable or ambient;
		// none at all for another user.
		"status.txt":       "CapInh:\t0000000000000000\nCapPrm:\t00000000a80425fb\nCapEff:\t00000000a80425fb\nCapAmb:\t0000000000000000\nSeccomp:\t2\n",
		"tmp/caps.txt":     "CapInh:\t0000000000000000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapAmb:\t0000000000000000\n",
		"home/app/app.txt": "app\n",
		"bound.txt":        "app\n",
		// Native overlayfs in the namespace, not the copy fallback.
		"rootfs-type.txt": "overlay\n",
	}
	for name, body := range want {
		if e, ok := got[name]; !ok || e.body != body {
			t.Errorf("%s = %q (present %v), want %q", name, e.body, ok, body)
		}
	}
	for _, name := range []string{"scratch/gone", "mnt/app.txt", "run/secrets/token"} {
		if _, ok := got[name]; ok {
			t.Errorf("%s is in the image; a mount's content must not be", name)
		}
	}
	for name, owner := range map[string][2]int{"data": {4242, 4343}, "tmp/mine": {1000, 1000}, "home/app/app.txt": {1000, 1000}} {
		if e, ok := got[name]; !ok || e.uid != owner[0] || e.gid != owner[1] {
			t.Errorf("%s owner = %d:%d (present %v), want %d:%d", name, e.uid, e.gid, ok, owner[0], owner[1])
		}
	}
}

// TestCommands runs the other commands as an ordinary user: images, run,
// size, compare, tag, push and pull through a registry on 127.0.0.1,
// cache export and import, save, prune.
func TestCommands(t *testing.T) {
	u := ensureUser(t, "strata-rootless", true)
	bin := strataBinary(t)
	work := sharedDir(t)
	base := filepath.Join(work, "busybox.tar")
	copyFile(t, testenv.BusyboxTar(t), base)
	if err := os.WriteFile(filepath.Join(work, "Dockerfile"), []byte("FROM busybox\nRUN echo built > /built\nCMD [\"cat\", \"/built\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	reg := strings.TrimPrefix(srv.URL, "http://")
	xdg := filepath.Join(work, "xdg")
	r := runner{t: t, bin: bin, user: &u, env: []string{"XDG_DATA_HOME=" + xdg}}
	r.must(work, "import", base, "busybox:latest")
	r.must(work, "build", "--progress=quiet", "-t", "cmds:1", "--cache-to", "type=local,dest="+filepath.Join(work, "cache"), ".")
	if _, err := os.Stat(filepath.Join(xdg, "strata", "index.json")); err != nil {
		t.Errorf("the store is not in $XDG_DATA_HOME/strata: %v", err)
	}
	if out := r.must(work, "run", "--rm", "cmds:1"); out != "built\n" {
		t.Errorf("strata run = %q, want built", out)
	}
	if out := r.must(work, "images"); !strings.Contains(out, "cmds") {
		t.Errorf("strata images lacks cmds:\n%s", out)
	}
	r.must(work, "size", "cmds:1")
	r.must(work, "compare", "busybox:latest", "cmds:1")
	r.must(work, "tag", "cmds:1", reg+"/cmds:1")
	r.must(work, "push", reg+"/cmds:1")
	r.must(work, "rmi", reg+"/cmds:1", "cmds:1")
	r.must(work, "prune", "--all")
	r.must(work, "pull", reg+"/cmds:1")
	// A second store of the same user imports the cache: nothing runs.
	r2 := runner{t: t, bin: bin, user: &u, env: []string{"XDG_DATA_HOME=" + filepath.Join(work, "xdg2")}}
	r2.must(work, "import", base, "busybox:latest")
	_, stderr, err := r2.run(work, "build", "--progress=plain", "--cache-from", "type=local,src="+filepath.Join(work, "cache"), "-t", "cmds:2", ".")
	if err != nil || !strings.Contains(stderr, "CACHED") {
		t.Errorf("build from the exported cache: %v, want its RUN CACHED:\n%s", err, stderr)
	}
	r2.must(work, "save", "cmds:2", "-o", filepath.Join(work, "cmds.tar"))
}

// TestSingleMapping: a user without subordinate ids still builds what
// needs no other owner, is told once what cannot work, and gets a clear
// error when a step chowns to another id.
func TestSingleMapping(t *testing.T) {
	u := ensureUser(t, "strata-nosubid", false)
	bin := strataBinary(t)
	work := sharedDir(t)
	base := filepath.Join(work, "busybox.tar")
	copyFile(t, testenv.BusyboxTar(t), base)
	r := runner{t: t, bin: bin, user: &u, env: []string{"XDG_DATA_HOME=" + filepath.Join(work, "xdg")}}
	if _, stderr, err := r.run(work, "import", base, "busybox:latest"); err != nil || !strings.Contains(stderr, "only your own uid and gid are mapped") {
		t.Fatalf("import: %v, want the single-mapping notice:\n%s", err, stderr)
	}
	if err := os.WriteFile(filepath.Join(work, "Dockerfile"), []byte("FROM busybox\nRUN echo ok > /ok\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.must(work, "build", "--progress=quiet", "-t", "single:1", ".")
	if err := os.WriteFile(filepath.Join(work, "Dockerfile"), []byte("FROM busybox\nRUN touch /x && chown 4242 /x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := r.run(work, "build", "--progress=plain", ".")
	if err == nil || !strings.Contains(stderr, "Dockerfile:2") {
		t.Errorf("chown to an unmapped id: %v, want a failure at Dockerfile:2:\n%s", err, stderr)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
