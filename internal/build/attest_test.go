package build

import (
	"encoding/json"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/internal/attest"
)

// attestDockerfile adds an npm package in a COPY and a Go-free RUN.
const attestDockerfile = `FROM busybox
COPY node_modules/ /app/node_modules/
RUN echo built > /app/built
`

var attestFiles = map[string]string{
	"node_modules/express/package.json": `{"name":"express","version":"4.18.2","license":"MIT"}`,
	"node_modules/ms/package.json":      `{"name":"ms","version":"2.1.3","license":"MIT"}`,
}

// spdxDoc is the part of an SPDX document the tests read.
type spdxDoc struct {
	SPDXVersion string `json:"spdxVersion"`
	Packages    []struct {
		Name         string `json:"name"`
		VersionInfo  string `json:"versionInfo"`
		Comment      string `json:"comment"`
		ExternalRefs []struct {
			Locator string `json:"referenceLocator"`
		} `json:"externalRefs"`
	} `json:"packages"`
}

// TestAttestations: --sbom and --provenance=mode=max give an index whose
// attestation manifest per image holds an SPDX SBOM (the npm packages, with
// the Dockerfile line that added them) and SLSA provenance (the base image
// by digest, the Dockerfile by digest, the steps); a rebuild gives the same
// index digest.
func TestAttestations(t *testing.T) {
	f := newFixture(t)
	c := buildCase{dockerfile: attestDockerfile, files: attestFiles}
	res, err := f.buildWith(c, func(o *Options) {
		o.SBOM, o.Provenance, o.Names = true, attest.ModeMax, []string{"app:1"}
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Index == nil {
		t.Fatal("a single-platform build with attestations gave no index")
	}
	imgs, err := attest.Images(res.Index)
	if err != nil || len(imgs) != 1 || imgs[0].Digest != res.Digest {
		t.Fatalf("index images = %v, %v; want the one image %s", imgs, err, res.Digest)
	}
	stmts, err := attest.Find(res.Index, res.Digest)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stmts {
		if len(s.Subject) == 0 || s.Subject[0].Digest["sha256"] != res.Digest.Hex {
			t.Errorf("%s statement subject %v, want the image %s", s.PredicateType, s.Subject, res.Digest)
		}
	}
	raw, err := attest.FindPredicate(stmts, attest.PredicateSPDX)
	if err != nil {
		t.Fatal(err)
	}
	var doc spdxDoc
	if err := json.Unmarshal(raw, &doc); err != nil || doc.SPDXVersion != "SPDX-2.3" {
		t.Fatalf("SPDX document %v (%v): %.300s", doc.SPDXVersion, err, raw)
	}
	found := map[string]string{}
	for _, p := range doc.Packages {
		for _, r := range p.ExternalRefs {
			if strings.HasPrefix(r.Locator, "pkg:npm/") {
				found[r.Locator] = p.Comment
			}
		}
	}
	for _, purl := range []string{"pkg:npm/express@4.18.2", "pkg:npm/ms@2.1.3"} {
		if comment, ok := found[purl]; !ok {
			t.Errorf("SBOM lacks %s; npm packages found: %v", purl, found)
		} else if !strings.Contains(comment, "Dockerfile:2 COPY node_modules/ /app/node_modules/") {
			t.Errorf("%s comment %q, want the Dockerfile line that added it", purl, comment)
		}
	}

	raw, err = attest.FindPredicate(stmts, attest.PredicateSLSA1)
	if err != nil {
		t.Fatal(err)
	}
	prov, err := attest.DecodeProvenance(raw)
	if err != nil {
		t.Fatal(err)
	}
	busybox, _ := testBusyboxDigest(t, f)
	var deps []string
	for _, d := range prov.BuildDefinition.ResolvedDependencies {
		deps = append(deps, d.URI+"@"+d.Digest["sha256"])
	}
	if !strings.Contains(strings.Join(deps, " "), "pkg:docker/busybox@latest?platform=linux%2Famd64@"+busybox.Hex) {
		t.Errorf("provenance dependencies %v lack busybox %s", deps, busybox)
	}
	if got := prov.BuildDefinition.ExternalParameters.ConfigSource.Path; got != "Dockerfile" {
		t.Errorf("configSource.path = %q", got)
	}
	if bc := prov.BuildDefinition.InternalParameters.BuildConfig; bc == nil || len(bc.Steps) != 2 || bc.Steps[1].Line != 3 {
		t.Errorf("mode=max steps = %+v, want the COPY and the RUN (line 3)", bc)
	}

	again, err := f.buildWith(c, func(o *Options) {
		o.SBOM, o.Provenance, o.Names = true, attest.ModeMax, []string{"app:1"}
	})
	if err != nil {
		t.Fatal(err)
	}
	if again.IndexDigest != res.IndexDigest {
		t.Errorf("rebuild index %s, first %s: attestations are not reproducible", again.IndexDigest, res.IndexDigest)
	}
}

// testBusyboxDigest is the fixture's busybox:latest manifest digest.
func testBusyboxDigest(t *testing.T, f *fixture) (v1.Hash, error) {
	t.Helper()
	h, err := f.store.Resolve(t.Context(), "busybox:latest")
	if err != nil {
		t.Fatal(err)
	}
	return h, nil
}
