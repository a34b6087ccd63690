// Package plan turns a parsed Dockerfile into the stage graph: stage names and
// indexes, global ARGs expanded in FROM, typed edges (base, COPY --from,
// RUN --mount from), cycle detection, pruning to the target and a build order.
// It is pure: no I/O, no knowledge of stores or registries.
package plan

import (
	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"github.com/strata-build/strata/internal/dockerfile"
)

// Options are the build inputs that shape the graph.
type Options struct {
	// Target names the stage to build (case-insensitive); empty means the last.
	Target string
	// BuildArgs are --build-arg values (a K without value is resolved by the caller).
	BuildArgs map[string]string
	// TargetPlatform and BuildPlatform are "os/arch[/variant]", e.g. "linux/amd64".
	TargetPlatform string
	BuildPlatform  string
	// Contexts are the names given with --build-context; a reference to such a
	// name (FROM or COPY --from) resolves to the named context unless a stage
	// of that name exists.
	Contexts map[string]bool
}

// SourceKind says what a FROM or --from refers to.
type SourceKind int

// The kinds of source.
const (
	Scratch    SourceKind = iota // FROM scratch
	StageRef                     // another stage of this Dockerfile
	ImageRef                     // an image reference, e.g. "busybox:1.36"
	ContextRef                   // a named --build-context
)

// Source is a resolved reference to a stage, an image or a named context.
type Source struct {
	Kind  SourceKind
	Stage *Stage // for StageRef
	Ref   string // for ImageRef (as written, after expansion) and ContextRef (the name)
}

// EdgeKind says why a stage depends on a source.
type EdgeKind int

// The kinds of edge.
const (
	BaseEdge  EdgeKind = iota // FROM
	CopyEdge                  // COPY --from / ADD --from
	MountEdge                 // RUN --mount=from=
)

// Edge is one dependency of a stage.
type Edge struct {
	Kind    EdgeKind
	From    Source
	Line    int
	Paths   []string             // source paths for CopyEdge (as written)
	Command instructions.Command // the instruction that made the edge (nil for BaseEdge)
}

// Stage is one stage of the graph.
type Stage struct {
	Index    int
	Name     string // lower-cased, "" when unnamed
	Line     int    // line of FROM
	Base     Source
	Platform string // FROM --platform after expansion, "" when absent
	// Commands are the stage's instructions after FROM, as parsed.
	Commands []instructions.Command
	// Args are the ARG values in scope at FROM for this stage: the global
	// ARGs re-declared nowhere yet are invisible, so this holds the predefined
	// platform ARGs and, for a stage built FROM another stage, the parent's
	// ARG values (BuildKit inherits them).
	Edges []Edge
	// From is the parsed stage, for positions and the original text.
	From instructions.Stage
}

// Plan is the stage graph pruned to a target.
type Plan struct {
	File *dockerfile.File
	// Stages are all stages, in file order.
	Stages []*Stage
	// Target is the stage to build.
	Target *Stage
	// Order lists the stages the target needs, dependencies first, target last.
	Order []*Stage
	// GlobalArgs are the values of the global (meta) ARGs after --build-arg
	// overrides, and the predefined platform ARGs. Inside a stage a global ARG
	// is visible only after an ARG re-declares it.
	GlobalArgs map[string]string
}

// New builds the plan of f for opts.
func New(f *dockerfile.File, opts Options) (*Plan, error) { panic("unimplemented") }
