package cli

import (
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/strata-build/strata/internal/build"
	"github.com/strata-build/strata/internal/store"
	"github.com/strata-build/strata/internal/testenv"
)

// multiPlatformContext is a build context whose image any platform can
// build without a base image or emulation: FROM scratch and a COPY.
func multiPlatformContext(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeTestFile(t, dir, "Dockerfile", "FROM scratch\nCOPY hello.txt /\nCMD [\"/hello\"]\n")
	writeTestFile(t, dir, "hello.txt", "hello\n")
	return dir
}

// buildMulti builds multiPlatformContext for platforms into a fresh store
// with extra flags and returns the store and stderr.
func buildMulti(t *testing.T, platforms string, args ...string) (root, stderr string) {
	t.Helper()
	testenv.RequireRoot(t)
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	root = t.TempDir()
	full := append(append([]string{"build", "--progress=plain", "--platform", platforms}, args...), multiPlatformContext(t))
	stdout, stderr, code := strata(t, root, nil, full...)
	if code != 0 {
		t.Fatalf("strata %v = exit %d\n%s%s", full, code, stdout, stderr)
	}
	return root, stderr
}

// indexPlatformsOf checks idx and returns its entries' platforms, in order.
func indexPlatformsOf(t *testing.T, idx v1.ImageIndex) []string {
	t.Helper()
	if err := validate.Index(idx); err != nil {
		t.Errorf("validate.Index = %v", err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range m.Manifests {
		if d.Platform == nil || d.MediaType != types.OCIManifestSchema1 {
			t.Errorf("index entry %s = %s, platform %v; want an OCI manifest with a platform", d.Digest, d.MediaType, d.Platform)
			continue
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if got := formatPlatform(v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}); got != store.FormatPlatform(*d.Platform) {
			t.Errorf("image of entry %s has config platform %s", store.FormatPlatform(*d.Platform), got)
		}
		out = append(out, store.FormatPlatform(*d.Platform))
	}
	return out
}

func TestMultiPlatformBuildOutputs(t *testing.T) {
	out := t.TempDir()
	oci, ociTar := filepath.Join(out, "oci"), filepath.Join(out, "oci.tar")
	local, fsTar := filepath.Join(out, "local"), filepath.Join(out, "fs.tar")
	iid, md := filepath.Join(out, "iid"), filepath.Join(out, "md.json")
	_, stderr := buildMulti(t, "linux/amd64,linux/arm64,linux/arm/v7", "-t", "me/multi:1",
		"--output", "type=oci,dest="+oci, "--output", "type=oci,dest="+ociTar,
		"--output", "type=local,dest="+local, "--output", "type=tar,dest="+fsTar,
		"--iidfile", iid, "--metadata-file", md)
	want := []string{"linux/amd64", "linux/arm64", "linux/arm/v7"}

	// type=oci: index.json names the image index, tagged as BuildKit tags.
	p, err := layout.FromPath(oci)
	if err != nil {
		t.Fatal(err)
	}
	top, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	tm, err := top.IndexManifest()
	if err != nil || len(tm.Manifests) != 1 {
		t.Fatalf("index.json = %v, %v; want one entry", tm, err)
	}
	d := tm.Manifests[0]
	if d.MediaType != types.OCIImageIndex || d.Annotations["org.opencontainers.image.ref.name"] != "1" ||
		d.Annotations["io.containerd.image.name"] != "docker.io/me/multi:1" {
		t.Errorf("index.json entry = %s %v; want an image index with ref.name 1 and image.name docker.io/me/multi:1", d.MediaType, d.Annotations)
	}
	idx, err := top.ImageIndex(d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if got := indexPlatformsOf(t, idx); !slices.Equal(got, want) {
		t.Errorf("OCI index platforms = %v, want %v", got, want)
	}
	if b, err := os.ReadFile(iid); err != nil || string(b) != d.Digest.String() {
		t.Errorf("--iidfile = %q, %v; want the index digest %s", b, err, d.Digest)
	}
	var meta map[string]any
	if b, err := os.ReadFile(md); err != nil || json.Unmarshal(b, &meta) != nil {
		t.Fatalf("--metadata-file: %v", err)
	}
	if meta["containerimage.digest"] != d.Digest.String() || meta["containerimage.config.digest"] != nil || meta["image.name"] != "me/multi:1" {
		t.Errorf("--metadata-file = %v; want containerimage.digest %s, no config digest", meta, d.Digest)
	}
	if desc, _ := meta["containerimage.descriptor"].(map[string]any); desc["mediaType"] != string(types.OCIImageIndex) {
		t.Errorf("containerimage.descriptor = %v, want the index's", meta["containerimage.descriptor"])
	}

	// type=oci,dest=X.tar: the same layout as a tar.
	if names := testenv.TarNames(t, ociTar); !names["index.json"] || !names["blobs/sha256/"+d.Digest.Hex] {
		t.Errorf("OCI archive lacks index.json or the index blob: %v", names)
	}

	// type=local and type=tar: a directory per platform, as BuildKit names them.
	for _, dir := range []string{"linux_amd64", "linux_arm64", "linux_arm_v7"} {
		if b, err := os.ReadFile(filepath.Join(local, dir, "hello.txt")); err != nil || string(b) != "hello\n" {
			t.Errorf("local output %s/hello.txt = %q, %v", dir, b, err)
		}
		if names := testenv.TarNames(t, fsTar); !names[dir+"/"] || !names[dir+"/hello.txt"] {
			t.Errorf("tar output lacks %s/hello.txt: %v", dir, names)
		}
	}
	if entries, _ := os.ReadDir(local); len(entries) != 3 {
		t.Errorf("local output has %d entries, want the 3 platform dirs", len(entries))
	}

	// The summary: the index digest and a line per platform.
	if !strings.Contains(stderr, "built "+d.Digest.String()) || !strings.Contains(stderr, "index of 3 platforms") {
		t.Errorf("summary lacks the index digest %s:\n%s", d.Digest, stderr)
	}
	for _, p := range want {
		if !strings.Contains(stderr, "  "+p+" ") || !strings.Contains(stderr, p+":\nimage size:") {
			t.Errorf("summary lacks a line and a report for %s:\n%s", p, stderr)
		}
	}
}

func TestMultiPlatformDockerExporterRefused(t *testing.T) {
	testenv.RequireRoot(t)
	root := t.TempDir()
	dest := filepath.Join(t.TempDir(), "img.tar")
	_, stderr, code := strata(t, root, nil, "build", "--progress=plain", "--platform", "linux/amd64,linux/arm64",
		"--output", "type=docker,dest="+dest, multiPlatformContext(t))
	if code != 2 || !strings.Contains(stderr, "docker exporter does not currently support exporting manifest lists") {
		t.Errorf("type=docker for two platforms = exit %d, %q; want exit 2 and BuildKit's refusal", code, stderr)
	}
	if strings.Contains(stderr, "#1 ") {
		t.Errorf("the refused build ran a step:\n%s", stderr)
	}
	// One platform is one image: type=docker works.
	mustStrata(t, root, nil, "build", "--progress=quiet", "--platform", "linux/arm64", "--output", "type=docker,dest="+dest, multiPlatformContext(t))
	img, err := tarball.ImageFromPath(dest, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cf, err := img.ConfigFile(); err != nil || cf.Architecture != "arm64" {
		t.Errorf("docker archive of a linux/arm64 build: config %v, %v", cf, err)
	}
}

func TestMultiPlatformImageCommands(t *testing.T) {
	root, _ := buildMulti(t, "linux/amd64,linux/arm64", "-t", "multi:1")
	h, err := resolveIn(t, root, "multi:1")
	if err != nil {
		t.Fatal(err)
	}

	// images: a row per platform, the ID being the index's.
	out := mustStrata(t, root, nil, "images")
	var rows []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		rows = append(rows, strings.Join(strings.Fields(l)[:4], " "))
	}
	if want := []string{"multi 1 " + shortID(h) + " linux/amd64", "multi 1 " + shortID(h) + " linux/arm64"}; !slices.Equal(rows, want) {
		t.Errorf("images rows = %q, want %q:\n%s", rows, want, out)
	}
	if q := mustStrata(t, root, nil, "images", "-q"); q != shortID(h)+"\n" {
		t.Errorf("images -q = %q, want the index ID once", q)
	}

	// inspect: the index and its manifests; --platform picks the config.
	var ii []imageInspect
	if err := json.Unmarshal([]byte(mustStrata(t, root, nil, "inspect", "multi:1")), &ii); err != nil || len(ii) != 1 {
		t.Fatalf("inspect = %v, %v", ii, err)
	}
	if ii[0].ID != h.String() || ii[0].Descriptor == nil || ii[0].Descriptor.MediaType != types.OCIImageIndex || ii[0].Architecture != "amd64" {
		t.Errorf("inspect = Id %s, Descriptor %v, Architecture %s; want the index %s, amd64", ii[0].ID, ii[0].Descriptor, ii[0].Architecture, h)
	}
	var plats []string
	for _, m := range ii[0].Manifests {
		plats = append(plats, m.Platform)
		if m.Size == 0 || m.ID != m.Descriptor.Digest.String() {
			t.Errorf("inspect manifest %+v: want a size and ID = digest", m)
		}
	}
	if !slices.Equal(plats, []string{"linux/amd64", "linux/arm64"}) {
		t.Errorf("inspect Manifests platforms = %v", plats)
	}
	if got := mustStrata(t, root, nil, "inspect", "--platform", "linux/arm64", "-f", "{{.Os}}/{{.Architecture}}", "multi:1"); got != "linux/arm64\n" {
		t.Errorf("inspect --platform linux/arm64 = %q", got)
	}
	wantMissing := `multi-platform image has no image for linux/s390x (it has linux/amd64, linux/arm64)`
	for _, args := range [][]string{
		{"inspect", "--platform", "linux/s390x", "multi:1"},
		{"history", "--platform", "linux/s390x", "multi:1"},
		{"size", "--platform", "linux/s390x", "multi:1"},
		{"save", "--platform", "linux/s390x", "-o", filepath.Join(t.TempDir(), "x.tar"), "multi:1"},
	} {
		if _, errs, code := strata(t, root, nil, args...); code != 1 || !strings.Contains(errs, wantMissing) {
			t.Errorf("strata %v = exit %d, %q; want exit 1 and %q", args, code, errs, wantMissing)
		}
	}
	// run fails as docker run does when strata cannot start it: 125.
	if _, errs, code := strata(t, root, nil, "run", "--pull=never", "--platform", "linux/s390x", "multi:1"); code != 125 || !strings.Contains(errs, wantMissing) {
		t.Errorf("strata run --platform linux/s390x = exit %d, %q; want exit 125 and %q", code, errs, wantMissing)
	}
	if _, errs, code := strata(t, root, nil, "inspect", "--platform", "windows/amd64", "multi:1"); code != 2 || !strings.Contains(errs, "invalid --platform") {
		t.Errorf("inspect --platform windows/amd64 = exit %d, %q; want a usage error", code, errs)
	}

	// history and size: --platform picks, the header names it.
	if got := mustStrata(t, root, nil, "history", "--platform", "linux/arm64", "multi:1"); !strings.HasPrefix(got, "PLATFORM: linux/arm64\n") {
		t.Errorf("history --platform linux/arm64 =\n%s", got)
	}
	arm := ii[0].Manifests[1].ID
	var rep struct{ Name, Digest, Platform string }
	if err := json.Unmarshal([]byte(mustStrata(t, root, nil, "size", "--format", "json", "--platform", "linux/arm64", "multi:1")), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Digest != arm || rep.Platform != "linux/arm64" {
		t.Errorf("size --platform linux/arm64 = digest %s platform %s; want %s linux/arm64", rep.Digest, rep.Platform, arm)
	}
	if got := mustStrata(t, root, nil, "size", "--platform", "linux/arm64", "multi:1"); !strings.Contains(got, "Platform:    linux/arm64\n") {
		t.Errorf("size table lacks the platform:\n%s", got)
	}
	if got := mustStrata(t, root, nil, "compare", "--platform", "linux/arm64", "multi:1", "multi:1"); !strings.Contains(got, "multi:1 [linux/arm64]") {
		t.Errorf("compare --platform linux/arm64 =\n%s", got)
	}

	// run: an image of another platform than the host's runs (under
	// binfmt_misc emulation), with Docker's warning.
	foreign := "linux/arm64"
	if build.BuildPlatform() == foreign {
		foreign = "linux/amd64"
	}
	mustStrata(t, root, nil, "build", "--progress=quiet", "--platform", foreign, "-t", "foreign:1", multiPlatformContext(t))
	_, errs, _ := strata(t, root, nil, "run", "foreign:1")
	if want := "WARNING: The requested image's platform (" + foreign + ") does not match the detected host platform (" + build.BuildPlatform() + ")"; !strings.Contains(errs, want) {
		t.Errorf("run of a %s image = %q, want %q", foreign, errs, want)
	}
	if _, errs, _ := strata(t, root, nil, "run", "multi:1"); strings.Contains(errs, "WARNING") {
		t.Errorf("run of an index with the host's platform warns: %q", errs)
	}

	// tag and rmi name the index.
	mustStrata(t, root, nil, "tag", "multi:1", "multi:copy")
	if h2, err := resolveIn(t, root, "multi:copy"); err != nil || h2 != h {
		t.Errorf("tag of an index tag: multi:copy = %s, %v; want %s", h2, err, h)
	}
	if got := mustStrata(t, root, nil, "rmi", "multi:copy"); got != "Untagged: multi:copy\n" {
		t.Errorf("rmi multi:copy = %q", got)
	}
}

func TestMultiPlatformSaveLoad(t *testing.T) {
	root, _ := buildMulti(t, "linux/amd64,linux/arm64", "-t", "multi:1")
	dir := t.TempDir()

	// docker format: one image per name, the default platform, said on stderr.
	docker := filepath.Join(dir, "docker.tar")
	_, errs, code := strata(t, root, nil, "save", "-o", docker, "multi:1")
	if code != 0 || !strings.Contains(errs, "multi:1 is a multi-platform image (linux/amd64, linux/arm64); a docker archive holds one image per name, saving linux/amd64") {
		t.Errorf("save of an index tag = exit %d, %q", code, errs)
	}
	tag := mustNameTag(t, "multi:1")
	for file, arch := range map[string]string{docker: "amd64", filepath.Join(dir, "arm.tar"): "arm64"} {
		if arch == "arm64" {
			mustStrata(t, root, nil, "save", "--platform", "linux/arm64", "-o", file, "multi:1")
		}
		img, err := tarball.ImageFromPath(file, &tag)
		if err != nil {
			t.Fatal(err)
		}
		if cf, err := img.ConfigFile(); err != nil || cf.Architecture != arch {
			t.Errorf("saved %s: config %v, %v; want %s", file, cf, err, arch)
		}
	}

	// oci format: the index whole; load keeps it.
	oci := filepath.Join(dir, "oci.tar")
	mustStrata(t, root, nil, "save", "--format", "oci", "-o", oci, "multi:1")
	other := t.TempDir()
	if got := mustStrata(t, other, nil, "load", "-i", oci); got != "Loaded image: multi:1\n" {
		t.Errorf("load of the OCI archive = %q", got)
	}
	h, _ := resolveIn(t, root, "multi:1")
	if h2, err := resolveIn(t, other, "multi:1"); err != nil || h2 != h {
		t.Errorf("loaded multi:1 = %s, %v; want the index %s", h2, err, h)
	}
	if got := mustStrata(t, other, nil, "images"); !strings.Contains(got, "linux/arm64") || !strings.Contains(got, "linux/amd64") {
		t.Errorf("images after load lacks a platform:\n%s", got)
	}
}

func TestMultiPlatformPushPull(t *testing.T) {
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	root, _ := buildMulti(t, "linux/amd64,linux/arm64", "-t", host+"/me/multi:1", "--push")
	want := []string{"linux/amd64", "linux/arm64"}
	for _, ref := range []string{host + "/me/multi:1", host + "/me/multi:2"} {
		if strings.HasSuffix(ref, ":2") { // push from the store
			if got := mustStrata(t, root, nil, "push", host+"/me/multi:1", ref); !strings.Contains(got, "digest: sha256:") {
				t.Errorf("push = %q", got)
			}
		}
		r, err := name.ParseReference(ref)
		if err != nil {
			t.Fatal(err)
		}
		idx, err := remote.Index(r, remote.WithTransport(http.DefaultTransport))
		if err != nil {
			t.Fatalf("reading the pushed index %s: %v", ref, err)
		}
		if got := indexPlatformsOf(t, idx); !slices.Equal(got, want) {
			t.Errorf("pushed %s platforms = %v, want %v", ref, got, want)
		}
	}

	// pull --platform gets that platform; a second pull adds the other.
	other := t.TempDir()
	mustStrata(t, other, nil, "pull", "--platform", "linux/arm64", host+"/me/multi:1")
	if got := mustStrata(t, other, nil, "inspect", "-f", "{{.Architecture}}", host+"/me/multi:1"); got != "arm64\n" {
		t.Errorf("pull --platform linux/arm64: inspect Architecture = %q", got)
	}
	mustStrata(t, other, nil, "pull", "--platform", "linux/amd64", host+"/me/multi:1")
	var ii []imageInspect
	if err := json.Unmarshal([]byte(mustStrata(t, other, nil, "inspect", host+"/me/multi:1")), &ii); err != nil || len(ii) != 1 {
		t.Fatalf("inspect = %v, %v", ii, err)
	}
	var plats []string
	for _, m := range ii[0].Manifests {
		plats = append(plats, m.Platform)
	}
	slices.Sort(plats)
	if !slices.Equal(plats, want) {
		t.Errorf("after pulling both platforms, the tag has %v, want %v", plats, want)
	}
}

func TestImportPlatform(t *testing.T) {
	root := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	tarFile := testenv.BusyboxTar(t)
	mustStrata(t, root, nil, "import", tarFile, "bb:1")
	mustStrata(t, root, nil, "import", "--platform", "linux/aarch64", tarFile, "bb:1")
	if got := mustStrata(t, root, nil, "inspect", "--platform", "linux/arm64", "-f", "{{.Os}}/{{.Architecture}}/{{.Variant}}", "bb:1"); got != "linux/arm64/\n" {
		t.Errorf("import --platform linux/aarch64: config platform = %q, want linux/arm64 (normalised)", got)
	}
	if got := mustStrata(t, root, nil, "images", "bb"); !strings.Contains(got, "linux/amd64") || !strings.Contains(got, "linux/arm64") {
		t.Errorf("import --platform keeps the tag's other platform; images =\n%s", got)
	}
	mustStrata(t, root, nil, "import", "--platform", "linux/arm/v7", tarFile, "arm:1")
	if _, errs, code := strata(t, root, nil, "inspect", "--platform", "linux/arm64", "arm:1"); code != 1 ||
		!strings.Contains(errs, "does not match the specified platform: wanted linux/arm64, actual: linux/arm/v7") {
		t.Errorf("inspect --platform of another single image = exit %d, %q", code, errs)
	}
}

// resolveIn resolves ref in the store at root.
func resolveIn(t *testing.T, root, ref string) (v1.Hash, error) {
	t.Helper()
	s, err := store.Open(t.Context(), root)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	return s.Resolve(t.Context(), ref)
}

// TestMultiPlatformDockerMediaTypes: oci-mediatypes=false, as buildx
// writes it (type=image,push=true), pushes a Docker manifest list of
// schema 2 manifests.
func TestMultiPlatformDockerMediaTypes(t *testing.T) {
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	ref := strings.TrimPrefix(srv.URL, "http://") + "/me/list:1"
	buildMulti(t, "linux/amd64,linux/arm64", "-t", ref, "--output", "type=image,push=true,oci-mediatypes=false")
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(r, remote.WithTransport(http.DefaultTransport))
	if err != nil {
		t.Fatal(err)
	}
	if mt, _ := idx.MediaType(); mt != types.DockerManifestList {
		t.Errorf("pushed media type %s, want %s", mt, types.DockerManifestList)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var plats []string
	for _, d := range m.Manifests {
		if d.MediaType != types.DockerManifestSchema2 || d.Platform == nil {
			t.Fatalf("entry %s: media type %s, platform %v; want %s with a platform", d.Digest, d.MediaType, d.Platform, types.DockerManifestSchema2)
		}
		plats = append(plats, d.Platform.OS+"/"+d.Platform.Architecture)
	}
	if !slices.Equal(plats, []string{"linux/amd64", "linux/arm64"}) {
		t.Errorf("platforms %v", plats)
	}
	if err := validate.Index(idx); err != nil {
		t.Errorf("validate.Index: %v", err)
	}
}
