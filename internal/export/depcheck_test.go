package export

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies holds DESIGN.md's edges: export must not depend on
// the packages that use it.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, bad := range []string{"build", "plan", "cli", "sandbox"} {
			if dep == "github.com/strata-build/strata/internal/"+bad {
				t.Errorf("export imports %s", dep)
			}
		}
	}
}
