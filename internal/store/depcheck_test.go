package store

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies holds DESIGN.md's edges: the store must not depend on
// the packages that use it.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, bad := range []string{"build", "plan", "sandbox", "cli", "registry"} {
			if dep == "github.com/strata-build/strata/internal/"+bad {
				t.Errorf("store imports %s", dep)
			}
		}
	}
}
