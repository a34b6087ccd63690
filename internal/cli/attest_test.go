package cli

import (
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"

	"github.com/strata-build/strata/internal/attest"
	"github.com/strata-build/strata/internal/testenv"
)

// attestContext is a context whose image carries two npm packages.
func attestContext(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeTestFile(t, dir, "Dockerfile", "FROM scratch\nCOPY node_modules/ /app/node_modules/\n")
	writeTestFile(t, filepath.Join(dir, "node_modules/express"), "package.json", `{"name":"express","version":"4.18.2","license":"MIT"}`)
	writeTestFile(t, filepath.Join(dir, "node_modules/ms"), "package.json", `{"name":"ms","version":"2.1.3","license":"MIT"}`)
	return dir
}

// TestBuildAttestations: --sbom --provenance=mode=max attach both to the
// image; they travel through a registry (push, pull into another store)
// and through save/load; a local output gets them as files.
func TestBuildAttestations(t *testing.T) {
	testenv.RequireRoot(t)
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	ref := strings.TrimPrefix(srv.URL, "http://") + "/me/app:1"
	root, local := t.TempDir(), filepath.Join(t.TempDir(), "out")
	mustStrata(t, root, nil, "build", "--progress=quiet", "--sbom", "--provenance=mode=max", "-t", ref, "--push",
		"--output", "type=local,dest="+local, attestContext(t))

	for name, want := range map[string]string{"sbom.spdx.json": attest.PredicateSPDX, "provenance.json": attest.PredicateSLSA1} {
		b, err := os.ReadFile(filepath.Join(local, name))
		if err != nil {
			t.Fatalf("local output: %v", err)
		}
		var s attest.Statement
		if err := json.Unmarshal(b, &s); err != nil || s.PredicateType != want || s.Type != "https://in-toto.io/Statement/v1" {
			t.Errorf("%s: %s statement (%v), want %s", name, s.PredicateType, err, want)
		}
		if name == "sbom.spdx.json" && !strings.Contains(string(b), "pkg:npm/express@4.18.2") {
			t.Errorf("%s lacks express", name)
		}
	}
	if _, err := os.Stat(filepath.Join(local, "app/node_modules/ms/package.json")); err != nil {
		t.Errorf("local output lacks the image's files: %v", err)
	}

	_, stderr, code := strata(t, root, nil, "build", "--progress=plain", "--sbom", "--provenance=mode=max", "-t", ref, attestContext(t))
	if code != 0 || !strings.Contains(stderr, "index of 1 platform\n") || !strings.Contains(stderr, "+ SBOM (SPDX 2.3), provenance (SLSA v1)") {
		t.Errorf("the build summary does not say what is attached (exit %d):\n%s", code, stderr)
	}

	pulled := t.TempDir()
	mustStrata(t, pulled, nil, "pull", ref)
	saved := filepath.Join(t.TempDir(), "app.tar")
	mustStrata(t, pulled, nil, "save", "--format", "oci", "-o", saved, ref)
	loaded := t.TempDir()
	mustStrata(t, loaded, nil, "load", "-i", saved)
	onePlatform := filepath.Join(t.TempDir(), "amd64.tar")
	mustStrata(t, root, nil, "save", "--format", "oci", "--platform", "linux/amd64", "-o", onePlatform, ref)
	loadedOne := t.TempDir()
	mustStrata(t, loadedOne, nil, "load", "-i", onePlatform)
	for name, r := range map[string]string{"built": root, "pulled": pulled, "loaded": loaded, "saved --platform": loadedOne} {
		out, stderr, code := strata(t, r, nil, "provenance", "--format", "summary", ref)
		if code != 0 || !strings.Contains(out, "Dockerfile") {
			t.Errorf("%s: strata provenance = exit %d\n%s%s", name, code, out, stderr)
		}
	}
}

// TestAttestFlags: buildx's spellings are read, and what strata cannot do
// is refused by name.
func TestAttestFlags(t *testing.T) {
	for _, tt := range []struct {
		sbom, prov string
		attest     []string
		wantSBOM   bool
		wantProv   string
		err        string
	}{
		{sbom: "true", wantSBOM: true},
		{prov: "true", wantProv: "min"},
		{prov: "mode=max", wantProv: "max"},
		{attest: []string{"type=sbom", "type=provenance,mode=max"}, wantSBOM: true, wantProv: "max"},
		{sbom: "true", attest: []string{"type=sbom,disabled=true"}},
		{prov: "false"},
		{attest: []string{"type=sbom,generator=docker/buildkit-syft-scanner"}, err: "generator= (a scanner image) is not supported"},
		{attest: []string{"type=vex"}, err: "type must be sbom or provenance"},
		{prov: "mode=full", err: "mode must be min or max"},
		{attest: []string{"type=sbom,scan-context=true"}, err: `unknown key "scan-context"`},
	} {
		sbom, prov, err := parseAttestations(tt.sbom, tt.prov, tt.attest)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parseAttestations(%q, %q, %q) = %v, want %q", tt.sbom, tt.prov, tt.attest, err, tt.err)
			}
			continue
		}
		if err != nil || sbom != tt.wantSBOM || prov != tt.wantProv {
			t.Errorf("parseAttestations(%q, %q, %q) = %v, %q, %v; want %v, %q", tt.sbom, tt.prov, tt.attest, sbom, prov, err, tt.wantSBOM, tt.wantProv)
		}
	}
}
