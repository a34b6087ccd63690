package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestSetuidInUserStep: a USER step that executes a setuid-root file
// (sudo, su, ping with file capabilities) gets root's capabilities,
// bounded by the step's set (Docker's 14), as under Docker and BuildKit,
// which set no no_new_privs. Chroot mode keeps no_new_privs (a filter can
// only be loaded with it where that mode runs), so there it gains nothing.
func TestSetuidInUserStep(t *testing.T) {
	dockerCaps, err := capMask(DefaultCapabilities())
	if err != nil {
		t.Fatal(err)
	}
	layer := buildProbe(t)
	if err := os.Chmod(filepath.Join(layer, "probe"), os.ModeSetuid|0o755); err != nil {
		t.Fatal(err)
	}
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			if why, ok := b.skip["capabilities"]; ok && b.name != "chroot" {
				t.Skip(why)
			}
			r := runStep(t, b, t.Context(), "", func(s *Step) {
				s.Lower = append(s.Lower, layer)
				s.Spec.Process.Args = []string{"/probe", "self"}
				s.Spec.Process.User = specs.User{UID: 1000, GID: 1000}
			})
			checkCode(t, r.err, 0, r.stderr)
			want := map[string]string{"CapEff": fmt.Sprintf("%016x", dockerCaps), "NoNewPrivs": "0", "Seccomp": "2"}
			if b.name == "chroot" {
				want = map[string]string{"CapEff": "0000000000000000", "NoNewPrivs": "1", "Seccomp": "2"}
			}
			for k, v := range want {
				if line := fmt.Sprintf("self %s: info (%s)", k, v); !strings.Contains(r.stdout, line+"\n") {
					t.Errorf("no %q in the probe's output:\n%s%s", line, r.stdout, r.stderr)
				}
			}
		})
	}
}
