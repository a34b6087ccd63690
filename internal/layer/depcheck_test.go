package layer_test

import (
	"go/build"
	"slices"
	"strings"
	"testing"
)

// TestDeps holds the package's edges (DESIGN.md section 4): layer is a leaf over the filesystem: it knows nothing of builds, plans, stores or sandboxes.
func TestDeps(t *testing.T) {
	forbidden := []string{"net", "net/http", "os/exec"}
	ours := []string{"build", "plan", "store", "cli", "sandbox", "rootfs", "registry", "export"}
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		name, isOurs := strings.CutPrefix(imp, "github.com/strata-build/strata/internal/")
		if slices.Contains(forbidden, imp) || (isOurs && slices.Contains(ours, name)) {
			t.Errorf("package layer imports %s, which DESIGN.md section 4 forbids", imp)
		}
	}
}
