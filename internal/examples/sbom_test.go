package examples_test

import (
	"archive/tar"
	"cmp"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/pelletier/go-toml/v2"

	"github.com/strata-build/strata/internal/attest"
)

// sbomCase is what the SBOM attached to an example's multi-stage image must
// say, against the image's runtime base and its traditional image.
type sbomCase struct {
	example string   // directory under examples/
	args    []string // extra build args of the multi-stage Dockerfile
	base    string   // the multi-stage Dockerfile's runtime base, in the store after the build (its packages are not the Dockerfile's)
	// added are the packages the Dockerfile adds to base, "type:name@version"
	// with path.Match patterns in the version: exactly these, nothing else
	// (so no package of a build stage).
	added func(t *testing.T, dir string) []string
	// debs are Debian packages the multi-stage image lists (its base's).
	debs []string
	// buildOnly are packages of the build stages ("type:name", or with
	// "@version" as in added): the traditional image lists each (so the
	// check can fail), the multi-stage image none.
	buildOnly func(t *testing.T, dir string) []string
}

// The runtime bases. The distroless stand-ins (bases/distroless) unpack
// Debian packages without dpkg's database, unlike gcr.io/distroless, which
// keeps one file per package in /var/lib/dpkg/status.d: their images list no
// Debian package here.
var sbomCases = []sbomCase{
	{
		example: "go",
		args:    []string{"--platform", "linux/amd64"},
		base:    "gcr.io/" + distrolessStatic,
		added:   goAdded,
		// the golang stand-in is Debian's build-essential set plus the host's
		// Go tree in /usr/local/go (no deb, and its binaries have no main module)
		buildOnly: fixed("deb:gcc", "deb:g++", "deb:cpp", "deb:libc6-dev", "deb:make", "deb:git"),
	},
	{
		example: "node",
		base:    "gcr.io/distroless/nodejs18-debian12:nonroot",
		added:   npmAdded,
		buildOnly: func(t *testing.T, dir string) []string {
			return append(npmDev(t, dir), "deb:npm", "deb:build-essential", "deb:gcc", "deb:g++", "deb:python3", "deb:git")
		},
	},
	{
		example:   "python",
		base:      "python:3.11-slim-bookworm",
		added:     pythonAdded,
		debs:      []string{"libc6", "python3.11", "libpython3.11-stdlib", "ca-certificates"},
		buildOnly: fixed("deb:python3-poetry", "deb:python3-poetry-core", "deb:build-essential", "deb:gcc", "deb:python3-dev", "deb:git", "pypi:poetry", "pypi:poetry-core", "pypi:cleo", "pypi:dulwich"),
	},
	{
		example: "java",
		base:    "debian:bookworm-slim",
		added:   mavenAdded,
		debs:    []string{"libc6", "zlib1g", "base-files"},
		buildOnly: fixed("deb:maven", "deb:openjdk-17-jdk-headless", "deb:openjdk-17-jre-headless", "deb:libmaven-compiler-plugin-java", "deb:git",
			"maven:org.apache.maven.plugins:maven-compiler-plugin", "maven:org.apache.maven.plugins:maven-jar-plugin",
			"maven:org.apache.maven.plugins:maven-resources-plugin", "maven:org.apache.maven.plugins:maven-surefire-plugin",
			"maven:org.apache.maven:maven-core"),
	},
}

func fixed(names ...string) func(*testing.T, string) []string {
	return func(*testing.T, string) []string { return names }
}

