package cli

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/strata-build/strata/internal/testenv"
)

// ctxDockerfile copies the context into a scratch image and records
// which context it came from.
const ctxDockerfile = "FROM busybox:latest\nCOPY . /ctx/\nRUN cat /ctx/which.txt > /which\n"

func tarGz(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

// whichOf builds args in root and returns /which of the image, read by
// exporting it as a local directory.
func whichOf(t *testing.T, root string, stdin []byte, args ...string) string {
	t.Helper()
	dest := t.TempDir()
	a := append([]string{"build", "--progress=quiet", "-o", "type=local,dest=" + dest}, args...)
	mustStrata(t, root, bytes.NewReader(stdin), a...)
	b, err := os.ReadFile(filepath.Join(dest, "which"))
	if err != nil {
		t.Fatalf("strata %v: no /which: %v", a, err)
	}
	return string(b)
}

func TestBuildRemoteContexts(t *testing.T) {
	root := buildRoot(t)
	// A git repository served over smart HTTP: main has the app in app/.
	repos := t.TempDir()
	base := testenv.GitServer(t, repos)
	work := filepath.Join(t.TempDir(), "app")
	for name, body := range map[string]string{"Dockerfile": "FROM scratch\n", "app/Dockerfile": ctxDockerfile, "app/which.txt": "git main\n", "app/Dockerfile.alt": ctxDockerfile} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(work, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Git(t, work, "init", "-q", "-b", "main")
	testenv.Git(t, work, "add", ".")
	testenv.Git(t, work, "commit", "-qm", "one")
	testenv.Git(t, repos, "clone", "-q", "--bare", work, "app.git")

	if got := whichOf(t, root, nil, base+"/app.git#main:app"); got != "git main\n" {
		t.Errorf("git context: /which = %q", got)
	}
	if got := whichOf(t, root, nil, "-f", "Dockerfile.alt", base+"/app.git#:app"); got != "git main\n" {
		t.Errorf("git context with -f: /which = %q", got)
	}

	// A tarball and a lone Dockerfile over HTTP.
	tgz := tarGz(t, map[string]string{"Dockerfile": ctxDockerfile, "which.txt": "tarball\n"})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ctx.tar.gz":
			w.Write(tgz)
		case "/Dockerfile":
			w.Write([]byte("FROM busybox:latest\nRUN echo lone > /which\n"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	if got := whichOf(t, root, nil, srv.URL+"/ctx.tar.gz"); got != "tarball\n" {
		t.Errorf("tarball URL context: /which = %q", got)
	}
	if got := whichOf(t, root, nil, srv.URL+"/Dockerfile"); got != "lone\n" {
		t.Errorf("Dockerfile URL context: /which = %q", got)
	}
	// A tar context on stdin, as docker build - < ctx.tar.gz.
	if got := whichOf(t, root, tarGz(t, map[string]string{"Dockerfile": ctxDockerfile, "which.txt": "stdin\n"}), "-"); got != "stdin\n" {
		t.Errorf("stdin tar context: /which = %q", got)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{srv.URL + "/missing.tar"}, "downloading the context " + srv.URL + "/missing.tar: server returned 404 Not Found"},
		{[]string{base + "/app.git#nope"}, "fetching " + base + "/app.git: git fetch: fatal: couldn't find remote ref nope"},
		{[]string{base + "/app.git?bad=1"}, `unexpected query "bad"`},
	} {
		_, errs, code := strata(t, root, nil, append([]string{"build", "--progress=quiet"}, c.args...)...)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("strata build %v = exit %d, %q; want an error with %q", c.args, code, errs, c.want)
		}
	}
}

// TestBuildStepFlags: --add-host, --shm-size and --ulimit reach RUN, and
// -q prints exactly the image ID.
func TestBuildStepFlags(t *testing.T) {
	root := buildRoot(t)
	dir := t.TempDir()
	df := "FROM busybox:latest\nRUN grep db.local /etc/hosts > /out; df -k /dev/shm | awk 'NR==2{print $2}' >> /out; ulimit -n >> /out\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	dest := t.TempDir()
	out := mustStrata(t, root, nil, "build", "-q", "--add-host", "db.local:10.1.2.3", "--shm-size", "128m", "--ulimit", "nofile=512:1024",
		"-t", "flags:1", "-o", "type=local,dest="+dest, "-o", "type=image", dir)
	if !strings.HasPrefix(out, "sha256:") || strings.Count(out, "\n") != 1 || len(strings.TrimSpace(out)) != 71 {
		t.Errorf("build -q printed %q, want only the image ID", out)
	}
	b, err := os.ReadFile(filepath.Join(dest, "out"))
	if want := "10.1.2.3\tdb.local\n131072\n512\n"; err != nil || string(b) != want {
		t.Errorf("RUN saw %q (%v), want %q", b, err, want)
	}
	for _, c := range [][]string{{"--add-host", "nohost"}, {"--add-host", "x:host-gateway"}, {"--shm-size", "lots"}, {"--ulimit", "nofile=2:1"}} {
		if _, errs, code := strata(t, root, nil, append([]string{"build"}, append(c, dir)...)...); code != exitUsage || !strings.Contains(errs, "invalid "+c[0]) {
			t.Errorf("build %v = exit %d, %q; want a usage error", c, code, errs)
		}
	}
}

// TestBuildLoad: build --load hands the image to the Debian dockerd.
func TestBuildLoad(t *testing.T) {
	requireDocker(t)
	t.Setenv("DOCKER_HOST", "")
	root := buildRoot(t)
	tag := "strata-build-load:1"
	t.Cleanup(func() { exec.Command(dockerBin, "rmi", "-f", tag).Run() })
	_, errs, _ := strata(t, root, nil, "build", "--progress=plain", "--load", "-t", tag, sampleDir(t))
	if !strings.Contains(errs, "Loaded image: "+tag) {
		t.Errorf("build --load stderr lacks the load: %s", errs)
	}
	if out, err := exec.Command(dockerBin, "image", "inspect", "-f", "{{.Os}}", tag).CombinedOutput(); err != nil || string(out) != "linux\n" {
		t.Errorf("docker image inspect %s = %q, %v", tag, out, err)
	}
}

// TestBuildAnnotations: --annotation puts keys on the manifest (all
// platforms or one) and on the index, through every output.
func TestBuildAnnotations(t *testing.T) {
	root := buildRoot(t)
	dir := filepath.Join(t.TempDir(), "oci")
	mustStrata(t, root, nil, "build", "--progress=quiet", "--provenance=true", "-t", "ann:1",
		"--annotation", "org.opencontainers.image.title=app", "--annotation", "manifest[linux/arm64]:only=arm",
		"--annotation", "index:org.opencontainers.image.source=https://example.com/app", "--compression", "zstd",
		"-o", "type=oci,dest="+dir, "-o", "type=image", sampleDir(t))
	top, d := onlyLayoutEntry(t, dir)
	idx, err := top.ImageIndex(d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if got := im.Annotations["org.opencontainers.image.source"]; got != "https://example.com/app" {
		t.Errorf("index annotations = %v", im.Annotations)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.Annotations["org.opencontainers.image.title"] != "app" || m.Annotations["only"] != "" {
		t.Errorf("manifest annotations (linux/amd64) = %v", m.Annotations)
	}
	if _, errs, code := strata(t, root, nil, "build", "--annotation", "x", sampleDir(t)); code != exitUsage || !strings.Contains(errs, "invalid --annotation") {
		t.Errorf("a bad --annotation = exit %d, %q", code, errs)
	}
}

// TestBuildToStdout: outputs with no dest (or dest=-) stream to stdout,
// name= names the output's image, and --iidfile holds Docker's image ID,
// which strata takes back.
func TestBuildToStdout(t *testing.T) {
	root := buildRoot(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY Dockerfile /\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	iid := filepath.Join(t.TempDir(), "iid")
	out := mustStrata(t, root, nil, "build", "--progress=plain", "--iidfile", iid, "-o", `type=docker,"name=one:1,two:2"`, sampleDir(t))
	tr := tar.NewReader(strings.NewReader(out))
	var names []string
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, h.Name)
	}
	if !slices.Contains(names, "manifest.json") {
		t.Fatalf("build -o type=docker wrote no docker archive on stdout (%d bytes, entries %v)", len(out), names)
	}
	mustStrata(t, root, nil, "build", "--progress=quiet", "--iidfile", iid, "-o", "type=image,name=named:1", sampleDir(t))
	id, err := os.ReadFile(iid)
	if err != nil {
		t.Fatal(err)
	}
	byID := mustStrata(t, root, nil, "inspect", "-f", "{{.Id}}", string(id))
	short := mustStrata(t, root, nil, "inspect", "-f", "{{.Id}}", strings.TrimPrefix(string(id), "sha256:")[:12])
	if byName := mustStrata(t, root, nil, "inspect", "-f", "{{.Id}}", "named:1"); byID != byName || short != byName {
		t.Errorf("inspect by --iidfile ID = %q, by its prefix %q, by name= %q; want one image", byID, short, byName)
	}
	fsTar := mustStrata(t, root, nil, "build", "--progress=quiet", "-o", "-", dir)
	if h, err := tar.NewReader(strings.NewReader(fsTar)).Next(); err != nil || h.Name != "Dockerfile" {
		t.Errorf("build -o - wrote %v, %v; want a tar of the image's files (Dockerfile)", h, err)
	}
	for _, c := range [][]string{{"-q", "-o", "type=docker"}, {"-o", "type=tar", "-o", "type=oci,dest=-"}, {"-o", "type=local"}, {"-o", "type=image,name=Bad Name"}} {
		if _, errs, code := strata(t, root, nil, append([]string{"build"}, append(c, dir)...)...); code != exitUsage {
			t.Errorf("build %v = exit %d, %q; want a usage error", c, code, errs)
		}
	}
}

// TestBuildIntoDockerLoad: strata build -o type=docker | docker load gives
// the image ID --iidfile holds.
func TestBuildIntoDockerLoad(t *testing.T) {
	requireDocker(t)
	root := buildRoot(t)
	iid := filepath.Join(t.TempDir(), "iid")
	tag := "strata-pipe-load:1"
	t.Cleanup(func() { exec.Command(dockerBin, "rmi", "-f", tag).Run() })
	archive := mustStrata(t, root, nil, "build", "--progress=quiet", "--iidfile", iid, "-t", tag, "-o", "type=docker", sampleDir(t))
	load := exec.Command(dockerBin, "load")
	load.Stdin = strings.NewReader(archive)
	if out, err := load.CombinedOutput(); err != nil || !strings.Contains(string(out), "Loaded image: "+tag) {
		t.Fatalf("docker load = %q, %v", out, err)
	}
	id, err := os.ReadFile(iid)
	if err != nil {
		t.Fatal(err)
	}
	got, err := exec.Command(dockerBin, "image", "inspect", "-f", "{{.Id}}", tag).Output()
	if err != nil || strings.TrimSpace(string(got)) != string(id) {
		t.Errorf("docker's image ID = %q (%v), --iidfile = %q; want the same", got, err, id)
	}
}

// TestBuildCreated: the image's created time is the build time
// (SOURCE_DATE_EPOCH), as BuildKit sets it, and shown as Docker shows it.
func TestBuildCreated(t *testing.T) {
	root := buildRoot(t)
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	mustStrata(t, root, nil, "build", "--progress=quiet", "-t", "created:1", sampleDir(t))
	if got := mustStrata(t, root, nil, "inspect", "-f", "{{.Created}}", "created:1"); got != "2023-11-14T22:13:20Z\n" {
		t.Errorf("inspect Created = %q, want 2023-11-14T22:13:20Z", got)
	}
	if got := mustStrata(t, root, nil, "images", "--format", "{{.CreatedAt}}", "created"); got != "2023-11-14 22:13:20 +0000 UTC\n" {
		t.Errorf("images CreatedAt = %q", got)
	}
}

// TestBuildAddGit: ADD of a git repository, as BuildKit's git source: the
// ref's tree (a subdir) without .git unless --keep-git-dir, --checksum the
// commit; ssh remotes are refused (no agent is passed to a Dockerfile).
func TestBuildAddGit(t *testing.T) {
	root := buildRoot(t)
	repos := t.TempDir()
	base := testenv.GitServer(t, repos)
	work := filepath.Join(t.TempDir(), "lib")
	if err := os.MkdirAll(filepath.Join(work, "pkg"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "pkg", "lib.txt"), []byte("lib v1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.Git(t, work, "init", "-q", "-b", "main")
	testenv.Git(t, work, "add", ".")
	testenv.Git(t, work, "commit", "-qm", "one")
	commit := testenv.Git(t, work, "rev-parse", "HEAD")
	testenv.Git(t, repos, "clone", "-q", "--bare", work, "lib.git")

	dir := t.TempDir()
	df := fmt.Sprintf("FROM busybox:latest\nADD %s/lib.git#main:pkg /lib/\nADD --keep-git-dir=true --checksum=%s %s/lib.git /full\n"+
		"RUN cat /lib/lib.txt > /which && test -d /full/.git && test ! -e /lib/.git && echo kept >> /which\n", base, commit, base)
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := whichOf(t, root, nil, dir); got != "lib v1\nkept\n" {
		t.Errorf("ADD git: /which = %q", got)
	}
	for src, want := range map[string]string{
		"--checksum=0000000000000000000000000000000000000000 " + base + "/lib.git": "not the expected 0000000000000000000000000000000000000000",
		"git@github.com:org/private.git":                                           "only https, http and git repositories can be added from a Dockerfile",
	} {
		if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox:latest\nADD "+src+" /x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, errs, code := strata(t, root, nil, "build", "--progress=quiet", dir); code == 0 || !strings.Contains(errs, want) {
			t.Errorf("ADD %s = exit %d, %q; want an error with %q", src, code, errs, want)
		}
	}
}
