package registry

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies holds DESIGN.md's edges: the registry must not depend on
// the packages that use it.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, bad := range []string{"build", "plan", "cli", "store", "sandbox"} {
			if dep == "github.com/strata-build/strata/internal/"+bad {
				t.Errorf("registry imports %s", dep)
			}
		}
	}
}
