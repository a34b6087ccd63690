package cli

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-build/strata/internal/store"
)

func TestLoadNoDaemon(t *testing.T) {
	sock := "unix://" + filepath.Join(t.TempDir(), "none.sock")
	t.Setenv("DOCKER_HOST", sock)
	err := loadImage(context.Background(), nil, nil, &bytes.Buffer{})
	want := "--load: no Docker or podman daemon reachable (" + sock + ": connect: no such file or directory); start one, set DOCKER_HOST"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("loadImage without a daemon = %v, want %q...", err, want)
	}
	if c := daemonCandidates(func(k string) string { return map[string]string{"XDG_RUNTIME_DIR": "/run/user/7"}[k] }); strings.Join(c, " ") !=
		"unix:///var/run/docker.sock unix:///run/user/7/podman/podman.sock unix:///run/podman/podman.sock" {
		t.Errorf("daemonCandidates = %v", c)
	}
}

// TestLoadIntoDocker hands an image to the Debian dockerd through its API
// and runs it there.
func TestLoadIntoDocker(t *testing.T) {
	requireDocker(t)
	t.Setenv("DOCKER_HOST", "")
	root := t.TempDir()
	importBusybox(t, root)
	ctx := context.Background()
	s, err := store.Open(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h, err := s.Resolve(ctx, "busybox:test")
	if err != nil {
		t.Fatal(err)
	}
	img, err := s.Image(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	tag := "strata-load-test:" + strings.ToLower(t.Name())
	t.Cleanup(func() { exec.Command(dockerBin, "rmi", "-f", tag).Run() })
	var out bytes.Buffer
	if err := loadImage(ctx, img, []string{tag}, &out); err != nil {
		t.Fatal(err)
	}
	if want := "Loaded image: " + tag + "\n"; out.String() != want {
		t.Errorf("loadImage said %q, want %q", out.String(), want)
	}
	run, err := exec.Command(dockerBin, "run", "--rm", "--entrypoint", "/bin/echo", tag, "loaded").CombinedOutput()
	if err != nil || string(run) != "loaded\n" {
		t.Errorf("docker run of the loaded image = %q, %v", run, err)
	}
}
