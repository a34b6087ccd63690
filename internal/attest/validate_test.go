package attest_test

import (
	"encoding/json"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	provenancetypes "github.com/moby/buildkit/solver/llbsolver/provenance/types"
	"github.com/moby/buildkit/util/purl"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/strata-build/strata/internal/attest"
	"google.golang.org/protobuf/encoding/protojson"
)

// TestDockerPURLMatchesBuildKit holds DockerPURL to BuildKit's own
// purl.RefToPURL, which names attestation subjects and materials.
func TestDockerPURLMatchesBuildKit(t *testing.T) {
	plats := []*v1.Platform{nil, {OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64", Variant: "v8"}, {OS: "linux", Architecture: "arm"}}
	refs := []string{
		"alpine", "alpine:3.20", "library/alpine:3.20", "docker.io/library/alpine:3.20",
		"user/app", "ghcr.io/org/app:v1", "localhost:5000/a/b/c:dev",
		"gcr.io/distroless/static@sha256:" + sha('a'),
		"golang:1.23@sha256:" + sha('b'),
	}
	for _, ref := range refs {
		for _, p := range plats {
			got, err := attest.DockerPURL(ref, p)
			if err != nil {
				t.Errorf("DockerPURL(%q) error %v", ref, err)
				continue
			}
			var op *ocispec.Platform
			if p != nil {
				op = &ocispec.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant}
			}
			want, err := purl.RefToPURL("docker", ref, op)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("DockerPURL(%q, %v) = %s, want %s", ref, p, got, want)
			}
		}
	}
}

func sha(c byte) string {
	b := make([]byte, 64)
	for i := range b {
		b[i] = c
	}
	return string(b)
}

// TestStatementsValidate checks every statement Index writes, and the
// provenance predicate in both modes, with the in-toto attestation
// framework's own validators.
func TestStatementsValidate(t *testing.T) {
	for _, names := range [][]string{{"example.com/app:1.0", "app"}, nil} {
		img := testImage(t, "a")
		var preds []attest.Predicate
		for _, mode := range []string{attest.ModeMin, attest.ModeMax} {
			raw, err := attest.Provenance(sampleInfo(t), mode)
			if err != nil {
				t.Fatal(err)
			}
			preds = append(preds, attest.Predicate{Type: attest.PredicateSLSA1, Data: raw})
		}
		preds = append(preds,
			attest.Predicate{Type: attest.PredicateSPDX, Data: []byte(`{"spdxVersion":"SPDX-2.3"}`)},
			attest.Predicate{Type: attest.PredicateCycloneDX, Data: []byte(`{"bomFormat":"CycloneDX"}`)})
		idx, err := attest.Index([]attest.Entry{{Image: img, Platform: amd64, Names: names, Predicates: preds}}, attest.FormArtifact)
		if err != nil {
			t.Fatal(err)
		}
		h, _ := img.Digest()
		stmts, err := attest.Find(idx, h)
		if err != nil {
			t.Fatal(err)
		}
		if len(stmts) != len(preds) {
			t.Fatalf("Find = %d statements, want %d", len(stmts), len(preds))
		}
		for _, s := range stmts {
			raw, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			var st intoto.Statement
			if err := protojson.Unmarshal(raw, &st); err != nil {
				t.Fatalf("protojson.Unmarshal(statement) error %v\n%s", err, raw)
			}
			if err := st.Validate(); err != nil {
				t.Errorf("statement %s (names %v): Validate() = %v\n%s", s.PredicateType, names, err, raw)
			}
			if s.PredicateType != attest.PredicateSLSA1 {
				continue
			}
			var p slsa.Provenance
			if err := protojson.Unmarshal(protoShaped(t, s.Predicate), &p); err != nil {
				t.Fatalf("protojson.Unmarshal(provenance) error %v\n%s", err, s.Predicate)
			}
			if err := p.Validate(); err != nil {
				t.Errorf("provenance: Validate() = %v\n%s", err, s.Predicate)
			}
		}
	}
}

// protoShaped is a provenance predicate as the in-toto proto reads it
// strictly: BuildKit's buildkit_* metadata extensions left out, and
// invocationID (the SLSA v1 spec's and BuildKit's spelling) as the proto's
// invocationId. Anything else unknown fails the strict parse.
func protoShaped(t *testing.T, raw []byte) []byte {
	t.Helper()
	var p map[string]any
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	rd, _ := p["runDetails"].(map[string]any)
	if md, ok := rd["metadata"].(map[string]any); ok {
		for k := range md {
			if strings.HasPrefix(k, "buildkit_") {
				delete(md, k)
			}
		}
		if id, ok := md["invocationID"]; ok {
			delete(md, "invocationID")
			md["invocationId"] = id
		}
	}
	out, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestProvenanceReadsAsBuildKit decodes the predicate with BuildKit's own
// types, as buildx imagetools and docker buildx history read provenance.
func TestProvenanceReadsAsBuildKit(t *testing.T) {
	raw, err := attest.Provenance(sampleInfo(t), attest.ModeMax)
	if err != nil {
		t.Fatal(err)
	}
	var p provenancetypes.ProvenancePredicateSLSA1
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatalf("decoding as BuildKit's predicate: %v", err)
	}
	md := p.RunDetails.Metadata
	switch {
	case p.BuildDefinition.ExternalParameters.Request.Frontend != "dockerfile.v0":
		t.Errorf("request.frontend = %q, want dockerfile.v0", p.BuildDefinition.ExternalParameters.Request.Frontend)
	case p.BuildDefinition.ExternalParameters.ConfigSource.Path != "Dockerfile":
		t.Errorf("configSource.path = %q, want Dockerfile", p.BuildDefinition.ExternalParameters.ConfigSource.Path)
	case len(p.BuildDefinition.ExternalParameters.Request.Secrets) != 1 || p.BuildDefinition.ExternalParameters.Request.Secrets[0].ID != "netrc":
		t.Errorf("request.secrets = %v, want [netrc]", p.BuildDefinition.ExternalParameters.Request.Secrets)
	case md == nil || md.StartedOn == nil || md.InvocationID == "" || !md.Reproducible:
		t.Errorf("metadata = %+v, want times, an invocation ID and reproducible", md)
	case md.BuildKitMetadata.Source == nil || len(md.BuildKitMetadata.Source.Infos) != 1 || len(md.BuildKitMetadata.Source.Infos[0].Data) == 0:
		t.Errorf("buildkit_metadata.source = %+v, want the Dockerfile", md.BuildKitMetadata.Source)
	case md.BuildKitMetadata.Source.Locations["step1"].Locations[0].Ranges[0].End.Line != 3:
		t.Errorf("step1's location = %v, want lines 2-3", md.BuildKitMetadata.Source.Locations["step1"])
	case p.BuildDefinition.InternalParameters.TargetPlatform != "linux/arm64":
		t.Errorf("targetPlatform = %q, want linux/arm64", p.BuildDefinition.InternalParameters.TargetPlatform)
	}
	if len(p.BuildDefinition.ResolvedDependencies) < 2 || p.BuildDefinition.ResolvedDependencies[0].URI != "pkg:docker/golang@1.23?platform=linux%2Famd64" {
		t.Errorf("resolvedDependencies = %v, want golang first", p.BuildDefinition.ResolvedDependencies)
	}
}
