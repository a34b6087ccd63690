package sbom_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/strata-build/strata/internal/sbom"
)

func scan(t testing.TB, layers []sbom.Layer, opts sbom.Options) *sbom.SBOM {
	t.Helper()
	s, err := sbom.Scan(context.Background(), layers, opts)
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return s
}

// find returns the packages of type typ named name.
func find(s *sbom.SBOM, typ, name string) []sbom.Package {
	var out []sbom.Package
	for _, p := range s.Packages {
		if p.Type == typ && p.Name == name {
			out = append(out, p)
		}
	}
	return out
}

func TestScanPackages(t *testing.T) {
	s := scan(t, fixture(t), sbom.Options{})
	tests := []struct {
		typ, name, version, purl string
		licenses                 []string
		layer                    int
		path                     string
	}{
		{"deb", "base-files", "12.4+deb12u5", "pkg:deb/debian/base-files@12.4%2Bdeb12u5?arch=amd64&distro=debian-12", nil, 0, "/var/lib/dpkg/status"},
		{"deb", "curl", "7.88.1-10+deb12u5", "pkg:deb/debian/curl@7.88.1-10%2Bdeb12u5?arch=amd64&distro=debian-12", []string{"curl", "public-domain"}, 1, "/var/lib/dpkg/status"},
		{"deb", "libc6", "2.36-9+deb12u7", "pkg:deb/debian/libc6@2.36-9%2Bdeb12u7?arch=amd64&distro=debian-12", nil, 1, "/var/lib/dpkg/status"},
		{"npm", "express", "4.19.2", "pkg:npm/express@4.19.2", []string{"MIT"}, 2, "/app/node_modules/express/package.json"},
		{"npm", "@types/node", "20.11.5", "pkg:npm/%40types/node@20.11.5", []string{"MIT"}, 2, "/app/node_modules/@types/node/package.json"},
		{"pypi", "attrs", "24.2.0", "pkg:pypi/attrs@24.2.0", []string{"MIT"}, 2, "/opt/venv/lib/python3.11/site-packages/attrs-24.2.0.dist-info/METADATA"},
		{"maven", "demo", "0.0.1-SNAPSHOT", "pkg:maven/com.example/demo@0.0.1-SNAPSHOT", nil, 2, "/app/app.jar"},
		{"maven", "guava", "33.0.0-jre", "pkg:maven/com.google.guava/guava@33.0.0-jre", nil, 2, "/app/app.jar"},
		{"maven", "web", "2.1", "pkg:maven/com.example/web@2.1", nil, 2, "/srv/ROOT.war"},
		{"maven", "commons-lang3", "3.14.0", "pkg:maven/org.apache.commons/commons-lang3@3.14.0", nil, 2, "/srv/ROOT.war"},
		{"golang", "github.com/strata-build/strata", "(devel)", "pkg:golang/github.com/strata-build/strata", nil, 2, "/usr/local/bin/server"},
	}
	for _, tt := range tests {
		got := find(s, tt.typ, tt.name)
		if len(got) != 1 {
			t.Errorf("packages %s %s = %d, want 1 (all: %v)", tt.typ, tt.name, len(got), names(s))
			continue
		}
		p := got[0]
		if p.Version != tt.version || p.PURL != tt.purl || !slices.Equal(p.Licenses, tt.licenses) || p.Layer != tt.layer || p.Path != tt.path {
			t.Errorf("package %s %s = %s %s %v layer %d %s, want %s %s %v layer %d %s",
				tt.typ, tt.name, p.Version, p.PURL, p.Licenses, p.Layer, p.Path, tt.version, tt.purl, tt.licenses, tt.layer, tt.path)
		}
		if want := fixtureSource(tt.layer); p.Source != want {
			t.Errorf("package %s source = %q, want %q", tt.name, p.Source, want)
		}
	}
	if s.Distro.ID != "debian" || s.Distro.VersionID != "12" {
		t.Errorf("distro = %+v, want debian 12", s.Distro)
	}
}

func fixtureSource(layer int) string {
	return []string{"debian.sh", "Dockerfile:2 RUN apt-get install -y curl", "Dockerfile:5 COPY . /app"}[layer]
}

func names(s *sbom.SBOM) []string {
	var out []string
	for _, p := range s.Packages {
		out = append(out, p.Type+":"+p.Name)
	}
	return out
}

