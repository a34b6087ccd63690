package cli

import (
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/strata-build/strata/internal/sandbox"
	"github.com/strata-build/strata/internal/testenv"
)

func TestMain(m *testing.M) {
	sandbox.Init() // RUN steps re-execute the test binary as the sandbox init
	os.Exit(m.Run())
}

// buildRoot is a store holding busybox:1.35 (and :latest), imported the way the demo does.
func buildRoot(t *testing.T) string {
	t.Helper()
	testenv.RequireRoot(t)
	root := t.TempDir()
	mustStrata(t, root, nil, "import", "--change", `CMD ["sh"]`,
		"--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		testenv.BusyboxTar(t), "busybox:1.35")
	mustStrata(t, root, nil, "tag", "busybox:1.35", "busybox:latest")
	return root
}

func sampleDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../../examples/sample")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestBuildSampleOCI builds the sample to an OCI layout, checks it with
// go-containerregistry and, when installed, skopeo and umoci, and checks the
// build is reproducible.
func TestBuildSampleOCI(t *testing.T) {
	root := buildRoot(t)
	out := t.TempDir()
	iid := filepath.Join(out, "iid")
	md := filepath.Join(out, "metadata.json")
	oci := filepath.Join(out, "oci")
	mustStrata(t, root, nil, "build", "--progress=plain", "-t", "sample:prod", "--target", "production",
		"--iidfile", iid, "--metadata-file", md, "--output", "type=oci,dest="+oci, sampleDir(t))

	idx, d := onlyLayoutEntry(t, oci)
	img, err := idx.Image(d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Errorf("validate.Image(OCI output) = %v", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.User != "app" || cf.Config.Entrypoint[0] != "greet" || cf.Config.Healthcheck == nil {
		t.Errorf("config = user %q entrypoint %q healthcheck %v, want app [greet] set", cf.Config.User, cf.Config.Entrypoint, cf.Config.Healthcheck)
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(iid)
	if err != nil || string(got) != cfgName.String() { // the image ID as docker has it
		t.Errorf("--iidfile = %q, %v; want the config digest %s", got, err, cfgName)
	}
	var meta map[string]any
	if b, err := os.ReadFile(md); err != nil || json.Unmarshal(b, &meta) != nil || meta["containerimage.digest"] != d.Digest.String() {
		t.Errorf("--metadata-file = %v, want containerimage.digest %s", meta, d.Digest)
	}
	// Only the file output was asked for: nothing is tagged in the store.
	if images := mustStrata(t, root, nil, "images"); strings.Contains(images, "sample") {
		t.Errorf("strata images after an OCI-only build lists sample:\n%s", images)
	}
	again := strings.TrimSpace(mustStrata(t, root, nil, "build", "--progress=quiet", "--target", "production", sampleDir(t)))
	if again != cfgName.String() { // the image ID, as docker build -q prints it
		t.Errorf("second build ID = %s, want %s (reproducible)", again, cfgName)
	}
	if skopeo, err := exec.LookPath("skopeo"); err == nil {
		b, err := exec.Command(skopeo, "inspect", "--config", "oci:"+oci+":prod").CombinedOutput()
		if err != nil || !strings.Contains(string(b), `"User": "app"`) {
			t.Errorf("skopeo inspect oci:%s:prod = %v\n%s", oci, err, b)
		}
	}
	if umoci, err := exec.LookPath("umoci"); err == nil {
		bundle := filepath.Join(out, "bundle")
		if b, err := exec.Command(umoci, "unpack", "--image", oci+":prod", bundle).CombinedOutput(); err != nil {
			t.Errorf("umoci unpack = %v\n%s", err, b)
		} else if fi, err := os.Stat(filepath.Join(bundle, "rootfs/usr/local/bin/greet")); err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("umoci unpacked greet = %v, %v; want mode 755", fi, err)
		}
	}
}

func TestBuildOutputsAndRun(t *testing.T) {
	root := buildRoot(t)
	out := t.TempDir()
	dockerTar := filepath.Join(out, "img.tar")
	local := filepath.Join(out, "rootfs")
	mustStrata(t, root, nil, "build", "--progress=quiet", "-t", "sample:prod", "--target", "production",
		"--output", "type=docker,dest="+dockerTar, "--output", "type=local,dest="+local, "--output", "type=image", sampleDir(t))
	tag, err := name.NewTag("sample:prod")
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(dockerTar, &tag)
	if err != nil {
		t.Fatalf("reading docker archive: %v", err)
	}
	if err := validate.Image(img); err != nil {
		t.Errorf("validate.Image(docker archive) = %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(local, "usr/local/share/banner.txt")); err != nil || !strings.Contains(string(b), "strata") {
		t.Errorf("local output banner = %q, %v", b, err)
	}
	// type=image tags the store: strata run starts it.
	stdout, stderr, code := strata(t, root, nil, "run", "sample:prod", "tests")
	if code != 0 || !strings.Contains(stdout, "hello, tests (from greeter)") {
		t.Errorf("strata run sample:prod tests = %d\n%s%s", code, stdout, stderr)
	}
	if out, _, _ := strata(t, root, nil, "run", "-e", "PATH=/bin", "--entrypoint", "sh", "sample:prod", "-c", "echo $PATH"); out != "/bin\n" {
		t.Errorf("strata run -e PATH=/bin ... echo $PATH = %q, want /bin (-e overrides the image's ENV)", out)
	}
	if _, _, code := strata(t, root, nil, "run", "--entrypoint", "sh", "sample:prod", "-c", "exit 7"); code != 7 {
		t.Errorf("strata run ... exit 7 = exit %d, want 7", code)
	}
}

func TestBuildFailureTagsNothing(t *testing.T) {
	root := buildRoot(t)
	ctx := t.TempDir()
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte("FROM busybox\nRUN echo boom && exit 4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := strata(t, root, nil, "build", "--progress=plain", "-t", "broken:1", ctx)
	if code != 1 || !strings.Contains(stderr, "Dockerfile:2: RUN failed with exit code 4") || !strings.Contains(stderr, "boom") {
		t.Errorf("failing build = exit %d\n%s; want exit 1 and Dockerfile:2: RUN failed with exit code 4", code, stderr)
	}
	if images := mustStrata(t, root, nil, "images"); strings.Contains(images, "broken") {
		t.Errorf("a failed build tagged its image:\n%s", images)
	}
}

func TestBuildBadInput(t *testing.T) {
	root := buildRoot(t)
	ctx := t.TempDir()
	tests := []struct {
		dockerfile string
		args       []string
		code       int
		want       string
	}{
		{"FROM busybox\nCOPY missing.txt /\n", nil, 1, `Dockerfile:2: COPY failed: "missing.txt" not found in build context`},
		{"FROM busybox\nFROBNICATE\n", nil, 1, "Dockerfile:2"},
		{"FROM busybox AS builder\n", []string{"--target", "buidler"}, 1, "did you mean builder"},
		{"FROM busybox\n", []string{"--platform", "windows/amd64"}, 2, "unsupported platform \"windows/amd64\": strata builds linux images only"},
		{"FROM busybox\n", []string{"--platform", "linux"}, 2, "invalid platform \"linux\": want os/arch[/variant]"},
		{"FROM busybox\n", []string{"--output", "type=nope"}, 2, "invalid --output"},
		{"FROM busybox\nRUN --security=insecure true\n", nil, 1, "Dockerfile:2: RUN --security=insecure is not allowed: the build must grant it with --allow security.insecure"},
		{"FROM busybox\n", []string{"--allow", "everything"}, 2, `invalid --allow "everything"`},
	}
	for _, tt := range tests {
		if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(tt.dockerfile), 0o644); err != nil {
			t.Fatal(err)
		}
		args := append(append([]string{"build", "--progress=quiet"}, tt.args...), ctx)
		_, stderr, code := strata(t, root, nil, args...)
		if code != tt.code || !strings.Contains(stderr, tt.want) {
			t.Errorf("strata %v with %q = exit %d, %q; want exit %d and %q", tt.args, tt.dockerfile, code, stderr, tt.code, tt.want)
		}
	}
}

func TestBuildStdinAndPush(t *testing.T) {
	root := buildRoot(t)
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	ref := strings.TrimPrefix(srv.URL, "http://") + "/strata/stdin:1"
	df := strings.NewReader("FROM busybox\nLABEL from=stdin\nCMD [\"true\"]\n")
	mustStrata(t, root, df, "build", "--progress=quiet", "-t", ref, "--push", "-")
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r, remote.WithTransport(http.DefaultTransport))
	if err != nil {
		t.Fatalf("pulling the pushed image: %v", err)
	}
	cf, err := img.ConfigFile()
	if err != nil || cf.Config.Labels["from"] != "stdin" {
		t.Errorf("pushed image labels = %v, %v; want from=stdin", cf.Config.Labels, err)
	}
}

// TestBuildBadDestinationFirst gives a good tag with a bad tag, output,
// cache export or result file: the build stops with a usage error before
// any step runs, and tags nothing.
func TestBuildBadDestinationFirst(t *testing.T) {
	root := buildRoot(t)
	ctx := t.TempDir()
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte("FROM busybox\nRUN echo ran-a-step\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-t", "good:1", "-t", "Bad Tag!!"}, `invalid tag "Bad Tag!!"`},
		{[]string{"-t", "good:1", "-t", "x@sha256:" + strings.Repeat("a", 64)}, "invalid tag"},
		{[]string{"-t", "good:1", "--output", "type=nope"}, "invalid --output"},
		{[]string{"-t", "good:1", "--output", "type=docker,dest=" + missing + "/img.tar"}, "invalid --output type=docker"},
		{[]string{"-t", "good:1", "--output", "type=local,dest=" + filepath.Join(ctx, "Dockerfile", "out")}, "is not a directory"},
		{[]string{"--push"}, "pushing needs at least one -t NAME"},
		{[]string{"-t", "good:1", "--cache-to", "type=registry,ref=Bad Ref"}, "invalid --cache-to"},
		{[]string{"-t", "good:1", "--cache-to", "type=local,dest=" + filepath.Join(ctx, "Dockerfile")}, "is not a directory"},
		{[]string{"-t", "good:1", "--cache-from", "Bad Ref"}, "invalid --cache-from"},
		{[]string{"-t", "good:1", "--iidfile", missing + "/iid"}, "invalid --iidfile"},
		{[]string{"-t", "good:1", "--metadata-file", ctx}, "is a directory"},
	}
	for _, tt := range tests {
		args := append(append([]string{"build", "--progress=plain"}, tt.args...), ctx)
		_, stderr, code := strata(t, root, nil, args...)
		if code != 2 || !strings.Contains(stderr, tt.want) {
			t.Errorf("strata %v = exit %d, %q; want exit 2 and %q", tt.args, code, stderr, tt.want)
		}
		if strings.Contains(stderr, "#1 ") || strings.Contains(stderr, "ran-a-step") {
			t.Errorf("strata %v ran a step:\n%s", tt.args, stderr)
		}
	}
	if images := mustStrata(t, root, nil, "images"); strings.Contains(images, "good") {
		t.Errorf("a build with a bad destination tagged its image:\n%s", images)
	}
}

// onlyLayoutEntry opens the OCI layout dir and returns its index.json and
// the one manifest or index it must list.
func onlyLayoutEntry(t *testing.T, dir string) (v1.ImageIndex, v1.Descriptor) {
	t.Helper()
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil || len(m.Manifests) != 1 {
		t.Fatalf("OCI layout index = %v, %v; want one entry", m, err)
	}
	return idx, m.Manifests[0]
}
