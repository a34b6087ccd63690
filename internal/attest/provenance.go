package attest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"runtime"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// BuildType is the buildType of strata's provenance: the page that says
// what its parameters mean.
const BuildType = "https://github.com/strata-build/strata/blob/main/docs/provenance.md"

// Provenance modes, as buildx's --provenance=mode=.
const (
	ModeMin = "min"
	ModeMax = "max"
)

// BuildInfo is what a build tells its provenance, one per platform image.
type BuildInfo struct {
	// BuilderID is runDetails.builder.id; empty: BuilderID(Version).
	BuilderID string
	// Version is strata's version, runDetails.builder.version.strata.
	Version string
	// BuilderPlatform is the platform strata runs on ("linux/amd64");
	// empty: the one it was compiled for.
	BuilderPlatform string
	// Platform is the image's target platform ("linux/arm64").
	Platform string

	// Dockerfile is the Dockerfile as read (path as given on the command
	// line or "Dockerfile", relative to the context).
	Dockerfile File
	// ContextURI is a remote build context's URL (a git or https context);
	// empty for a local directory.
	ContextURI string
	// ContextDigest is strata's digest of the build context's selected
	// content (after .dockerignore); zero when the build has no context.
	ContextDigest v1.Hash

	// Target is --target; empty when the last stage is built by default.
	Target string
	// Args are the --build-arg values given (never secrets).
	Args map[string]string
	// Labels are the --label values given.
	Labels map[string]string
	// Secrets and SSH are the ids of --secret and --ssh given.
	Secrets, SSH []string

	// Bases are the images the build read: FROM, COPY --from and
	// RUN --mount=from images.
	Bases []Base
	// Steps are the instructions run, in order (mode=max only).
	Steps []Step

	// Network is true when a RUN step had network access (the build is
	// then not hermetic).
	Network bool
	// Reproducible is true when the build time is SOURCE_DATE_EPOCH (or
	// the epoch), not the clock.
	Reproducible bool
	// Started and Finished are the build's times: the build time for a
	// reproducible build, the clock's otherwise.
	Started, Finished time.Time
}

// File is a build input file: its path, digest and content.
type File struct {
	Path    string
	Digest  v1.Hash
	Content []byte
}

// Base is an image a build read.
type Base struct {
	// Ref is the reference as resolved ("golang:1.23", "docker.io/library/
	// golang:1.23"); BuildKit's purl normalises it.
	Ref string
	// Platform is the platform of the image read ("linux/amd64").
	Platform string
	// Digest is the digest Ref resolved to (the index's digest when Ref
	// names an index, as BuildKit records it).
	Digest v1.Hash
	// Local is true for an image from an OCI layout context
	// (oci-layout://): a pkg:oci URL, as BuildKit writes one.
	Local bool
}

// Step is one instruction of a stage.
type Step struct {
	// Stage is the stage's name, or its index when it has none.
	Stage string
	// Instruction is the instruction as written, its ARGs expanded.
	Instruction string
	// Line and EndLine are the instruction's first and last Dockerfile
	// lines (1-based; EndLine 0: Line).
	Line, EndLine int
	// Layer is the digest of the layer the step added; zero when none.
	Layer v1.Hash
}

// BuilderID is strata's builder id for version.
func BuilderID(version string) string {
	if version == "" {
		version = "devel"
	}
	return "https://github.com/strata-build/strata@" + version
}

// Provenance is the SLSA provenance v1 predicate of a build, laid out as
// BuildKit's (solver/llbsolver/provenance): mode=min records the request
// without build args, labels, secrets or SSH ids (its completeness then says
// so); mode=max records them all, the Dockerfile's content and every step
// with its lines and layer. Its invocation ID is derived from the rest, so
// the same build gives the same predicate.
func Provenance(info BuildInfo, mode string) ([]byte, error) {
	if mode != ModeMin && mode != ModeMax {
		return nil, fmt.Errorf("making provenance: mode %q is not min or max", mode)
	}
	p := ProvenanceV1{
		BuildDefinition: BuildDefinition{
			BuildType:          BuildType,
			ExternalParameters: externalParameters(info, mode),
			InternalParameters: internalParameters(info, mode),
		},
		RunDetails: RunDetails{
			Builder:  Builder{ID: info.BuilderID},
			Metadata: metadata(info, mode),
		},
	}
	deps, err := dependencies(info, mode)
	if err != nil {
		return nil, fmt.Errorf("making provenance: %w", err)
	}
	p.BuildDefinition.ResolvedDependencies = deps
	if p.RunDetails.Builder.ID == "" {
		p.RunDetails.Builder.ID = BuilderID(info.Version)
	}
	if info.Version != "" {
		p.RunDetails.Builder.Version = map[string]string{"strata": info.Version}
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encoding provenance: %w", err)
	}
	sum := sha256.Sum256(raw)
	p.RunDetails.Metadata.InvocationID = hex.EncodeToString(sum[:])
	raw, err = json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encoding provenance: %w", err)
	}
	return raw, nil
}

