package cli

import (
	"regexp"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/internal/emulate"
)

// TestEmulators: the table lists every foreign platform with the state of
// its handler; on a host set up by scripts/setup.sh, arm64 is ready.
func TestEmulators(t *testing.T) {
	out, stderr, code := strata(t, t.TempDir(), nil, "emulators")
	if code != 0 {
		t.Fatalf("strata emulators = exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !regexp.MustCompile(`^PLATFORM\s+STATUS\s+HANDLER\s+FLAGS\s+INTERPRETER$`).MatchString(lines[0]) {
		t.Errorf("header = %q", lines[0])
	}
	if len(lines) != len(emulate.Status())+1 {
		t.Errorf("%d rows, want one per foreign platform (%d):\n%s", len(lines)-1, len(emulate.Status()), out)
	}
	if emulate.Check(v1.Platform{OS: "linux", Architecture: "arm64"}) != nil {
		t.Skip("no arm64 handler here (scripts/setup.sh registers one)")
	}
	if !regexp.MustCompile(`(?m)^linux/arm64\s+ready\s+\S+\s+\S*F\S*\s+/`).MatchString(out) {
		t.Errorf("linux/arm64 is not shown ready with an F flag:\n%s", out)
	}
}
