package sandbox

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps holds the package's import edges (DESIGN.md §4).
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, bad := range []string{"/internal/build", "/internal/plan", "/internal/store", "/internal/cli"} {
			if strings.HasSuffix(dep, "strata"+bad) {
				t.Errorf("sandbox imports %s", dep)
			}
		}
	}
}