func externalParameters(info BuildInfo, mode string) ExternalParameters {
	args := map[string]string{}
	if info.Target != "" {
		args["target"] = info.Target
	}
	req := Request{Frontend: "dockerfile.v0", Locals: []Local{{Name: "context"}, {Name: "dockerfile"}}}
	if info.ContextURI != "" {
		req.Locals = []Local{{Name: "dockerfile"}}
	}
	if mode == ModeMax {
		for k, v := range info.Args {
			args["build-arg:"+k] = v
		}
		for k, v := range info.Labels {
			args["label:"+k] = v
		}
		req.Secrets = ids(info.Secrets)
		req.SSH = ids(info.SSH)
	}
	if len(args) > 0 {
		req.Args = args
	}
	cs := ConfigSource{URI: info.ContextURI, Path: info.Dockerfile.Path}
	if info.Dockerfile.Digest != (v1.Hash{}) {
		cs.Digest = digestSet(info.Dockerfile.Digest)
	}
	return ExternalParameters{ConfigSource: cs, Request: req}
}

func ids(in []string) []SecretID {
	out := make([]SecretID, 0, len(in))
	for _, id := range in {
		out = append(out, SecretID{ID: id})
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func internalParameters(info BuildInfo, mode string) InternalParameters {
	in := InternalParameters{BuilderPlatform: info.BuilderPlatform, TargetPlatform: info.Platform}
	if in.BuilderPlatform == "" {
		in.BuilderPlatform = runtime.GOOS + "/" + runtime.GOARCH
	}
	if mode == ModeMax && len(info.Steps) > 0 {
		bc := &BuildConfig{}
		for i, s := range info.Steps {
			st := BuildStep{ID: stepID(i), Stage: s.Stage, Instruction: s.Instruction, Line: s.Line}
			if s.EndLine > s.Line {
				st.EndLine = s.EndLine
			}
			if s.Layer != (v1.Hash{}) {
				st.Layer = s.Layer.String()
			}
			bc.Steps = append(bc.Steps, st)
		}
		in.BuildConfig = bc
	}
	return in
}

func stepID(i int) string { return fmt.Sprintf("step%d", i) }

// dependencies are the base images as BuildKit's materials (package URLs
// with the platform), then the build context and, with mode=max, the
// Dockerfile with its content.
func dependencies(info BuildInfo, mode string) ([]ResourceDescriptor, error) {
	out := []ResourceDescriptor{}
	for _, b := range info.Bases {
		var plat *v1.Platform
		if b.Platform != "" {
			p, err := v1.ParsePlatform(b.Platform)
			if err != nil {
				return nil, fmt.Errorf("base image %q: parsing platform: %w", b.Ref, err)
			}
			plat = p
		}
		typ := "docker"
		if b.Local {
			typ = "oci"
		}
		u, err := refPURL(typ, b.Ref, plat)
		if err != nil {
			return nil, fmt.Errorf("base image: %w", err)
		}
		r := ResourceDescriptor{URI: u}
		if b.Digest != (v1.Hash{}) {
			r.Digest = digestSet(b.Digest)
		}
		out = append(out, r)
	}
	if info.ContextDigest != (v1.Hash{}) {
		out = append(out, ResourceDescriptor{URI: info.ContextURI, Name: "context", Digest: digestSet(info.ContextDigest)})
	}
	if mode == ModeMax && info.Dockerfile.Digest != (v1.Hash{}) {
		out = append(out, ResourceDescriptor{
			Name:      info.Dockerfile.Path,
			Digest:    digestSet(info.Dockerfile.Digest),
			MediaType: "text/x-dockerfile",
			Content:   info.Dockerfile.Content,
		})
	}
	return out, nil
}

func digestSet(h v1.Hash) map[string]string { return map[string]string{h.Algorithm: h.Hex} }

func metadata(info BuildInfo, mode string) *RunMetadata {
	m := &RunMetadata{
		Hermetic:     !info.Network,
		Reproducible: info.Reproducible,
		Completeness: Completeness{Request: true, ResolvedDependencies: true},
	}
	if !info.Started.IsZero() {
		t := info.Started.UTC()
		m.StartedOn = &t
	}
	if !info.Finished.IsZero() {
		t := info.Finished.UTC()
		m.FinishedOn = &t
	}
	if mode == ModeMin && len(info.Args)+len(info.Labels) > 0 {
		m.Completeness.Request = false
	}
	if mode == ModeMax {
		m.BuildKit.Source = source(info)
	}
	return m
}

// source is BuildKit's record of the Dockerfile (its content) and of where
// each step is in it.
func source(info BuildInfo) *SourceInfo {
	if len(info.Dockerfile.Content) == 0 && len(info.Steps) == 0 {
		return nil
	}
	s := &SourceInfo{Infos: []SourceFile{{Filename: info.Dockerfile.Path, Language: "Dockerfile", Data: info.Dockerfile.Content}}}
	if len(info.Steps) > 0 {
		s.Locations = map[string]Locations{}
	}
	for i, st := range info.Steps {
		if st.Line <= 0 {
			continue
		}
		end := max(st.EndLine, st.Line)
		s.Locations[stepID(i)] = Locations{Locations: []Location{{Ranges: []Range{{
			Start: Position{Line: st.Line}, End: Position{Line: end},
		}}}}}
	}
	return s
}
