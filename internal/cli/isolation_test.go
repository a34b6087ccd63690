package cli

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-build/strata/internal/sandbox"
	"github.com/strata-build/strata/internal/testenv"
)

// TestNewRunner: --isolation values, and the notice chroot mode prints
// once and the others do not.
func TestNewRunner(t *testing.T) {
	testenv.RequireRoot(t)
	for _, c := range []struct {
		isolation, notice string
	}{
		{"builtin", ""},
		{"oci", ""},
		{"auto", ""}, // as root on this host: the builtin
		{"chroot", "strata: sandbox: chroot mode (--isolation chroot); " + sandbox.ChrootLimits + "; see docs/security.md\n"},
	} {
		var stderr bytes.Buffer
		if _, err := newRunner(t.Context(), c.isolation, &stderr); err != nil {
			t.Errorf("newRunner(%q) = %v", c.isolation, err)
		}
		if stderr.String() != c.notice {
			t.Errorf("newRunner(%q) said %q, want %q", c.isolation, stderr.String(), c.notice)
		}
	}
	if _, err := newRunner(t.Context(), "vm", io.Discard); err == nil || !strings.Contains(err.Error(), "auto, builtin, oci or chroot") {
		t.Errorf("newRunner(vm) = %v, want an error listing the values", err)
	}
}

// TestNoSandbox: where nothing can run a step, RUN fails saying why and
// what to do.
func TestNoSandbox(t *testing.T) {
	var stderr bytes.Buffer
	r := runnerFor(sandbox.Detection{Mode: sandbox.ModeNone, Reason: "no namespaces here: EPERM; not root"}, sandbox.Options{}, &stderr)
	err := r.Run(t.Context(), &sandbox.Step{})
	if err == nil || !strings.Contains(err.Error(), "not root") || !strings.Contains(err.Error(), "run strata as root with Docker's default capabilities") {
		t.Errorf("Run() = %v, want the reason and what to do", err)
	}
	if stderr.Len() != 0 {
		t.Errorf("runnerFor(none) said %q, want nothing until a RUN", stderr.String())
	}
}

// dockerBin is Debian's docker client, which talks to the dockerd of
// ../shared/peers/setup.sh.
const dockerBin = "/usr/bin/docker"

