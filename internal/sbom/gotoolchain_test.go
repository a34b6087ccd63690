package sbom_test

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/strata-build/strata/internal/sbom"
)

// TestScanGoToolchain: the go command's own binaries (GOROOT/bin, as in
// golang images) have no main module, and still list the standard library
// they are (pkg:golang/stdlib@VERSION, as scanners match it), with no
// nameless main module.
func TestScanGoToolchain(t *testing.T) {
	bin, err := os.ReadFile(filepath.Join(runtime.GOROOT(), "bin", "gofmt"))
	if err != nil {
		t.Fatal(err)
	}
	l := newLayer(t).file("/usr/local/go/bin/gofmt", string(bin), 0o755)
	s := scan(t, []sbom.Layer{l.layer(0, "golang")}, sbom.Options{})
	want := "pkg:golang/stdlib@" + strings.TrimPrefix(runtime.Version(), "go")
	std := find(s, "golang", "stdlib")
	if len(std) != 1 || std[0].PURL != want || std[0].Path != "/usr/local/go/bin/gofmt" {
		t.Errorf("stdlib of /usr/local/go/bin/gofmt = %+v, want one %s", std, want)
	}
	for _, p := range s.Packages {
		if p.Type == "golang" && p.Name == "" {
			t.Errorf("a Go package without a name: %+v", p)
		}
	}
}
