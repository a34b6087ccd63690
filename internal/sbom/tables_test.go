package sbom

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// TestSPDXIDsAreListed: every identifier spdxID returns is in the SPDX
// licence list the CycloneDX 1.5 schema enumerates (so "id" validates).
func TestSPDXIDsAreListed(t *testing.T) {
	raw, err := os.ReadFile("testdata/schema/spdx.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Enum []string `json:"enum"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), "license.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	ast.Inspect(f, func(x ast.Node) bool {
		fn, ok := x.(*ast.FuncDecl)
		if !ok || fn.Name.Name != "spdxID" {
			return true
		}
		ast.Inspect(fn.Body, func(y ast.Node) bool {
			ret, ok := y.(*ast.ReturnStmt)
			if !ok || len(ret.Results) != 1 {
				return true
			}
			lit, ok := ret.Results[0].(*ast.BasicLit)
			if !ok {
				return true
			}
			id, _ := strconv.Unquote(lit.Value)
			if id == "" {
				return true
			}
			n++
			if !slices.Contains(list.Enum, id) {
				t.Errorf("spdxID returns %q, which the SPDX licence list lacks", id)
			}
			return true
		})
		return false
	})
	if n < 50 {
		t.Errorf("found %d identifiers in spdxID, want the whole table", n)
	}
}

func TestNormalizeLicense(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"MIT", "MIT"},
		{"mit", "MIT"},
		{"Expat", "MIT"},
		{"Apache 2.0", "Apache-2.0"},
		{"GPL-2+", "GPL-2.0-or-later"},
		{"LGPL-2.1", "LGPL-2.1-only"},
		{"BSD-3-clause", "BSD-3-Clause"},
		{"public-domain", "public-domain"},
		{"MIT OR Apache-2.0", "MIT OR Apache-2.0"},
	} {
		if got := normalizeLicense(tt.in); got != tt.want {
			t.Errorf("normalizeLicense(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSplitDebianLicense(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string
	}{
		{"GPL-2+", []string{"GPL-2.0-or-later"}},
		{"GPL-2+ or Artistic", []string{"GPL-2.0-or-later", "Artistic-1.0"}},
		{"BSD-3-clause and/or GPL-3+", []string{"BSD-3-Clause", "GPL-3.0-or-later"}},
		{"GPL-3+ with Bison exception", []string{"GPL-3+ with Bison exception"}},
	} {
		if got := splitDebianLicense(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("splitDebianLicense(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSPDXExpression(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want bool
	}{
		{"MIT OR Apache-2.0", true},
		{"(MIT OR Apache-2.0) AND BSD-3-Clause", true},
		{"GPL-2.0-or-later WITH Classpath-exception-2.0", true},
		{"MIT", false},
		{"MIT OR", false},
		{"MIT or Apache-2.0", false},
		{"MIT OR Foo", false},
	} {
		if got := isSPDXExpression(tt.in); got != tt.want {
			t.Errorf("isSPDXExpression(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestPURL(t *testing.T) {
	debian := Distro{ID: "debian", VersionID: "12"}
	for _, tt := range []struct {
		p    Package
		d    Distro
		want string
	}{
		{Package{Type: "deb", Name: "libc6", Version: "2.36-9+deb12u7", Arch: "amd64"}, debian, "pkg:deb/debian/libc6@2.36-9%2Bdeb12u7?arch=amd64&distro=debian-12"},
		{Package{Type: "deb", Name: "dpkg", Version: "1:1.21.22"}, Distro{}, "pkg:deb/debian/dpkg@1%3A1.21.22"},
		{Package{Type: "deb", Name: "libgcc-s1", Version: "12.2.0-14", Arch: "amd64", Upstream: "gcc-12@12.2.0-14"}, debian, "pkg:deb/debian/libgcc-s1@12.2.0-14?arch=amd64&distro=debian-12&upstream=gcc-12%4012.2.0-14"},
		{Package{Type: "apk", Name: "musl", Version: "1.2.5-r0", Arch: "x86_64"}, Distro{ID: "alpine", VersionID: "3.20.3"}, "pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64&distro=alpine-3.20.3"},
		{Package{Type: "npm", Name: "@types/node", Version: "20.11.5"}, debian, "pkg:npm/%40types/node@20.11.5"},
		{Package{Type: "pypi", Name: "Flask_SQLAlchemy", Version: "3.1.1"}, debian, "pkg:pypi/flask-sqlalchemy@3.1.1"},
		{Package{Type: "golang", Name: "github.com/docker/cli", Version: "v29.8.2+incompatible"}, debian, "pkg:golang/github.com/docker/cli@v29.8.2%2Bincompatible"},
		{Package{Type: "golang", Name: "example.com/app", Version: "(devel)"}, debian, "pkg:golang/example.com/app"},
		{Package{Type: "maven", Group: "com.google.guava", Name: "guava", Version: "33.0.0-jre"}, debian, "pkg:maven/com.google.guava/guava@33.0.0-jre"},
	} {
		if got := purl(tt.p, tt.d); got != tt.want {
			t.Errorf("purl(%s %s) = %s, want %s", tt.p.Type, tt.p.Name, got, tt.want)
		}
	}
}

func TestDebUpstream(t *testing.T) {
	for _, tt := range []struct{ source, name, want string }{
		{"", "bash", ""},
		{"bash", "bash", ""},
		{"glibc", "libc6", "glibc"},
		{"gcc-12 (12.2.0-14)", "libgcc-s1", "gcc-12@12.2.0-14"},
		{"util-linux (2.38.1-5)", "util-linux", "util-linux@2.38.1-5"},
	} {
		if got := debUpstream(tt.source, tt.name); got != tt.want {
			t.Errorf("debUpstream(%q, %q) = %q, want %q", tt.source, tt.name, got, tt.want)
		}
	}
}

func TestClassify(t *testing.T) {
	for _, tt := range []struct {
		path string
		want kind
	}{
		{"/var/lib/dpkg/status", kindDpkg},
		{"/var/lib/dpkg/status.d/libc6", kindDpkg},
		{"/var/lib/dpkg/status-old", kindNone},
		{"/usr/share/doc/curl/copyright", kindCopyright},
		{"/usr/share/doc/curl/examples/copyright", kindNone},
		{"/lib/apk/db/installed", kindApk},
		{"/usr/lib/os-release", kindOSRelease},
		{"/opt/venv/lib/python3.11/site-packages/attrs-24.2.0.dist-info/METADATA", kindPython},
		{"/usr/lib/python3/dist-packages/six-1.16.0.egg-info", kindPython},
		{"/usr/lib/python3/dist-packages/x.egg-info/PKG-INFO", kindPython},
		{"/app/node_modules/express/package.json", kindNpm},
		{"/app/node_modules/@types/node/package.json", kindNpm},
		{"/app/node_modules/express/node_modules/debug/package.json", kindNpm},
		{"/app/node_modules/express/lib/package.json", kindNone},
		{"/app/node_modules/@types/package.json", kindNone},
		{"/app/package.json", kindNone},
		{"/app/app.jar", kindJava},
		{"/srv/ROOT.war", kindJava},
	} {
		if got := classify(tt.path); got != tt.want {
			t.Errorf("classify(%s) = %d, want %d", tt.path, got, tt.want)
		}
	}
}

func TestPythonLicenses(t *testing.T) {
	for _, tt := range []struct {
		expr, lic   string
		classifiers []string
		want        []string
	}{
		{"MIT OR Apache-2.0", "BSD", nil, []string{"MIT OR Apache-2.0"}},
		{"", "Apache 2.0", []string{"MIT"}, []string{"Apache-2.0"}},
		{"", "Copyright (c) 2010 Someone", []string{"BSD-3-Clause"}, []string{"BSD-3-Clause"}},
		{"", "Copyright (c) 2010 Someone", nil, nil},
		{"", "UNKNOWN", nil, nil},
		{"", "Dual License", nil, []string{"Dual License"}},
	} {
		if got := pythonLicenses(tt.expr, tt.lic, tt.classifiers); !slices.Equal(got, tt.want) {
			t.Errorf("pythonLicenses(%q, %q, %q) = %q, want %q", tt.expr, tt.lic, tt.classifiers, got, tt.want)
		}
	}
}

func TestLayerSources(t *testing.T) {
	h := []v1.History{
		{CreatedBy: "/bin/sh -c #(nop) ADD file:abc in /"},
		{CreatedBy: `/bin/sh -c #(nop)  CMD ["bash"]`, EmptyLayer: true},
		{CreatedBy: "RUN /bin/sh -c apt-get install -y curl # buildkit"},
		{CreatedBy: "ENV A=b", EmptyLayer: true},
		{CreatedBy: "COPY app /app # buildkit"},
	}
	want := []string{"/bin/sh -c #(nop) ADD file:abc in /", "RUN /bin/sh -c apt-get install -y curl # buildkit", "COPY app /app # buildkit"}
	if got := layerSources(h, 3); !slices.Equal(got, want) {
		t.Errorf("layerSources = %q, want %q", got, want)
	}
	if got := layerSources(h, 4); !slices.Equal(got, []string{"", "", "", ""}) {
		t.Errorf("layerSources of a history that does not match = %q, want none", got)
	}
}

// TestHasGoBuildInfo: the three-read section check agrees with debug/elf
// on every file in /usr/bin and /usr/local/go/bin, and on Go binaries for
// a 32-bit and a big-endian target.
func TestHasGoBuildInfo(t *testing.T) {
	var files []string
	for _, dir := range []string{"/usr/bin", filepath.Join(runtime.GOROOT(), "bin")} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if e.Type().IsRegular() {
				files = append(files, filepath.Join(dir, e.Name()))
			}
		}
	}
	for _, arch := range []string{"386", "s390x"} {
		out := filepath.Join(t.TempDir(), "gobin-"+arch)
		cmd := exec.Command("go", "build", "-o", out, "./testdata/gobin")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building gobin for %s: %v\n%s", arch, err, msg)
		}
		files = append(files, out)
	}
	goBins := 0
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		want := false
		if ef, err := elf.NewFile(f); err == nil {
			want = ef.Section(".go.buildinfo") != nil
		}
		if got := hasGoBuildInfo(f); got != want {
			t.Errorf("hasGoBuildInfo(%s) = %v, want %v (debug/elf)", p, got, want)
		}
		if want {
			goBins++
		}
		f.Close()
	}
	if goBins < 3 {
		t.Errorf("%d Go binaries among %d files, want at least the go command and the two built", goBins, len(files))
	}
}

// FuzzHasGoBuildInfo: arbitrary bytes never panic or allocate without
// bound.
func FuzzHasGoBuildInfo(f *testing.F) {
	bin, err := os.ReadFile(filepath.Join(runtime.GOROOT(), "bin", "gofmt"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(bin[:4096])
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Add([]byte("#!/bin/sh\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		hasGoBuildInfo(bytes.NewReader(data))
	})
}
