package sbom_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies: the sbom package reads layer dirs and its cache; it
// must not reach into the build, the sandbox, the registry or the network.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	forbidden := []string{
		"github.com/strata-build/strata/internal/build",
		"github.com/strata-build/strata/internal/cli",
		"github.com/strata-build/strata/internal/plan",
		"github.com/strata-build/strata/internal/sandbox",
		"github.com/strata-build/strata/internal/registry",
		"github.com/anchore/syft",
		"net/http",
		"os/exec",
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, f+"/") {
				t.Errorf("internal/sbom depends on %s", dep)
			}
		}
	}
}
