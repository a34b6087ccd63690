package emulate_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/strata-build/strata/internal/emulate"
	"github.com/strata-build/strata/internal/testenv"
)

var arm64 = v1.Platform{OS: "linux", Architecture: "arm64"}

// requireReady skips t unless the host runs arm64 binaries already: the
// tests do not register handlers on the host.
func requireReady(t *testing.T) {
	t.Helper()
	if err := emulate.Check(arm64); err != nil {
		t.Skipf("not changing the host: %v", err)
	}
}

func TestEnsureHost(t *testing.T) {
	requireReady(t)
	if err := emulate.Ensure(context.Background(), arm64); err != nil {
		t.Fatalf("Ensure(linux/arm64) = %v, want nil", err)
	}
	if err := emulate.Ensure(context.Background(), v1.Platform{OS: "linux", Architecture: "amd64"}); err != nil && emulate.Native(v1.Platform{OS: "linux", Architecture: "amd64"}) {
		t.Errorf("Ensure(linux/amd64) = %v, want nil on an amd64 host", err)
	}
	var found bool
	for _, h := range emulate.Status() {
		if h.Platform.Architecture == "arm64" {
			found = true
			if !h.Ready() {
				t.Errorf("Status() for linux/arm64 = %+v, want ready after Ensure", h)
			}
		}
	}
	if !found && !emulate.Native(arm64) {
		t.Errorf("Status() does not list linux/arm64")
	}
}

// TestRunArm64Busybox runs Debian's arm64 busybox-static after Ensure,
// directly and in a chroot that holds nothing but it (which needs F).
func TestRunArm64Busybox(t *testing.T) {
	requireReady(t)
	if err := emulate.Ensure(context.Background(), arm64); err != nil {
		t.Fatalf("Ensure(linux/arm64) = %v", err)
	}
	bin := testenv.BusyboxBinaryFor(t, "linux/arm64")
	out, _ := exec.Command(bin).CombinedOutput()
	if !strings.HasPrefix(string(out), "BusyBox v") {
		t.Errorf("running arm64 busybox printed %q, want its version", firstLine(out))
	}
	if os.Geteuid() != 0 {
		t.Skip("chroot needs root")
	}
	root := t.TempDir()
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "busybox"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/busybox", "uname", "-m")
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
	out, err = cmd.CombinedOutput()
	if err != nil || string(out) != "aarch64\n" {
		t.Errorf("arm64 busybox uname -m in a chroot = %q, %v; want \"aarch64\\n\"", out, err)
	}
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	return s
}