// TestScanRemoved: what a later layer deletes, hides or replaces is not in
// the SBOM, nor is what is not a package.
func TestScanRemoved(t *testing.T) {
	s := scan(t, fixture(t), sbom.Options{})
	for _, n := range []struct{ typ, name string }{
		{"npm", "left-pad"},      // whiteout
		{"pypi", "requests"},     // opaque dir
		{"pypi", "six"},          // opaque dir
		{"npm", "myapp"},         // the application's own package.json
		{"npm", "not-a-package"}, // not directly in node_modules
		{"deb", "gone"},          // removed, config files left
	} {
		if got := find(s, n.typ, n.name); len(got) != 0 {
			t.Errorf("%s %s found in %s, want it gone", n.typ, n.name, got[0].Path)
		}
	}
	for _, p := range s.Packages {
		if p.Path == "/usr/local/bin/tool" {
			t.Errorf("package %s from /usr/local/bin/tool, which a script replaced", p.Name)
		}
	}
}

// TestScanBeforeRemoval: the layers below the cleanup still have what it
// removes, with licences from each kind of metadata.
func TestScanBeforeRemoval(t *testing.T) {
	s := scan(t, fixture(t)[:3], sbom.Options{})
	for _, tt := range []struct {
		typ, name string
		licenses  []string
	}{
		{"npm", "left-pad", []string{"WTFPL"}},
		{"pypi", "requests", []string{"Apache-2.0"}},
		{"pypi", "six", []string{"MIT"}},
	} {
		got := find(s, tt.typ, tt.name)
		if len(got) != 1 || !slices.Equal(got[0].Licenses, tt.licenses) {
			t.Errorf("%s %s = %+v, want one with licences %v", tt.typ, tt.name, got, tt.licenses)
		}
	}
	if got := find(s, "golang", "github.com/strata-build/strata"); len(got) != 2 {
		t.Errorf("main modules = %d, want 2 (server and tool)", len(got))
	}
}

func TestScanGoBinary(t *testing.T) {
	s := scan(t, fixture(t), sbom.Options{})
	deps := find(s, "golang", "golang.org/x/sync")
	if len(deps) != 1 {
		t.Fatalf("golang.org/x/sync = %d packages, want 1 (from /usr/local/bin/server)", len(deps))
	}
	d := deps[0]
	if !strings.HasPrefix(d.PURL, "pkg:golang/golang.org/x/sync@v") || !strings.HasPrefix(d.Sum, "h1:") || !strings.HasPrefix(d.GoVersion, "go1.") || d.Main {
		t.Errorf("golang.org/x/sync = %+v, want a purl, h1: sum and Go version", d)
	}
	std := find(s, "golang", "stdlib")
	if len(std) != 1 || std[0].PURL != "pkg:golang/stdlib@"+strings.TrimPrefix(runtime.Version(), "go") {
		t.Errorf("stdlib = %+v, want pkg:golang/stdlib@%s", std, strings.TrimPrefix(runtime.Version(), "go"))
	}
	for _, p := range s.Packages {
		if p.Path == "/usr/local/bin/hello.sh" {
			t.Errorf("a shell script declares %s", p.Name)
		}
	}
}

// TestAttribution: a package belongs to the lowest layer of the unbroken
// run of layers whose status lists it at the same version.
func TestAttribution(t *testing.T) {
	l0 := newLayer(t).file("/var/lib/dpkg/status", dpkgStatus("a=1", "b=1", "c=1"), 0o644)
	l1 := newLayer(t).file("/var/lib/dpkg/status", dpkgStatus("a=1", "b=2"), 0o644) // c removed, b upgraded
	l2 := newLayer(t).file("/etc/hostname", "x\n", 0o644)                           // does not touch dpkg
	l3 := newLayer(t).file("/var/lib/dpkg/status", dpkgStatus("a=1", "b=2", "c=1", "d=1"), 0o644)
	s := scan(t, []sbom.Layer{l0.layer(0, "l0"), l1.layer(1, "l1"), l2.layer(2, "l2"), l3.layer(3, "l3")}, sbom.Options{})
	want := map[string]int{"a": 0, "b": 1, "c": 3, "d": 3}
	for name, layer := range want {
		got := find(s, "deb", name)
		if len(got) != 1 || got[0].Layer != layer || got[0].Source != "l"+string(rune('0'+layer)) {
			t.Errorf("deb %s = %+v, want layer %d", name, got, layer)
		}
	}
	// A whiteout of the status file breaks the run.
	wo := newLayer(t).whiteout("/var/lib/dpkg/status")
	l5 := newLayer(t).file("/var/lib/dpkg/status", dpkgStatus("a=1"), 0o644)
	s = scan(t, []sbom.Layer{l0.layer(0, "l0"), wo.layer(1, "wo"), l5.layer(2, "l5")}, sbom.Options{})
	if got := find(s, "deb", "a"); len(got) != 1 || got[0].Layer != 2 {
		t.Errorf("deb a after a whiteout = %+v, want layer 2", got)
	}
}