// exampleSBOMs builds each example both ways with --sbom (the Go images are
// already built, with --sbom, by TestExamples: these builds are cached) and
// checks the SBOM attestation of each.
func exampleSBOMs(t *testing.T, s strata) {
	for _, tc := range sbomCases {
		t.Run(tc.example, func(t *testing.T) {
			dir := filepath.Join(repoRoot(t), "examples", tc.example)
			multi, trad := tc.example+"-example:multistage", tc.example+"-example:traditional"
			for _, b := range []struct {
				image string
				args  []string
			}{{multi, tc.args}, {trad, []string{"-f", filepath.Join(dir, "Dockerfile.traditional")}}} {
				start := time.Now()
				args := append([]string{"build", "--progress=quiet", "--sbom", "-t", b.image}, b.args...)
				s.run(t, append(args, dir)...)
				t.Logf("built %s with --sbom in %s", b.image, time.Since(start).Round(100*time.Millisecond))
			}
			ms := attachedSBOM(t, s, multi)
			checkSPDX(t, multi, ms)
			if scanned := scannedSBOM(t, s, multi); !slices.Equal(ms.keys(), scanned.keys()) {
				t.Errorf("%s: attached SBOM packages = %v, strata sbom --format spdx-json = %v", multi, ms.keys(), scanned.keys())
			}
			added := ms.minus(scannedSBOM(t, s, tc.base))
			checkAdded(t, multi, added, tc.added(t, dir))
			for _, d := range tc.debs {
				if !ms.has("deb:" + d) {
					t.Errorf("%s SBOM has no Debian package %s (from %s)", multi, d, tc.base)
				}
			}

			ts := attachedSBOM(t, s, trad)
			checkSPDX(t, trad, ts)
			for _, p := range tc.buildOnly(t, dir) {
				if !ts.has(p) {
					t.Errorf("%s SBOM has no %s: the build-only package check cannot fail", trad, p)
				}
				if ms.has(p) {
					t.Errorf("%s SBOM has %s, a package of a build stage only", multi, p)
				}
			}
			t.Logf("%s: %d packages (%d added to %s); %s: %d packages", multi, len(ms.pkgs), len(added), tc.base, trad, len(ts.pkgs))
		})
	}
}

// checkAdded checks the packages a Dockerfile added to its base against
// want ("type:name@version", the version a path.Match pattern): every
// package matches a pattern, and every pattern at least one package.
func checkAdded(t *testing.T, image string, added []spdxPackage, want []string) {
	t.Helper()
	used := map[string]bool{}
	for _, p := range added {
		ok := false
		for _, w := range want {
			if p.matches(w) {
				ok, used[w] = true, true
			}
		}
		if !ok {
			t.Errorf("%s SBOM lists %s (%s), which the example does not ship", image, p.key(), p.SourceInfo)
		}
	}
	for _, w := range want {
		if !used[w] {
			t.Errorf("%s SBOM lists no %s", image, w)
		}
	}
}

// goAdded: the server binary's main module, its required modules and the
// standard library of the go.mod's Go version.
func goAdded(t *testing.T, dir string) []string {
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	block := false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(strings.TrimSpace(strings.Split(line, "//")[0]))
		switch {
		case len(f) == 0:
		case f[0] == "module" && len(f) == 2:
			out = append(out, "golang:"+f[1]+"@*")
		case f[0] == "go" && len(f) == 2:
			out = append(out, "golang:stdlib@"+f[1]+"*")
		case f[0] == "require" && len(f) == 2 && f[1] == "(":
			block = true
		case f[0] == ")":
			block = false
		case f[0] == "require" && len(f) >= 3:
			out = append(out, "golang:"+f[1]+"@"+f[2])
		case block && len(f) >= 2:
			out = append(out, "golang:"+f[0]+"@"+f[1])
		}
	}
	return out
}

// packageLock is the part of an npm lock file (version 2 or 3) read here.
type packageLock struct {
	Packages map[string]struct {
		Version string `json:"version"`
		Dev     bool   `json:"dev"`
	} `json:"packages"`
}