// TestChrootInDocker is the end-to-end check of chroot mode: a static
// strata runs as root in a container started with Docker's default
// security (no --privileged, no added capability: no CAP_SYS_ADMIN, the
// default seccomp profile refuses namespaces, the device cgroup) and
// builds a Dockerfile with RUN and COPY from the busybox rootfs of
// testenv. It checks the mode notice (once), the RUN's files in the
// exported image and what the steps saw (default devices usable, a
// device they make not, no chroot, generated /etc files kept out of the
// image, a cache across steps), and strata run. Then, with
// CAP_SYS_CHROOT dropped too, no sandbox is left: a build with RUN fails
// saying why, one without RUN works.
//
// It skips when dockerd is not reachable, unless STRATA_REQUIRE_DOCKER is
// set (make test-unprivileged, run in CI after dockerd is started).
func TestChrootInDocker(t *testing.T) {
	testenv.RequireRoot(t)
	requireDocker(t)
	image := strataImage(t)
	ctx := t.TempDir()
	writeTestFile(t, ctx, "busybox.tar", string(readTestFile(t, testenv.BusyboxTar(t))))
	writeTestFile(t, ctx, "file.txt", "from the context\n")
	writeTestFile(t, ctx, "Dockerfile", `FROM busybox
RUN echo built > /hello && echo x >> /etc/hosts && echo h > /etc/hostname && rm /etc/group
COPY file.txt /file.txt
RUN --mount=type=cache,target=/cache cat /file.txt > /copied && echo one >> /cache/log
RUN --mount=type=cache,target=/cache cp /cache/log /cache-log; \
    for d in null zero full random urandom tty; do test -c /dev/$d && echo $d; done > /devices; \
    head -c 4 /dev/urandom | wc -c >> /devices; \
    mknod /tmp/kmsg c 1 11 && (cat /tmp/kmsg 2>&1 | head -n 1 > /kmsg); rm -f /tmp/kmsg; \
    mkdir /x && (chroot /x /bin/true 2> /chroot || true); rmdir /x; \
    test -d /proc/self && echo proc > /proc-seen || true
`)
	writeTestFile(t, filepath.Join(ctx, "norun"), "Dockerfile", "FROM busybox\nCOPY file.txt /file.txt\n")
	writeTestFile(t, filepath.Join(ctx, "norun"), "file.txt", "no run\n")
	out := t.TempDir()
	// The store on a volume, as docs/security.md says: the container's
	// root filesystem, overlayfs, cannot hold whiteouts.
	store := []string{"-v", t.TempDir() + ":/var/lib/strata"}
	script := `set -e
/strata import /ctx/busybox.tar busybox >/dev/null
/strata build --progress=plain -o type=local,dest=/out/rootfs /ctx 2> /out/build.err
/strata build --progress=plain -o type=local,dest=/out/norun /ctx/norun 2> /out/norun.err
/strata run busybox sh -c 'echo run: $(cat /etc/hostname)' > /out/run.out 2> /out/run.err
`
	stdout, stderr := dockerRun(t, image, ctx, out, store, script)
	notice := "strata: sandbox: chroot mode (no namespaces here: fork/exec /proc/self/exe: operation not permitted); " + sandbox.ChrootLimits + "; see docs/security.md\n"
	if got := string(readTestFile(t, filepath.Join(out, "build.err"))); strings.Count(got, notice) != 1 {
		t.Errorf("build's stderr has the notice %d times, want once:\n%s\nwant:\n%s", strings.Count(got, notice), got, notice)
	}
	// A build that runs no step needs no sandbox, and says nothing of it.
	if got := string(readTestFile(t, filepath.Join(out, "norun.err"))); strings.Contains(got, "sandbox") {
		t.Errorf("a build without RUN speaks of the sandbox:\n%s", got)
	}
	for file, want := range map[string]string{
		"rootfs/hello":     "built\n",
		"rootfs/copied":    "from the context\n",
		"rootfs/cache-log": "one\n",
		"rootfs/devices":   "null\nzero\nfull\nrandom\nurandom\ntty\n4\n",
		"rootfs/kmsg":      "cat: can't open '/tmp/kmsg': Operation not permitted\n",
		"rootfs/chroot":    "chroot: can't change root directory to '/x': Operation not permitted\n",
		"run.out":          "run: strata\n",
		"run.err":          notice,
	} {
		if got := string(readTestFile(t, filepath.Join(out, file))); got != want {
			t.Errorf("%s = %q, want %q (docker run: %s%s)", file, got, want, stdout, stderr)
		}
	}
	for _, p := range []string{"rootfs/etc/group", "rootfs/etc/hosts", "rootfs/etc/hostname", "rootfs/etc/resolv.conf", "rootfs/proc-seen", "rootfs/cache", "rootfs/x"} {
		if _, err := os.Lstat(filepath.Join(out, p)); err == nil {
			t.Errorf("%s is in the image", p)
		}
	}
	// The base has no /dev: the mount point stays, empty, as in BuildKit's
	// layer; none of the nodes chroot mode made there.
	if entries, err := os.ReadDir(filepath.Join(out, "rootfs/dev")); err != nil || len(entries) != 0 {
		t.Errorf("rootfs/dev = %v, %v; want an empty directory", entries, err)
	}

	// Without CAP_SYS_CHROOT no sandbox is left.
	none := t.TempDir()
	script = `/strata import /ctx/busybox.tar busybox >/dev/null
/strata build --progress=plain -o type=local,dest=/out/norun /ctx/norun > /out/norun.log 2>&1; echo $? > /out/norun.code
/strata build --progress=plain /ctx > /out/run.log 2>&1; echo $? > /out/run.code
`
	dockerRun(t, image, ctx, none, []string{"-v", t.TempDir() + ":/var/lib/strata", "--cap-drop", "SYS_CHROOT"}, script)
	if code := strings.TrimSpace(string(readTestFile(t, filepath.Join(none, "norun.code")))); code != "0" {
		t.Errorf("build without RUN and without a sandbox = exit %s, want 0:\n%s", code, readTestFile(t, filepath.Join(none, "norun.log")))
	}
	if b, err := os.ReadFile(filepath.Join(none, "norun/file.txt")); err != nil || string(b) != "no run\n" {
		t.Errorf("build without RUN: file.txt = %q, %v", b, err)
	}
	log := string(readTestFile(t, filepath.Join(none, "run.log")))
	if code := strings.TrimSpace(string(readTestFile(t, filepath.Join(none, "run.code")))); code != "1" ||
		!strings.Contains(log, "no sandbox can run RUN steps here") || !strings.Contains(log, "no CAP_SYS_CHROOT") {
		t.Errorf("build with RUN and without a sandbox = exit %s, want 1 and why:\n%s", code, log)
	}
}

