package dockerfile_test

import (
	"go/build"
	"slices"
	"strings"
	"testing"
)

// TestDeps holds the package's edges (DESIGN.md section 4): the front end
// is pure and knows nothing of plans, builds, stores or registries.
func TestDeps(t *testing.T) {
	forbidden := []string{"net", "net/http", "os", "os/exec"}
	ours := []string{"plan", "build", "sandbox", "store", "registry", "cli", "rootfs", "layer", "export"}
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		name, isOurs := strings.CutPrefix(imp, "github.com/strata-build/strata/internal/")
		if slices.Contains(forbidden, imp) || (isOurs && slices.Contains(ours, name)) {
			t.Errorf("package dockerfile imports %s, want it pure (DESIGN.md section 4)", imp)
		}
	}
}