func npmLock(t *testing.T, dir string, dev bool) []string {
	b, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	var lock packageLock
	if err := json.Unmarshal(b, &lock); err != nil {
		t.Fatalf("decoding package-lock.json: %v", err)
	}
	var out []string
	for k, p := range lock.Packages {
		i := strings.LastIndex(k, "node_modules/")
		if i < 0 || p.Dev != dev {
			continue // the root package, or the other kind
		}
		out = append(out, "npm:"+k[i+len("node_modules/"):]+"@"+p.Version)
	}
	if len(out) == 0 {
		t.Fatalf("package-lock.json has no packages with dev=%v", dev)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// npmAdded: the locked production dependencies (npm ci --omit=dev).
func npmAdded(t *testing.T, dir string) []string { return npmLock(t, dir, false) }

// npmDev: the locked devDependencies (supertest and its own), but a name
// and version that production needs too (ms 2.1.3 under send and under
// superagent).
func npmDev(t *testing.T, dir string) []string {
	prod := npmLock(t, dir, false)
	return slices.DeleteFunc(npmLock(t, dir, true), func(p string) bool { return slices.Contains(prod, p) })
}

// pythonAdded: the poetry.lock packages of the main group, the app's own
// distribution (pyproject.toml), and the pip and setuptools that
// `python3 -m venv` seeds into /opt/venv (ensurepip, Python 3.11).
func pythonAdded(t *testing.T, dir string) []string {
	var lock struct {
		Package []struct {
			Name     string   `toml:"name"`
			Version  string   `toml:"version"`
			Category string   `toml:"category"` // lock format 1
			Groups   []string `toml:"groups"`   // lock format 2.1
			Optional bool     `toml:"optional"`
		} `toml:"package"`
	}
	readTOML(t, filepath.Join(dir, "poetry.lock"), &lock)
	var project struct {
		Tool struct {
			Poetry struct{ Name, Version string } `toml:"poetry"`
		} `toml:"tool"`
	}
	readTOML(t, filepath.Join(dir, "pyproject.toml"), &project)
	if project.Tool.Poetry.Name == "" {
		t.Fatal("pyproject.toml has no [tool.poetry] name")
	}
	out := []string{
		"pypi:" + project.Tool.Poetry.Name + "@" + project.Tool.Poetry.Version,
		"pypi:pip@*", "pypi:setuptools@*",
	}
	for _, p := range lock.Package {
		main := p.Category == "main" || slices.Contains(p.Groups, "main") || (p.Category == "" && len(p.Groups) == 0)
		if main && !p.Optional {
			out = append(out, "pypi:"+pep503(p.Name)+"@"+p.Version)
		}
	}
	return out
}

// pep503 is a Python distribution name normalised as in purls.
func pep503(name string) string {
	return strings.NewReplacer("_", "-", ".", "-").Replace(strings.ToLower(name))
}

func readTOML(t *testing.T, file string, v any) {
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := toml.Unmarshal(b, v); err != nil {
		t.Fatalf("decoding %s: %v", file, err)
	}
}

// mavenAdded: the app's artifact and the compile and runtime dependencies
// of its pom (none today: the jar is not shaded, so a dependency added to
// the pom must also reach the image).
func mavenAdded(t *testing.T, dir string) []string {
	b, err := os.ReadFile(filepath.Join(dir, "pom.xml"))
	if err != nil {
		t.Fatal(err)
	}
	type coord struct {
		GroupID    string `xml:"groupId"`
		ArtifactID string `xml:"artifactId"`
		Version    string `xml:"version"`
		Scope      string `xml:"scope"`
	}
	var pom struct {
		coord
		Dependencies []coord `xml:"dependencies>dependency"`
	}
	if err := xml.Unmarshal(b, &pom); err != nil {
		t.Fatalf("decoding pom.xml: %v", err)
	}
	out := []string{"maven:" + pom.GroupID + ":" + pom.ArtifactID + "@" + pom.Version}
	for _, d := range pom.Dependencies {
		if d.Scope == "" || d.Scope == "compile" || d.Scope == "runtime" {
			out = append(out, "maven:"+d.GroupID+":"+d.ArtifactID+"@"+d.Version)
		}
	}
	return out
}

// spdxDoc is the part of an SPDX 2.3 JSON document read here.
type spdxDoc struct {
	SPDXVersion string        `json:"spdxVersion"`
	Name        string        `json:"name"`
	Packages    []spdxPackage `json:"packages"`
	pkgs        []spdxPackage // Packages but the image itself
}

type spdxPackage struct {
	Name         string `json:"name"`
	SPDXID       string `json:"SPDXID"`
	VersionInfo  string `json:"versionInfo"`
	SourceInfo   string `json:"sourceInfo"`
	Purpose      string `json:"primaryPackagePurpose"`
	ExternalRefs []struct {
		Category string `json:"referenceCategory"`
		Type     string `json:"referenceType"`
		Locator  string `json:"referenceLocator"`
	} `json:"externalRefs"`
}

func (p spdxPackage) purl() string {
	for _, r := range p.ExternalRefs {
		if r.Type == "purl" {
			return r.Locator
		}
	}
	return ""
}

// typ is the purl's type: deb, npm, pypi, golang, maven...
func (p spdxPackage) typ() string {
	typ, _, _ := strings.Cut(strings.TrimPrefix(p.purl(), "pkg:"), "/")
	return typ
}

func (p spdxPackage) key() string { return p.typ() + ":" + p.Name + "@" + p.VersionInfo }

// matches reports whether p is want, "type:name" or "type:name@pattern"
// (path.Match on the version).
func (p spdxPackage) matches(want string) bool {
	name, pattern, _ := strings.Cut(want, "@")
	if n, ok := strings.CutPrefix(want, "npm:@"); ok { // a scoped npm name: the version follows the second @
		n, pattern, _ = strings.Cut(n, "@")
		name = "npm:@" + n
	}
	ok, err := path.Match(cmp.Or(pattern, "*"), p.VersionInfo)
	return err == nil && ok && p.typ()+":"+p.Name == name
}

// has reports whether d lists a package matching want (see matches).
func (d spdxDoc) has(want string) bool {
	return slices.ContainsFunc(d.pkgs, func(p spdxPackage) bool { return p.matches(want) })
}

// keys are the packages as "type:name@version", sorted, with repeats (a
// package found in two places).
func (d spdxDoc) keys() []string {
	var out []string
	for _, p := range d.pkgs {
		out = append(out, p.key())
	}
	slices.Sort(out)
	return out
}

// minus is d's packages that base does not have at the same place.
func (d spdxDoc) minus(base spdxDoc) []spdxPackage {
	in := map[string]bool{}
	for _, p := range base.pkgs {
		in[p.key()+" "+p.SourceInfo] = true
	}
	var out []spdxPackage
	for _, p := range d.pkgs {
		if !in[p.key()+" "+p.SourceInfo] {
			out = append(out, p)
		}
	}
	return out
}

func decodeSPDX(t *testing.T, what string, b []byte) spdxDoc {
	t.Helper()
	var d spdxDoc
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("decoding the SPDX document of %s: %v", what, err)
	}
	for _, p := range d.Packages {
		if p.Purpose != "CONTAINER" {
			d.pkgs = append(d.pkgs, p)
		}
	}
	return d
}

// checkSPDX checks that d is an SPDX 2.3 document of the image's packages,
// each with a package URL of its type, name and version.
func checkSPDX(t *testing.T, image string, d spdxDoc) {
	t.Helper()
	if d.SPDXVersion != "SPDX-2.3" {
		t.Errorf("%s SBOM spdxVersion = %q, want SPDX-2.3", image, d.SPDXVersion)
	}
	if len(d.pkgs) == 0 {
		t.Fatalf("%s SBOM lists no package", image)
	}
	if len(d.Packages) != len(d.pkgs)+1 {
		t.Errorf("%s SBOM has %d CONTAINER packages, want 1 (the image)", image, len(d.Packages)-len(d.pkgs))
	}
	bad := 0
	for _, p := range d.pkgs {
		if err := p.checkPURL(); err != nil {
			if bad++; bad <= 5 {
				t.Errorf("%s SBOM package %s %s: %v", image, p.Name, p.VersionInfo, err)
			}
		}
	}
}

// checkPURL checks that p has a package URL whose name is p's name (its
// last part: a Maven artifact, an npm name without scope, a Go module
// path's last element) and whose version is p's version.
func (p spdxPackage) checkPURL() error {
	u := p.purl()
	rest, ok := strings.CutPrefix(u, "pkg:")
	if !ok || p.typ() == "" {
		return fmt.Errorf("purl %q, want pkg:TYPE/...", u)
	}
	rest, _, _ = strings.Cut(rest, "#")
	rest, _, _ = strings.Cut(rest, "?")
	nameVer := rest[strings.LastIndex(rest, "/")+1:]
	name, version, hasVersion := strings.Cut(nameVer, "@")
	name, err1 := url.PathUnescape(name)
	version, err2 := url.PathUnescape(version)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("purl %q: %w", u, err)
	}
	want := p.Name[strings.LastIndexAny(p.Name, "/:")+1:]
	if p.typ() == "pypi" {
		want = pep503(want)
	}
	switch {
	case name != want:
		return fmt.Errorf("purl %q names %q, want %q", u, name, want)
	case hasVersion && version != p.VersionInfo:
		return fmt.Errorf("purl %q has version %q, want %q", u, version, p.VersionInfo)
	case !hasVersion && p.VersionInfo != "" && p.VersionInfo != "(devel)":
		return fmt.Errorf("purl %q has no version, want %q", u, p.VersionInfo)
	}
	return nil
}