func TestOpaqueUserXattr(t *testing.T) {
	l0 := newLayer(t).file("/srv/node_modules/x/package.json", `{"name":"x","version":"1.0.0"}`, 0o644)
	l1 := newLayer(t).opaque("/srv/node_modules", "user.overlay.opaque").
		file("/srv/node_modules/y/package.json", `{"name":"y","version":"2.0.0"}`, 0o644)
	s := scan(t, []sbom.Layer{l0.layer(0, "l0"), l1.layer(1, "l1")}, sbom.Options{})
	if got := names(s); !slices.Equal(got, []string{"npm:y"}) {
		t.Errorf("packages = %v, want [npm:y]", got)
	}
}

// TestCache: a warm scan reads only the cache (the layer dirs are gone),
// records are named by diff ID, and a record of another scanner version is
// not used.
func TestCache(t *testing.T) {
	layers := fixture(t)
	cache := t.TempDir()
	cold := scan(t, layers, sbom.Options{CacheDir: cache, Jobs: 2})
	for _, l := range layers {
		if _, err := os.Stat(filepath.Join(cache, l.DiffID.Hex+".json")); err != nil {
			t.Errorf("no cache record for layer %s: %v", l.Source, err)
		}
		if err := os.RemoveAll(l.Dir); err != nil {
			t.Fatal(err)
		}
	}
	warm := scan(t, layers, sbom.Options{CacheDir: cache})
	if a, b := spdx(t, cold), spdx(t, warm); !bytes.Equal(a, b) {
		t.Errorf("warm SPDX differs from cold:\n%s\nwant\n%s", b, a)
	}
	// An older record is rescanned: its layer dir is gone, so that fails.
	rec := filepath.Join(cache, layers[0].DiffID.Hex+".json")
	data, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	old := bytes.Replace(data, []byte(`"scanner":`), []byte(`"scanner":0,"x":`), 1)
	if err := os.WriteFile(rec, old, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := sbom.Scan(context.Background(), layers, sbom.Options{CacheDir: cache}); err == nil {
		t.Errorf("Scan with an old record and no layer dir succeeded; want it to rescan (and fail)")
	}
}

func spdx(t testing.TB, s *sbom.SBOM) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := sbom.WriteSPDX(&buf, s, docOptions()); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func cyclonedx(t testing.TB, s *sbom.SBOM) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := sbom.WriteCycloneDX(&buf, s, docOptions()); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func docOptions() sbom.DocumentOptions {
	return sbom.DocumentOptions{
		Name:   "example.com/app:1.0",
		Digest: "sha256:4a8d0c1e4d1d8f9ab1ab8d6b4b5d4f6a5e2d8c6b4a3f2e1d0c9b8a7f6e5d4c3b",
		Tool:   "strata-test",
	}
}

// TestDeterministic: two scans of the same layers, each from an empty
// cache, give the same bytes in every format.
func TestDeterministic(t *testing.T) {
	layers := fixture(t)
	a := scan(t, layers, sbom.Options{CacheDir: t.TempDir(), Jobs: 1})
	b := scan(t, layers, sbom.Options{CacheDir: t.TempDir(), Jobs: 4})
	if !bytes.Equal(spdx(t, a), spdx(t, b)) {
		t.Error("two SPDX documents of the same layers differ")
	}
	if !bytes.Equal(cyclonedx(t, a), cyclonedx(t, b)) {
		t.Error("two CycloneDX BOMs of the same layers differ")
	}
	var ta, tb bytes.Buffer
	if err := sbom.WriteTable(&ta, a); err != nil {
		t.Fatal(err)
	}
	if err := sbom.WriteTable(&tb, b); err != nil {
		t.Fatal(err)
	}
	if ta.String() != tb.String() {
		t.Error("two tables of the same layers differ")
	}
}

func TestWriteTable(t *testing.T) {
	s := scan(t, fixture(t), sbom.Options{})
	var buf bytes.Buffer
	if err := sbom.WriteTable(&buf, s); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"TYPE", "deb     curl", "7.88.1-10+deb12u5", "Dockerfile:2 RUN apt-get install -y curl",
		"com.google.guava:guava", "(Debian GNU/Linux 12 (bookworm))",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "3 deb") || !strings.Contains(out, "4 maven") || !strings.Contains(out, "2 npm") {
		t.Errorf("table counts wrong:\n%s", out)
	}
}