// digestDockerfile needs ids other than root's: RUN as root and as USER,
// chown, COPY --chown. The one-digest tests build it everywhere.
const digestDockerfile = `FROM busybox
RUN echo hello > /hello && mkdir -p /data && chown 4242:4343 /data && chmod 2750 /data
COPY --chown=1000:1000 file.txt /home/app/file.txt
USER app
RUN echo mine > /tmp/mine && ls -ln /home/app > /tmp/ls.txt
`

// TestOneDigestInDocker builds one Dockerfile as root on the host
// (builtin sandbox) and as root in a container with Docker's default
// security (chroot mode): the same image, to the digest. And as an
// ordinary user there, where no user namespace can be made, strata still
// runs what needs no root and refuses a build saying why.
func TestOneDigestInDocker(t *testing.T) {
	testenv.RequireRoot(t)
	requireDocker(t)
	image := strataImage(t)
	ctx := t.TempDir()
	writeTestFile(t, ctx, "busybox.tar", string(readTestFile(t, testenv.BusyboxTar(t))))
	writeTestFile(t, ctx, "file.txt", "app file\n")
	writeTestFile(t, ctx, "Dockerfile", digestDockerfile)
	const epoch = "1700000000"
	t.Setenv("SOURCE_DATE_EPOCH", epoch)
	root := t.TempDir()
	// One base image in both stores: imported here, saved, loaded there
	// (an import records its path).
	mustStrata(t, root, nil, "import", filepath.Join(ctx, "busybox.tar"), "busybox")
	mustStrata(t, root, nil, "save", "busybox", "-o", filepath.Join(ctx, "base.tar"))
	hostIID := filepath.Join(t.TempDir(), "iid")
	mustStrata(t, root, nil, "build", "--progress=quiet", "--iidfile", hostIID, ctx)
	out := t.TempDir()
	if err := os.Chmod(out, 0o777); err != nil {
		t.Fatal(err)
	}
	script := `set -e
/strata load -i /ctx/base.tar >/dev/null
/strata build --progress=quiet --iidfile /out/iid /ctx 2> /out/build.err
`
	dockerRun(t, image, ctx, out, []string{"-v", t.TempDir() + ":/var/lib/strata", "-e", "SOURCE_DATE_EPOCH=" + epoch}, script)
	host := strings.TrimSpace(string(readTestFile(t, hostIID)))
	if got := strings.TrimSpace(string(readTestFile(t, filepath.Join(out, "iid")))); host == "" || got != host {
		t.Errorf("image built in a default container = %s, on the host = %s; want one digest\n%s", got, host, readTestFile(t, filepath.Join(out, "build.err")))
	}

	// A pod that dropped NET_RAW (baseline cannot add it back, CRI-O
	// leaves it out): the step gets what strata holds, and the same image.
	script = `set -e
/strata load -i /ctx/base.tar >/dev/null
/strata build --progress=quiet --iidfile /out/iid-noraw /ctx 2> /out/build-noraw.err
`
	dockerRun(t, image, ctx, out, []string{"-v", t.TempDir() + ":/var/lib/strata", "-e", "SOURCE_DATE_EPOCH=" + epoch, "--cap-drop", "NET_RAW"}, script)
	if got := strings.TrimSpace(string(readTestFile(t, filepath.Join(out, "iid-noraw")))); got != host {
		t.Errorf("image built without NET_RAW = %s, on the host = %s; want one digest\n%s", got, host, readTestFile(t, filepath.Join(out, "build-noraw.err")))
	}

	script = `/strata images > /out/images.out 2> /out/images.err; echo $? > /out/images.code
/strata build --progress=plain /ctx > /out/user-build.log 2>&1; echo $? > /out/user-build.code
`
	dockerRun(t, image, ctx, out, []string{"--user", "1000:1000", "-e", "HOME=/tmp"}, script)
	if code := strings.TrimSpace(string(readTestFile(t, filepath.Join(out, "images.code")))); code != "0" ||
		!strings.Contains(string(readTestFile(t, filepath.Join(out, "images.err"))), "no user namespace can be made here") {
		t.Errorf("strata images as uid 1000 in a default container = exit %s, want 0 and the notice:\n%s", code, readTestFile(t, filepath.Join(out, "images.err")))
	}
	if code := strings.TrimSpace(string(readTestFile(t, filepath.Join(out, "user-build.code")))); code != "1" ||
		!strings.Contains(string(readTestFile(t, filepath.Join(out, "user-build.log"))), "building needs root, or a user namespace") {
		t.Errorf("strata build as uid 1000 in a default container = exit %s, want 1 and why:\n%s", code, readTestFile(t, filepath.Join(out, "user-build.log")))
	}
}