// attachedSBOM is the SPDX predicate of the SBOM attestation of image, as
// strata save --format oci writes it: the image index, its image manifest
// and the attestation manifest pointing at it.
func attachedSBOM(t *testing.T, s strata, image string) spdxDoc {
	t.Helper()
	dir := t.TempDir()
	archive := filepath.Join(dir, "image.tar")
	s.run(t, "save", "--format", "oci", "-o", archive, image)
	untar(t, archive, filepath.Join(dir, "oci"))
	lp, err := layout.FromPath(filepath.Join(dir, "oci"))
	if err != nil {
		t.Fatal(err)
	}
	top, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	m, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 || !m.Manifests[0].MediaType.IsIndex() {
		t.Fatalf("%s saved as an OCI layout whose index.json = %+v, want one image index (built with --sbom)", image, m.Manifests)
	}
	idx, err := top.ImageIndex(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := attest.Images(idx)
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 1 {
		t.Fatalf("%s index has %d images, want 1", image, len(imgs))
	}
	stmts, err := attest.Find(idx, imgs[0].Digest)
	if err != nil {
		t.Fatalf("%s: attestations of %s: %v", image, imgs[0].Digest, err)
	}
	pred, err := attest.FindPredicate(stmts, attest.PredicateSPDX)
	if err != nil {
		t.Fatalf("%s: %v", image, err)
	}
	return decodeSPDX(t, image+" (attestation)", pred)
}

// scannedSBOM is strata sbom IMAGE --format spdx-json.
func scannedSBOM(t *testing.T, s strata, image string) spdxDoc {
	t.Helper()
	ctx := t.Context()
	out, err := s.cmd(ctx, "sbom", "--format", "spdx-json", image).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("strata sbom %s: %v\n%s", image, err, ee.Stderr)
		}
		t.Fatalf("strata sbom %s: %v", image, err)
	}
	return decodeSPDX(t, image, out)
}

func untar(t *testing.T, archive, dir string) {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("reading %s: %v", archive, err)
		}
		name := filepath.Join(dir, filepath.FromSlash(path.Clean("/"+h.Name)))
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(name, 0o755)
		case tar.TypeReg:
			if err = os.MkdirAll(filepath.Dir(name), 0o755); err == nil {
				err = writeFile(name, tr)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func writeFile(name string, r io.Reader) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
