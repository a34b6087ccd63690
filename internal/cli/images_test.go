package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/strata-build/strata/internal/export"
	"github.com/strata-build/strata/internal/store"
	"github.com/strata-build/strata/internal/testenv"
)

// strata runs the CLI with --root root and returns stdout, stderr and the
// exit code.
func strata(t *testing.T, root string, stdin io.Reader, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	code := Main(context.Background(), append([]string{"--root", root}, args...), Stdio{In: stdin, Out: &out, Err: &errb})
	return out.String(), errb.String(), code
}

// mustStrata is strata failing the test on a non-zero exit.
func mustStrata(t *testing.T, root string, stdin io.Reader, args ...string) string {
	t.Helper()
	out, errs, code := strata(t, root, stdin, args...)
	if code != 0 {
		t.Fatalf("strata %v = exit %d\n%s%s", args, code, out, errs)
	}
	return out
}

func importBusybox(t *testing.T, root string) string {
	t.Helper()
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	out := mustStrata(t, root, nil, "import",
		"--change", `CMD ["sh"]`, "--change", "ENV PATH=/bin:/usr/bin", "--change", "ENV HOME=/home", "--change", "WORKDIR $HOME/app",
		"--change", "USER app", "--change", "EXPOSE 8080", "--change", `LABEL org.example.x="a b"`,
		"--change", "VOLUME /data", "--change", "STOPSIGNAL SIGTERM", "--change", "ENTRYPOINT exec sh",
		"-m", "busybox for tests", testenv.BusyboxTar(t), "busybox:test")
	return strings.TrimSpace(out)
}

func TestImportInspect(t *testing.T) {
	root := t.TempDir()
	id := importBusybox(t, root)
	if !strings.HasPrefix(id, "sha256:") {
		t.Fatalf("import printed %q, want an image ID", id)
	}
	var got []imageInspect
	out := mustStrata(t, root, nil, "inspect", "busybox:test")
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got) != 1 {
		t.Fatalf("inspect output %q: %v", out, err)
	}
	ii := got[0]
	checks := map[string][2]any{
		"Id":          {ii.ID, id},
		"RepoTags":    {strings.Join(ii.RepoTags, ","), "busybox:test"},
		"Os/Arch":     {ii.Os + "/" + ii.Architecture, "linux/amd64"},
		"Cmd":         {strings.Join(ii.Config.Cmd, " "), "sh"},
		"Entrypoint":  {strings.Join(ii.Config.Entrypoint, " "), "/bin/sh -c exec sh"},
		"Env":         {strings.Join(ii.Config.Env, ","), "PATH=/bin:/usr/bin,HOME=/home"},
		"WorkingDir":  {ii.Config.WorkingDir, "/home/app"},
		"User":        {ii.Config.User, "app"},
		"Label":       {ii.Config.Labels["org.example.x"], "a b"},
		"StopSignal":  {ii.Config.StopSignal, "SIGTERM"},
		"Comment":     {ii.Comment, "busybox for tests"},
		"RootFS.Type": {ii.RootFS.Type, "layers"},
		"Layers":      {len(ii.RootFS.Layers), 1},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("inspect %s = %v, want %v", name, c[0], c[1])
		}
	}
	if _, ok := ii.Config.ExposedPorts["8080/tcp"]; !ok {
		t.Errorf("ExposedPorts = %v", ii.Config.ExposedPorts)
	}
	if _, ok := ii.Config.Volumes["/data"]; !ok {
		t.Errorf("Volumes = %v", ii.Config.Volumes)
	}
	if f := mustStrata(t, root, nil, "inspect", "-f", "{{.Os}} {{json .Config.Cmd}}", id[7:19]); f != "linux [\"sh\"]\n" {
		t.Errorf("inspect -f = %q", f)
	}
	s, err := store.Open(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h, _ := s.Resolve(context.Background(), id)
	img, err := s.Image(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Errorf("validate.Image(imported): %v", err)
	}
}

func TestTagImagesRmi(t *testing.T) {
	root := t.TempDir()
	id := importBusybox(t, root)
	mustStrata(t, root, nil, "tag", "busybox:test", "me/app:v1")
	mustStrata(t, root, nil, "tag", id, "localhost:5000/app")
	out := mustStrata(t, root, nil, "images")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || strings.Join(strings.Fields(lines[0]), " ") != "REPOSITORY TAG IMAGE ID PLATFORM CREATED SIZE COMPRESSED" {
		t.Fatalf("images =\n%s", out)
	}
	for _, want := range []string{"busybox", "me/app", "localhost:5000/app", id[7:19]} {
		if !strings.Contains(out, want) {
			t.Errorf("images lacks %q:\n%s", want, out)
		}
	}
	if out := mustStrata(t, root, nil, "images", "me/app"); strings.Count(out, "\n") != 2 {
		t.Errorf("images me/app =\n%s", out)
	}
	if out := mustStrata(t, root, nil, "images", "-q"); out != id[7:19]+"\n" {
		t.Errorf("images -q = %q", out)
	}
	if out := mustStrata(t, root, nil, "history", "me/app:v1"); !strings.Contains(out, "busybox for tests") {
		t.Errorf("history =\n%s", out)
	}
	if _, errs, code := strata(t, root, nil, "rmi", id[7:19]); code != 1 || !strings.Contains(errs, "use -f") {
		t.Errorf("rmi ID with 3 tags = %d %s", code, errs)
	}
	if out := mustStrata(t, root, nil, "rmi", "me/app:v1"); out != "Untagged: me/app:v1\n" {
		t.Errorf("rmi = %q", out)
	}
	mustStrata(t, root, nil, "rmi", "-f", id[7:19])
	if out := mustStrata(t, root, nil, "images", "-q"); out != "" {
		t.Errorf("images after rmi -f = %q", out)
	}
	if _, errs, code := strata(t, root, nil, "inspect", "busybox:test"); code != 1 || !strings.Contains(errs, "not found") {
		t.Errorf("inspect after rmi = %d %s", code, errs)
	}
}

