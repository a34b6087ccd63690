package attest_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/strata-build/strata/internal/attest"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

func hash(t *testing.T, s string) v1.Hash {
	t.Helper()
	h, _, err := v1.SHA256(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// sampleInfo is a two-stage Go build as the build fills BuildInfo.
func sampleInfo(t *testing.T) attest.BuildInfo {
	t.Helper()
	df := "FROM golang:1.23 AS build\nRUN --mount=type=secret,id=netrc \\\n    go build -o /app .\nFROM gcr.io/distroless/static\nCOPY --from=build /app /app\n"
	epoch := time.Unix(1700000000, 0)
	return attest.BuildInfo{
		Version:         "v0.9.0",
		BuilderPlatform: "linux/amd64",
		Platform:        "linux/arm64",
		Dockerfile:      attest.File{Path: "Dockerfile", Digest: hash(t, df), Content: []byte(df)},
		ContextDigest:   hash(t, "context"),
		Target:          "",
		Args:            map[string]string{"GOFLAGS": "-trimpath"},
		Labels:          map[string]string{"org.opencontainers.image.source": "https://example.com/app"},
		Secrets:         []string{"netrc"},
		Bases: []attest.Base{
			{Ref: "golang:1.23", Platform: "linux/amd64", Digest: hash(t, "golang")},
			{Ref: "gcr.io/distroless/static", Platform: "linux/arm64", Digest: hash(t, "distroless")},
		},
		Steps: []attest.Step{
			{Stage: "build", Instruction: "FROM golang:1.23 AS build", Line: 1},
			{Stage: "build", Instruction: "RUN --mount=type=secret,id=netrc go build -o /app .", Line: 2, EndLine: 3, Layer: hash(t, "layer1")},
			{Stage: "1", Instruction: "FROM gcr.io/distroless/static", Line: 4},
			{Stage: "1", Instruction: "COPY --from=build /app /app", Line: 5, Layer: hash(t, "layer2")},
		},
		Network:      true,
		Reproducible: true,
		Started:      epoch,
		Finished:     epoch,
	}
}

func TestProvenanceGolden(t *testing.T) {
	for _, mode := range []string{attest.ModeMin, attest.ModeMax} {
		t.Run(mode, func(t *testing.T) {
			got, err := attest.Provenance(sampleInfo(t), mode)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := json.Indent(&out, got, "", "  "); err != nil {
				t.Fatal(err)
			}
			out.WriteByte('\n')
			golden := filepath.Join("testdata", "provenance-"+mode+".json")
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("Provenance(sample, %s) =\n%s\nwant (%s)\n%s", mode, out.Bytes(), golden, want)
			}
		})
	}
}

func TestProvenanceDeterministic(t *testing.T) {
	a, err := attest.Provenance(sampleInfo(t), attest.ModeMax)
	if err != nil {
		t.Fatal(err)
	}
	b, err := attest.Provenance(sampleInfo(t), attest.ModeMax)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("Provenance twice differs:\n%s\n%s", a, b)
	}
	info := sampleInfo(t)
	info.Args["GOFLAGS"] = "-race"
	c, err := attest.Provenance(info, attest.ModeMax)
	if err != nil {
		t.Fatal(err)
	}
	pa, _ := attest.DecodeProvenance(a)
	pc, _ := attest.DecodeProvenance(c)
	if pa.RunDetails.Metadata.InvocationID == pc.RunDetails.Metadata.InvocationID {
		t.Errorf("invocation ID %s did not change with a build arg", pa.RunDetails.Metadata.InvocationID)
	}
}

func TestProvenanceMinLeavesOutSecrets(t *testing.T) {
	raw, err := attest.Provenance(sampleInfo(t), attest.ModeMin)
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{"netrc", "GOFLAGS", "trimpath", "FROM golang"} {
		if bytes.Contains(raw, []byte(leak)) {
			t.Errorf("mode=min provenance contains %q:\n%s", leak, raw)
		}
	}
	p, err := attest.DecodeProvenance(raw)
	if err != nil {
		t.Fatal(err)
	}
	if p.RunDetails.Metadata.Completeness.Request {
		t.Errorf("mode=min with build args: completeness.request = true, want false")
	}
}

func TestProvenanceErrors(t *testing.T) {
	if _, err := attest.Provenance(sampleInfo(t), "full"); err == nil {
		t.Errorf("Provenance(mode=full) = nil error, want one")
	}
	info := sampleInfo(t)
	info.Bases = append(info.Bases, attest.Base{Ref: "Not A Ref"})
	if _, err := attest.Provenance(info, attest.ModeMin); err == nil || !strings.Contains(err.Error(), "Not A Ref") {
		t.Errorf("Provenance(bad base) = %v, want an error naming it", err)
	}
}
