package attest

import (
	"encoding/json"
	"fmt"
	"time"
)

// ProvenanceV1 is a SLSA provenance v1 predicate with the fields BuildKit
// and strata write; DecodeProvenance reads one.
type ProvenanceV1 struct {
	BuildDefinition BuildDefinition `json:"buildDefinition"`
	RunDetails      RunDetails      `json:"runDetails"`
}

// BuildDefinition is what was built and from what.
type BuildDefinition struct {
	BuildType            string               `json:"buildType"`
	ExternalParameters   ExternalParameters   `json:"externalParameters"`
	InternalParameters   InternalParameters   `json:"internalParameters"`
	ResolvedDependencies []ResourceDescriptor `json:"resolvedDependencies,omitempty"`
}

// ExternalParameters are the user's inputs: the Dockerfile and the request.
type ExternalParameters struct {
	ConfigSource ConfigSource `json:"configSource"`
	Request      Request      `json:"request"`
}

// ConfigSource is where the Dockerfile came from.
type ConfigSource struct {
	URI    string            `json:"uri,omitempty"`
	Digest map[string]string `json:"digest,omitempty"`
	Path   string            `json:"path,omitempty"`
}

// Request is the frontend request, as BuildKit records it: args are
// "build-arg:NAME", "label:NAME" and "target".
type Request struct {
	Frontend string            `json:"frontend,omitempty"`
	Args     map[string]string `json:"args,omitempty"`
	Secrets  []SecretID        `json:"secrets,omitempty"`
	SSH      []SecretID        `json:"ssh,omitempty"`
	Locals   []Local           `json:"locals,omitempty"`
}

// SecretID names a secret or an SSH agent socket, never its value.
type SecretID struct {
	ID       string `json:"id"`
	Optional bool   `json:"optional,omitempty"`
}

// Local names a local source (the context, the Dockerfile's directory).
type Local struct {
	Name string `json:"name"`
}

// InternalParameters are the builder's own: platforms and, with mode=max,
// the steps.
type InternalParameters struct {
	BuildConfig     *BuildConfig `json:"buildConfig,omitempty"`
	BuilderPlatform string       `json:"builderPlatform"`
	TargetPlatform  string       `json:"targetPlatform,omitempty"`
}

// BuildConfig is strata's stand-in for BuildKit's LLB definition: the
// steps of every stage built, in order.
type BuildConfig struct {
	Steps []BuildStep `json:"steps,omitempty"`
}

// BuildStep is one instruction run: its stage, text, Dockerfile lines and
// the layer it added.
type BuildStep struct {
	ID          string `json:"id"`
	Stage       string `json:"stage,omitempty"`
	Instruction string `json:"instruction"`
	Line        int    `json:"line,omitempty"`
	EndLine     int    `json:"endLine,omitempty"`
	Layer       string `json:"layer,omitempty"`
}

// ResourceDescriptor is an in-toto resource descriptor.
type ResourceDescriptor struct {
	URI       string            `json:"uri,omitempty"`
	Name      string            `json:"name,omitempty"`
	Digest    map[string]string `json:"digest,omitempty"`
	MediaType string            `json:"mediaType,omitempty"`
	Content   []byte            `json:"content,omitempty"`
}

// RunDetails is who built it and when.
type RunDetails struct {
	Builder  Builder      `json:"builder"`
	Metadata *RunMetadata `json:"metadata,omitempty"`
}

// Builder identifies the builder.
type Builder struct {
	ID      string            `json:"id"`
	Version map[string]string `json:"version,omitempty"`
}

// RunMetadata is SLSA's build metadata and BuildKit's extensions.
type RunMetadata struct {
	InvocationID string           `json:"invocationID,omitempty"`
	StartedOn    *time.Time       `json:"startedOn,omitempty"`
	FinishedOn   *time.Time       `json:"finishedOn,omitempty"`
	BuildKit     BuildKitMetadata `json:"buildkit_metadata"`
	Hermetic     bool             `json:"buildkit_hermetic,omitempty"`
	Completeness Completeness     `json:"buildkit_completeness"`
	Reproducible bool             `json:"buildkit_reproducible,omitempty"`
}

// BuildKitMetadata is BuildKit's buildkit_metadata: with mode=max, the
// Dockerfile and where each step is in it.
type BuildKitMetadata struct {
	Source *SourceInfo `json:"source,omitempty"`
}

// SourceInfo is BuildKit's source metadata.
type SourceInfo struct {
	Locations map[string]Locations `json:"locations,omitempty"`
	Infos     []SourceFile         `json:"infos,omitempty"`
}

// SourceFile is a source file and its content.
type SourceFile struct {
	Filename string `json:"filename,omitempty"`
	Language string `json:"language,omitempty"`
	Data     []byte `json:"data,omitempty"`
}

// Locations are where a step is in the sources.
type Locations struct {
	Locations []Location `json:"locations,omitempty"`
}

// Location is ranges of one source (SourceIndex into SourceInfo.Infos).
type Location struct {
	SourceIndex int     `json:"sourceIndex,omitempty"`
	Ranges      []Range `json:"ranges,omitempty"`
}

// Range is a span of lines.
type Range struct {
	Start Position `json:"start"`
	End   Position `json:"end"`
}

// Position is a line (1-based) and character.
type Position struct {
	Line      int `json:"line,omitempty"`
	Character int `json:"character,omitempty"`
}

// Completeness is BuildKit's buildkit_completeness.
type Completeness struct {
	Request              bool `json:"request"`
	ResolvedDependencies bool `json:"resolvedDependencies"`
}

// DecodeProvenance reads a SLSA provenance v1 predicate.
func DecodeProvenance(raw []byte) (*ProvenanceV1, error) {
	var p ProvenanceV1
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("decoding provenance: %w", err)
	}
	return &p, nil
}
