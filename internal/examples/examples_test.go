package examples_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Policy: the test runs only when STRATA_EXAMPLES=1, as root. It then runs
// scripts/bases.sh (idempotent: about 2 s when the base images are already in
// the local registry, about 5 min when it has to make them), builds with a
// fresh store (so every build is cold and pulls its bases through the
// registry mirror) and fails rather than skips on any missing prerequisite.
// It uses STRATA_BIN when set, and otherwise builds ./cmd/strata.
//
// The bases come from the registry scripts/bases.sh serves, on
// 127.0.0.1:$BASES_PORT (default 5001), as the script does.
func registry() string { return "127.0.0.1:" + cmp.Or(os.Getenv("BASES_PORT"), "5001") }

// distroless names are not on docker.io, so no mirror serves them: the test
// pulls them from the local registry and tags them, as scripts/bases.sh does.
var gcrImages = []string{"distroless/static-debian12:nonroot", "distroless/nodejs18-debian12:nonroot"}

type strata struct {
	bin, root string
}

func (s strata) cmd(ctx context.Context, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, s.bin, append([]string{"--root", s.root, "--registry-mirror", registry()}, args...)...)
	c.Env = append(os.Environ(), "STRATA_ROOT="+s.root)
	return c
}

func (s strata) run(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out, err := s.cmd(ctx, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("strata %s: %v\n%s", strings.Join(args, " "), err, tail(out, 40))
	}
	return string(out)
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// setup makes the strata binary, the bases and a fresh store.
func setup(t *testing.T) strata {
	if os.Getenv("STRATA_EXAMPLES") != "1" {
		t.Skip("set STRATA_EXAMPLES=1 to build and run the examples (root; makes the bases with scripts/bases.sh)")
	}
	if os.Geteuid() != 0 {
		t.Fatal("STRATA_EXAMPLES=1 needs root (the RUN sandbox)")
	}
	root := repoRoot(t)
	bin := os.Getenv("STRATA_BIN")
	if bin == "" {
		bin = filepath.Join(t.TempDir(), "strata")
		build := exec.Command("go", "build", "-o", bin, "./cmd/strata")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("building strata: %v\n%s", err, out)
		}
	}
	start := time.Now()
	bases := exec.Command(filepath.Join(root, "scripts", "bases.sh"))
	bases.Dir = root
	bases.Env = append(os.Environ(), "STRATA="+bin)
	if out, err := bases.CombinedOutput(); err != nil {
		t.Fatalf("scripts/bases.sh: %v\n%s", err, tail(out, 40))
	}
	t.Logf("scripts/bases.sh: %s", time.Since(start).Round(time.Second))
	s := strata{bin: bin, root: t.TempDir()}
	for _, img := range gcrImages {
		s.run(t, "pull", registry()+"/"+img)
		s.run(t, "tag", registry()+"/"+img, "gcr.io/"+img)
	}
	return s
}

func TestExamples(t *testing.T) {
	s := setup(t)
	root := repoRoot(t)
	goDir := filepath.Join(root, "examples", "go")
	advDir := filepath.Join(root, "examples", "advanced")
	tests := []struct {
		image   string
		args    []string
		dir     string
		service string
		nonRoot bool   // the image's USER is not root
		target  string // /api/info "target", when the app reports one
	}{
		{"go-example:traditional", []string{"-f", filepath.Join(goDir, "Dockerfile.traditional")}, goDir, "go-example", false, ""},
		{"go-example:multistage", []string{"--platform", "linux/amd64"}, goDir, "go-example", true, ""},
		{"advanced-example:production", []string{"--target", "production", "--build-arg", "VERSION=1.2.3"}, advDir, "advanced-example", true, "production"},
		{"advanced-example:debug", []string{"--target", "debug", "--build-arg", "VERSION=1.2.3"}, advDir, "advanced-example", true, "debug"},
	}
	for _, tt := range tests {
		start := time.Now()
		args := append([]string{"build", "--progress=quiet", "--sbom", "-t", tt.image}, tt.args...)
		s.run(t, append(args, tt.dir)...)
		t.Logf("built %s in %s", tt.image, time.Since(start).Round(100*time.Millisecond))
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			info := serve(t, s, tt.image)
			if info["service"] != tt.service {
				t.Errorf("/api/info service = %v, want %s", info["service"], tt.service)
			}
			if tt.target != "" && info["target"] != tt.target {
				t.Errorf("/api/info target = %v, want %s", info["target"], tt.target)
			}
			if uid, ok := info["uid"].(float64); tt.nonRoot && (!ok || uid == 0) {
				t.Errorf("/api/info uid = %v, want a non-root uid", info["uid"])
			}
		})
	}
	t.Run("debug has curl", func(t *testing.T) {
		out := s.run(t, "run", "--rm", "--entrypoint", "curl", "advanced-example:debug", "--version")
		if !strings.HasPrefix(out, "curl ") {
			t.Errorf("curl --version in advanced-example:debug = %q, want curl's banner", out)
		}
	})
	t.Run("go multi-platform", func(t *testing.T) { goMultiPlatform(t, s) })
	t.Run("sbom", func(t *testing.T) { exampleSBOMs(t, s) })
}

// serve starts image with strata run on a free port of 127.0.0.1, waits for
// /healthz, and returns the JSON of /api/info; the container stops at the
// end of the test.
func serve(t *testing.T, s strata, image string) map[string]any {
	t.Helper()
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	c := s.cmd(ctx, "run", "--rm", "-e", "HOST=127.0.0.1", "-e", "PORT="+strconv.Itoa(port), image)
	c.Cancel = func() error { return c.Process.Signal(syscall.SIGTERM) }
	c.WaitDelay = 10 * time.Second
	var out strings.Builder
	c.Stdout, c.Stderr = &out, &out
	if err := c.Start(); err != nil {
		t.Fatalf("strata run %s: %v", image, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- c.Wait() }()
	t.Cleanup(func() {
		cancel()
		<-exited
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(60 * time.Second)
	for {
		var health map[string]any
		err := getJSON(base+"/healthz", &health)
		if err == nil {
			if health["status"] != "ok" {
				t.Fatalf("/healthz = %v, want status ok", health)
			}
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("strata run %s exited before answering: %v\n%s", image, err, out.String())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer %s/healthz: %v\n%s", image, base, err, out.String())
		}
	}
	var info map[string]any
	if err := getJSON(base+"/api/info", &info); err != nil {
		t.Fatalf("%s: %v", image, err)
	}
	return info
}

func getJSON(url string, v any) error {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return fmt.Errorf("getting %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("getting %s: %s", url, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("getting %s: content type %q, want application/json", url, ct)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("decoding %s: %w", url, err)
	}
	return nil
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