// requireDocker skips t unless dockerd answers (fails it instead when
// STRATA_REQUIRE_DOCKER is set).
func requireDocker(t *testing.T) {
	skip := t.Skipf
	if os.Getenv("STRATA_REQUIRE_DOCKER") != "" {
		skip = t.Fatalf
	}
	if _, err := os.Stat(dockerBin); err != nil {
		skip("no docker client: %v (../shared/peers/setup.sh installs docker.io)", err)
	}
	if out, err := exec.Command(dockerBin, "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
		skip("dockerd not reachable: %v: %s (start it with ../shared/peers/setup.sh)", err, bytes.TrimSpace(out))
	}
}

// strataImage imports a container image holding a static strata built
// from this tree (/strata) and busybox (/bin), and removes it after t.
func strataImage(t *testing.T) string {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("go not on PATH, cannot build strata: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "strata")
	cmd := exec.Command(goBin, "build", "-o", bin, "../../cmd/strata")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building strata: %v\n%s", err, out)
	}
	var rootfs bytes.Buffer
	tw := tar.NewWriter(&rootfs)
	add := func(h *tar.Header, body []byte) {
		h.Size = int64(len(body))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	add(&tar.Header{Typeflag: tar.TypeDir, Name: "bin/", Mode: 0o755}, nil)
	add(&tar.Header{Typeflag: tar.TypeDir, Name: "tmp/", Mode: 0o1777}, nil)
	add(&tar.Header{Typeflag: tar.TypeDir, Name: "out/", Mode: 0o755}, nil)
	add(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755}, readTestFile(t, testenv.BusyboxPath))
	add(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/sh", Linkname: "busybox", Mode: 0o777}, nil)
	add(&tar.Header{Typeflag: tar.TypeReg, Name: "strata", Mode: 0o755}, readTestFile(t, bin))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	suffix := make([]byte, 6)
	rand.Read(suffix)
	name := "strata-test-chroot:" + hex.EncodeToString(suffix)
	imp := exec.Command(dockerBin, "import", "-", name)
	imp.Stdin = &rootfs
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("docker import: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command(dockerBin, "rmi", name).CombinedOutput(); err != nil {
			t.Errorf("docker rmi %s: %v\n%s", name, err, out)
		}
	})
	return name
}

// dockerRun runs script with sh as root in a new container of image with
// Docker's default security (plus flags), ctx bound read-only at /ctx and
// out at /out.
func dockerRun(t *testing.T, image, ctx, out string, flags []string, script string) (string, string) {
	args := append([]string{"run", "--rm", "-v", ctx + ":/ctx:ro", "-v", out + ":/out"}, flags...)
	args = append(args, image, "/bin/sh", "-c", script)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(dockerBin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("docker %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), stderr.String()
}

func writeTestFile(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readTestFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(fmt.Errorf("reading %s: %w", path, err))
	}
	return b
}
