package cli

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	root := t.TempDir()
	out := mustStrata(t, root, nil, "--version")
	if !strings.HasPrefix(out, "strata version ") || strings.Count(out, "\n") != 1 {
		t.Errorf("--version = %q, want one line \"strata version ...\"", out)
	}
	table := mustStrata(t, root, nil, "version")
	for _, want := range []string{"strata:\n Version:    ", "\n Go version: " + runtime.Version() + "\n",
		"\nSandboxes:\n builtin       yes  namespaces, overlayfs, seccomp"} {
		if !strings.Contains(table, want) {
			t.Errorf("version output lacks %q:\n%s", want, table)
		}
	}
	if got := mustStrata(t, root, nil, "version", "--format", "{{.GoVersion}} {{.Os}}/{{.Arch}}"); got != runtime.Version()+" linux/"+runtime.GOARCH+"\n" {
		t.Errorf("version --format template = %q", got)
	}
	var v versionInfo
	if err := json.Unmarshal([]byte(mustStrata(t, root, nil, "version", "-f", "json")), &v); err != nil {
		t.Fatal(err)
	}
	if v.GoVersion != runtime.Version() || len(v.Sandboxes) != 4 || v.Sandboxes[0].Name != "builtin" || !v.Sandboxes[0].Available {
		t.Errorf("version --format json = %+v", v)
	}
	if _, errs, code := strata(t, root, nil, "version", "-f", "{{.Nope"); code != exitUsage || !strings.Contains(errs, "invalid --format") {
		t.Errorf("version with a bad template = exit %d, %q", code, errs)
	}
}

// TestVersionBinary checks what only a linked binary has: the version and
// commit make build links in, and BuildKit's module version.
func TestVersionBinary(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "strata")
	pkg := "github.com/strata-build/strata/internal/cli"
	ld := "-X " + pkg + ".linkVersion=v9.9.9-test -X " + pkg + ".linkCommit=0123456789abcdef0123-dirty"
	build := exec.Command(goBin, "build", "-ldflags", ld, "-o", bin, "../../cmd/strata")
	build.Env = append(build.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").Output()
	if want := "strata version v9.9.9-test, build 0123456789ab-dirty\n"; err != nil || string(out) != want {
		t.Errorf("strata --version = %q, %v; want %q", out, err, want)
	}
	out, err = exec.Command(bin, "version").Output()
	for _, want := range []string{" Version:    v9.9.9-test\n", " Commit:     0123456789abcdef0123 (modified)\n", " Frontend:   BuildKit dockerfile frontend v0.34.2\n"} {
		if err != nil || !strings.Contains(string(out), want) {
			t.Errorf("strata version lacks %q (%v):\n%s", want, err, out)
		}
	}
}
