package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	slsa1 "github.com/in-toto/in-toto-golang/in_toto/slsa_provenance/v1"
	provenancetypes "github.com/moby/buildkit/solver/llbsolver/provenance/types"

	"github.com/strata-build/strata/internal/attest"
	"github.com/strata-build/strata/internal/store"
)

// provenanceCmd runs `strata provenance args...` against the store at root.
func provenanceCmd(t *testing.T, root string, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	g := &globals{root: root, stdio: Stdio{In: strings.NewReader(""), Out: &out, Err: &errb}}
	cmd := newProvenanceCmd(g)
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func randomPlatformImage(t *testing.T, p v1.Platform) v1.Image {
	t.Helper()
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = p.OS, p.Architecture
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func testProvenance(t *testing.T, platform string) []byte {
	t.Helper()
	df := "FROM busybox\nRUN echo hi > /hi\n"
	h, _, _ := v1.SHA256(strings.NewReader(df))
	raw, err := attest.Provenance(attest.BuildInfo{
		Version: "v1.2.3", BuilderPlatform: "linux/amd64", Platform: platform,
		Dockerfile: attest.File{Path: "Dockerfile", Digest: h, Content: []byte(df)},
		Args:       map[string]string{"GREETING": "hi"},
		Secrets:    []string{"token"},
		Bases:      []attest.Base{{Ref: "busybox", Platform: platform, Digest: h}},
		Steps: []attest.Step{
			{Stage: "0", Instruction: "FROM busybox", Line: 1},
			{Stage: "0", Instruction: "RUN echo hi > /hi", Line: 2, Layer: h},
		},
		Reproducible: true, Started: time.Unix(0, 0), Finished: time.Unix(0, 0),
	}, attest.ModeMax)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// storeAttested stores a linux/amd64 + linux/arm64 index tagged ref whose
// images have the provenance preds gives them.
func storeAttested(t *testing.T, root, ref string, preds func(platform string) []attest.Predicate) {
	t.Helper()
	ctx := context.Background()
	var entries []attest.Entry
	for _, p := range []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}} {
		entries = append(entries, attest.Entry{Image: randomPlatformImage(t, p), Platform: p, Names: []string{ref},
			Predicates: preds(store.FormatPlatform(p))})
	}
	idx, err := attest.Index(entries, attest.FormArtifact)
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h, err := s.WriteIndex(ctx, idx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(ctx, ref, h); err != nil {
		t.Fatal(err)
	}
}

func TestProvenanceCommand(t *testing.T) {
	root := t.TempDir()
	want := map[string][]byte{}
	storeAttested(t, root, "example.com/app:1.0", func(platform string) []attest.Predicate {
		want[platform] = testProvenance(t, platform)
		return []attest.Predicate{{Type: attest.PredicateSLSA1, Data: want[platform]}}
	})
	for _, platform := range []string{"linux/amd64", "linux/arm64"} {
		out, err := provenanceCmd(t, root, "example.com/app:1.0", "--platform", platform)
		if err != nil {
			t.Fatalf("provenance --platform %s: %v", platform, err)
		}
		var got, exp any
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("provenance output is not JSON: %v\n%s", err, out)
		}
		json.Unmarshal(want[platform], &exp)
		g, _ := json.Marshal(got)
		e, _ := json.Marshal(exp)
		if !bytes.Equal(g, e) {
			t.Errorf("provenance --platform %s =\n%s\nwant\n%s", platform, g, e)
		}
	}
	out, err := provenanceCmd(t, root, "example.com/app:1.0", "--platform", "linux/arm64", "--format", "summary")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("summary:\n%s", out)
	for _, s := range []string{"Builder:     https://github.com/strata-build/strata@v1.2.3", "Platform:    linux/arm64",
		"Build args:  GREETING=hi", "Secrets:     token", "pkg:docker/busybox@latest?platform=linux%2Farm64",
		"(reproducible)", "Steps:", "2  RUN echo hi > /hi  sha256:"} {
		if !strings.Contains(out, s) {
			t.Errorf("provenance --format summary lacks %q:\n%s", s, out)
		}
	}
}

func TestProvenanceCommandErrors(t *testing.T) {
	root := t.TempDir()
	storeAttested(t, root, "sbom-only:1", func(string) []attest.Predicate {
		return []attest.Predicate{{Type: attest.PredicateSPDX, Data: []byte(`{"spdxVersion":"SPDX-2.3"}`)}}
	})
	storeAttested(t, root, "plain-index:1", func(string) []attest.Predicate { return nil })
	ctx := context.Background()
	s, err := store.Open(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.WriteImage(ctx, randomPlatformImage(t, v1.Platform{OS: "linux", Architecture: "amd64"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(ctx, "single:1", h); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"single:1"}, []string{`showing provenance of "single:1"`, "not in an image index", "strata build --provenance=mode=max -t single:1 ."}},
		{[]string{"plain-index:1", "--platform", "linux/arm64"}, []string{"the linux/arm64 image sha256:", "has no provenance attestation", "strata build --provenance=mode=max"}},
		{[]string{"sbom-only:1"}, []string{"has attestations (https://spdx.dev/Document) but no provenance attestation", "strata build --provenance=mode=max"}},
		{[]string{"missing:1"}, []string{`showing provenance of "missing:1"`, "no such image"}},
		{[]string{"plain-index:1", "--platform", "linux/s390x"}, []string{"linux/amd64, linux/arm64)"}},
		{[]string{"single:1", "--format", "yaml"}, []string{`invalid --format "yaml"`}},
	} {
		_, err := provenanceCmd(t, root, tt.args...)
		t.Logf("%v: %v", tt.args, err)
		if err == nil {
			t.Errorf("provenance %v: no error", tt.args)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("provenance %v = %v, want it to contain %q", tt.args, err, w)
			}
		}
	}
	if _, err := provenanceCmd(t, root, "single:1", "--format", "yaml"); !errors.As(err, new(usageError)) {
		t.Errorf("provenance --format yaml = %v, want a usage error", err)
	}
}

// TestProvenanceSummaryOfBuildKit summarises a predicate BuildKit's own
// types write, as buildx attaches it, so strata reads images BuildKit built.
func TestProvenanceSummaryOfBuildKit(t *testing.T) {
	started := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	var p provenancetypes.ProvenancePredicateSLSA1
	p.BuildDefinition.BuildType = provenancetypes.BuildKitBuildType1
	p.BuildDefinition.ExternalParameters.ConfigSource.Path = "Dockerfile"
	p.BuildDefinition.ExternalParameters.Request = provenancetypes.Parameters{
		Frontend: "dockerfile.v0",
		Args:     map[string]string{"build-arg:VERSION": "1.2", "target": "final"},
		Secrets:  []*provenancetypes.Secret{{ID: "npmrc"}},
		Locals:   []*provenancetypes.LocalSource{{Name: "context"}, {Name: "dockerfile"}},
	}
	p.BuildDefinition.InternalParameters.BuilderPlatform = "linux/amd64"
	p.BuildDefinition.ResolvedDependencies = []slsa1.ResourceDescriptor{{
		URI:    "pkg:docker/alpine@3.20?platform=linux%2Famd64",
		Digest: map[string]string{"sha256": strings.Repeat("a", 64)},
	}}
	p.RunDetails.Builder.ID = "https://github.com/example/repo/actions/runs/1"
	p.RunDetails.Metadata = &provenancetypes.ProvenanceMetadataSLSA1{}
	p.RunDetails.Metadata.InvocationID = "ldzbd5nylipzgh0p0nsgrnx0x"
	p.RunDetails.Metadata.StartedOn, p.RunDetails.Metadata.FinishedOn = &started, &started
	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	storeAttested(t, root, "bk:1", func(string) []attest.Predicate {
		return []attest.Predicate{{Type: attest.PredicateSLSA1, Data: raw}}
	})
	out, err := provenanceCmd(t, root, "bk:1", "--format", "summary")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Builder:     https://github.com/example/repo/actions/runs/1", "Build type:  " + provenancetypes.BuildKitBuildType1,
		"Target:      final", "Build args:  VERSION=1.2", "Secrets:     npmrc", "pkg:docker/alpine@3.20?platform=linux%2Famd64  sha256:aaaa",
		"Built:       2024-05-01T10:00:00Z to 2024-05-01T10:00:00Z"} {
		if !strings.Contains(out, s) {
			t.Errorf("summary of BuildKit's provenance lacks %q:\n%s", s, out)
		}
	}
}