func TestSaveLoad(t *testing.T) {
	root := t.TempDir()
	id := importBusybox(t, root)
	mustStrata(t, root, nil, "tag", "busybox:test", "me/app:v1")
	file := filepath.Join(t.TempDir(), "save.tar")
	mustStrata(t, root, nil, "save", "-o", file, "busybox:test", "me/app:v1")
	for _, tag := range []string{"busybox:test", "me/app:v1"} {
		tg := mustNameTag(t, tag)
		img, err := tarball.ImageFromPath(file, &tg)
		if err != nil {
			t.Fatalf("reading saved %s: %v", tag, err)
		}
		if err := validate.Image(img); err != nil {
			t.Error(err)
		}
	}

	other := t.TempDir()
	out := mustStrata(t, other, nil, "load", "-i", file)
	if out != "Loaded image: busybox:test\nLoaded image: me/app:v1\n" {
		t.Errorf("load = %q", out)
	}
	var got []imageInspect
	json.Unmarshal([]byte(mustStrata(t, other, nil, "inspect", "me/app:v1")), &got)
	var want []imageInspect
	json.Unmarshal([]byte(mustStrata(t, root, nil, "inspect", id)), &want)
	if len(got) != 1 || len(want) != 1 || got[0].ConfigDigest != want[0].ConfigDigest {
		t.Errorf("loaded config digest %v, want %v", got, want)
	}

	// Through stdin and stdout.
	var buf bytes.Buffer
	code := Main(context.Background(), []string{"--root", root, "save", "busybox:test"}, Stdio{In: strings.NewReader(""), Out: &buf, Err: io.Discard})
	if code != 0 {
		t.Fatalf("save to stdout = %d", code)
	}
	third := t.TempDir()
	if out := mustStrata(t, third, &buf, "load"); out != "Loaded image: busybox:test\n" {
		t.Errorf("load from stdin = %q", out)
	}
}

func TestLoadOCIArchive(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(t.TempDir(), "oci.tar")
	img := testenv.BusyboxImage(t)
	if err := exportOCIArchive(img, file); err != nil {
		t.Fatal(err)
	}
	if out := mustStrata(t, root, nil, "load", "-i", file); out != "Loaded image: me/oci:1\n" {
		t.Errorf("load = %q", out)
	}
	want, _ := img.ConfigName()
	if out := mustStrata(t, root, nil, "images", "-q", "--no-trunc"); out != want.String()+"\n" {
		t.Errorf("images -q = %q, want %s", out, want)
	}
}

func TestPushPull(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	root := t.TempDir()
	id := importBusybox(t, root)
	digest := manifestDigest(t, root, "busybox:test")
	mustStrata(t, root, nil, "push", "busybox:test", host+"/test/busybox:1")
	other := t.TempDir()
	out := mustStrata(t, other, nil, "pull", host+"/test/busybox:1")
	if !strings.Contains(out, "Digest: "+digest) {
		t.Errorf("pull = %q, want digest %s", out, digest)
	}
	if out := mustStrata(t, other, nil, "images", "-q", "--no-trunc"); out != id+"\n" {
		t.Errorf("images after pull = %q", out)
	}
	if _, errs, code := strata(t, other, nil, "pull", host+"/nope:1"); code != 1 || !strings.Contains(errs, "not found") {
		t.Errorf("pull missing = %d %q", code, errs)
	}
}

func TestUsageErrors(t *testing.T) {
	root := t.TempDir()
	for _, args := range [][]string{{"tag", "a"}, {"rmi"}, {"history"}, {"import"}, {"load", "x"}, {"import", "-c", "RUN true", "-", "x"}, {"images", "--bogus"}} {
		if _, errs, code := strata(t, root, nil, args...); code != 2 {
			t.Errorf("strata %v = exit %d (%s), want 2", args, code, errs)
		}
	}
	if _, _, code := strata(t, root, nil, "inspect", "nope"); code != 1 {
		t.Errorf("inspect nope = %d, want 1", code)
	}
	os.RemoveAll(root)
}

func mustNameTag(t *testing.T, s string) name.Tag {
	t.Helper()
	tag, err := name.NewTag(s)
	if err != nil {
		t.Fatal(err)
	}
	return tag
}

func exportOCIArchive(img v1.Image, file string) error {
	return export.OCIArchive(context.Background(), img, file, []string{"me/oci:1"})
}

// manifestDigest is the manifest digest of ref in root (its RepoDigests').
func manifestDigest(t *testing.T, root, ref string) string {
	t.Helper()
	rd := strings.TrimSpace(mustStrata(t, root, nil, "inspect", "-f", "{{index .RepoDigests 0}}", ref))
	_, d, ok := strings.Cut(rd, "@")
	if !ok {
		t.Fatalf("RepoDigests of %s = %q", ref, rd)
	}
	return d
}
