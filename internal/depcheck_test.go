// Package internal_test holds the import rules between strata's packages
// (DESIGN.md section 4): leaves stay pure and nothing reaches up.
package internal_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/strata-build/strata/"

// forbidden lists, per package, what it must not import, directly or not.
var forbidden = map[string][]string{
	"internal/dockerfile":   {"internal/", "net", "net/http", "os", "os/exec"},
	"internal/plan":         {"internal/build", "internal/sandbox", "internal/store", "internal/registry", "internal/cli", "internal/rootfs", "internal/layer", "internal/export", "net", "net/http", "os", "os/exec"},
	"internal/build":        {"internal/cli", "internal/lint", "internal/report"},
	"internal/rootfs":       {"internal/build", "internal/plan", "internal/sandbox", "internal/cli", "internal/store", "internal/registry", "internal/export", "net", "net/http", "os/exec"},
	"internal/layer":        {"internal/build", "internal/plan", "internal/store", "internal/cli", "internal/sandbox", "internal/rootfs", "internal/registry", "internal/export", "net", "net/http", "os/exec"},
	"internal/sandbox":      {"internal/build", "internal/plan", "internal/store", "internal/cli"},
	"internal/seccomp":      {"internal/", "net", "net/http"},
	"internal/userns":       {"internal/", "net", "net/http"},
	"internal/userns/early": {"internal/", "os", "os/exec", "net", "net/http"},
	"internal/emulate":      {"internal/", "net", "net/http"},
	"internal/attest":       {"internal/build", "internal/cli", "internal/store", "internal/registry", "internal/sandbox", "internal/plan", "internal/export", "internal/rootfs", "os", "os/exec", "net", "net/http"},
	"internal/sbom":         {"internal/build", "internal/cli", "internal/registry", "internal/sandbox", "internal/plan", "internal/export", "net", "net/http", "os/exec"},
	"internal/store":        {"internal/build", "internal/plan", "internal/sandbox", "internal/cli", "internal/registry"},
	"internal/registry":     {"internal/build", "internal/plan", "internal/cli", "internal/store", "internal/sandbox"},
	"internal/report":       {"internal/build", "internal/sandbox"},
	"internal/lint":         {"internal/build", "internal/sandbox", "internal/store", "internal/registry"},
	"internal/export":       {"internal/build", "internal/plan", "internal/cli", "internal/sandbox"},
	"internal/cli":          {"internal/conformance"},
	"internal/gitsource":    {"internal/", "net/http"},
}

// TestMainImportsOnlyCLI holds cmd/strata to importing internal/cli alone.
func TestMainImportsOnlyCLI(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	imports := map[string][]string{}
	collect(t, root, "cmd/strata", imports)
	for _, d := range imports["cmd/strata"] {
		if strings.HasPrefix(d, "internal/") && d != "internal/cli" {
			t.Errorf("cmd/strata imports %s; it may import only internal/cli", d)
		}
	}
}

func TestDependencies(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	imports := map[string][]string{}
	for pkg := range forbidden {
		collect(t, root, pkg, imports)
	}
	for pkg, bad := range forbidden {
		if _, err := os.Stat(filepath.Join(root, pkg)); err != nil {
			continue
		}
		for _, dep := range closure(pkg, imports) {
			for _, b := range bad {
				if dep == b || (strings.HasSuffix(b, "/") && strings.HasPrefix(dep, b) && dep != pkg) {
					if pkg == "internal/dockerfile" && dep == "internal/dockerfile" {
						continue
					}
					t.Errorf("%s imports %s (directly or through another package); DESIGN.md forbids it", pkg, dep)
				}
			}
		}
	}
}

// collect records the non-test imports of pkg and, recursively, of the
// module's packages it imports. Module packages are recorded without the
// module prefix; others as their import path.
func collect(t *testing.T, root, pkg string, imports map[string][]string) {
	if _, ok := imports[pkg]; ok {
		return
	}
	imports[pkg] = nil
	files, _ := filepath.Glob(filepath.Join(root, pkg, "*.go"))
	seen := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatalf("parsing %s: %v", f, err)
		}
		for _, im := range af.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			p = strings.TrimPrefix(p, module)
			if !seen[p] {
				seen[p] = true
				imports[pkg] = append(imports[pkg], p)
			}
			if strings.HasPrefix(p, "internal/") || strings.HasPrefix(p, "cmd/") {
				collect(t, root, p, imports)
			}
		}
	}
}

func closure(pkg string, imports map[string][]string) []string {
	seen := map[string]bool{}
	var walk func(string)
	walk = func(p string) {
		for _, d := range imports[p] {
			if !seen[d] {
				seen[d] = true
				walk(d)
			}
		}
	}
	walk(pkg)
	out := make([]string, 0, len(seen))
	for d := range seen {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}