const apkInstalled = `C:Q1nlVPFjC5N+pDUmD0Ya0tXg3hs3E=
P:musl
V:1.2.5-r0
A:x86_64
S:411356
I:641024
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Natanael Copa <ncopa@alpinelinux.org>
t:1712670455
c:f93af038c3de7146121c2ea8124ba5ce29b4b058
F:lib
R:ld-musl-x86_64.so.1

C:Q1oTJ8vF0I0xfcDsbt58B1ujY1kUE=
P:busybox
V:1.36.1-r29
A:x86_64
L:GPL-2.0-only
o:busybox

C:Q1abc=
P:ca-certificates-bundle
V:20240705-r0
A:x86_64
L:MPL-2.0 AND MIT
o:ca-certificates
`

const alpineOSRelease = `NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.20.3
PRETTY_NAME="Alpine Linux v3.20"
`

func TestScanAlpine(t *testing.T) {
	l := newLayer(t).
		file("/etc/os-release", alpineOSRelease, 0o644).
		file("/lib/apk/db/installed", apkInstalled, 0o644)
	s := scan(t, []sbom.Layer{l.layer(0, "alpine")}, sbom.Options{})
	for _, tt := range []struct {
		name, purl string
		licenses   []string
	}{
		{"musl", "pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64&distro=alpine-3.20.3", []string{"MIT"}},
		{"busybox", "pkg:apk/alpine/busybox@1.36.1-r29?arch=x86_64&distro=alpine-3.20.3", []string{"GPL-2.0-only"}},
		{"ca-certificates-bundle", "pkg:apk/alpine/ca-certificates-bundle@20240705-r0?arch=x86_64&distro=alpine-3.20.3&upstream=ca-certificates", []string{"MPL-2.0 AND MIT"}},
	} {
		got := find(s, "apk", tt.name)
		if len(got) != 1 || got[0].PURL != tt.purl || !slices.Equal(got[0].Licenses, tt.licenses) {
			t.Errorf("apk %s = %+v, want %s %v", tt.name, got, tt.purl, tt.licenses)
		}
	}
	if out := cyclonedx(t, s); !bytes.Contains(out, []byte(`"expression": "MPL-2.0 AND MIT"`)) {
		t.Errorf("CycloneDX lacks the licence expression:\n%s", out)
	}
}

// TestScanDistroless: distroless writes one status file per package in
// status.d (next to .md5sums files); each counts, and a later layer that
// deletes one file removes that package alone.
func TestScanDistroless(t *testing.T) {
	base := newLayer(t).
		file("/usr/lib/os-release", debianOSRelease, 0o644).
		file("/var/lib/dpkg/status.d/libc6", "Package: libc6\nVersion: 2.36-9+deb12u7\nArchitecture: amd64\nSource: glibc\n", 0o644).
		file("/var/lib/dpkg/status.d/libc6.md5sums", "d41d8cd98f00b204e9800998ecf8427e  lib/x86_64-linux-gnu/libc.so.6\n", 0o644).
		file("/var/lib/dpkg/status.d/tzdata", "Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n", 0o644)
	drop := newLayer(t).whiteout("/var/lib/dpkg/status.d/tzdata")
	s := scan(t, []sbom.Layer{base.layer(0, "distroless"), drop.layer(1, "rm tzdata")}, sbom.Options{})
	if got := names(s); !slices.Equal(got, []string{"deb:libc6"}) {
		t.Errorf("packages = %v, want [deb:libc6]", got)
	}
	if p := find(s, "deb", "libc6"); len(p) == 1 && p[0].Path != "/var/lib/dpkg/status.d/libc6" {
		t.Errorf("libc6 path = %s, want /var/lib/dpkg/status.d/libc6", p[0].Path)
	}
}

func TestDiff(t *testing.T) {
	layers := fixture(t)
	before := scan(t, layers[:3], sbom.Options{})
	after := scan(t, layers, sbom.Options{})
	c := sbom.Diff(before, after)
	var removed []string
	for _, p := range c.Removed {
		removed = append(removed, p.Type+":"+p.Name)
	}
	if want := []string{"npm:left-pad", "pypi:requests", "pypi:six"}; !slices.Equal(removed, want) || len(c.Added) != 0 {
		t.Errorf("Diff = added %v, removed %v; want nothing added, %v removed", c.Added, removed, want)
	}
}

func TestScanNoDir(t *testing.T) {
	_, err := sbom.Scan(context.Background(), []sbom.Layer{{DiffID: fakeDiffID(0, "x")}}, sbom.Options{CacheDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "no directory") {
		t.Errorf("Scan of a layer without a dir or record = %v, want an error", err)
	}
}
