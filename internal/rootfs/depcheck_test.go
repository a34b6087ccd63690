package rootfs_test

import (
	"go/build"
	"slices"
	"strings"
	"testing"
)

// TestDeps holds the package's edges (DESIGN.md section 4): rootfs owns stage trees and COPY semantics; it may use layer (ADD extraction) but knows nothing of builds, plans, sandboxes or stores.
func TestDeps(t *testing.T) {
	forbidden := []string{"net", "net/http", "os/exec"}
	ours := []string{"build", "plan", "sandbox", "cli", "store", "registry", "export"}
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		name, isOurs := strings.CutPrefix(imp, "github.com/strata-build/strata/internal/")
		if slices.Contains(forbidden, imp) || (isOurs && slices.Contains(ours, name)) {
			t.Errorf("package rootfs imports %s, which DESIGN.md section 4 forbids", imp)
		}
	}
}
