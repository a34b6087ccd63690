// Package plan turns a parsed Dockerfile into the stage graph: stage names and
// indexes, global ARGs expanded in FROM, typed edges (base, COPY --from,
// RUN --mount from), cycle detection, pruning to the target and a build order.
// It is pure: no I/O, no knowledge of stores or registries.
//
// The semantics are BuildKit's (frontend/dockerfile/dockerfile2llb), which
// strata follows as its reference; where a choice was made, the doc comment of
// the type or function says so.
package plan

import (
	"errors"
	"fmt"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"

	"github.com/strata-build/strata/internal/dockerfile"
)

// Options are the build inputs that shape the graph.
type Options struct {
	// Target names the stage to build (case-insensitive); empty means the last.
	Target string
	// BuildArgs are --build-arg values (a K without value is resolved by the caller).
	BuildArgs map[string]string
	// TargetPlatform and BuildPlatform are "os/arch[/variant]", e.g.
	// "linux/amd64". An empty BuildPlatform is linux on the running
	// architecture; an empty TargetPlatform is the BuildPlatform.
	TargetPlatform string
	BuildPlatform  string
	// Contexts are the names given with --build-context. As in BuildKit, a
	// context whose name is a stage's name replaces that stage (its FROM and
	// instructions are not built); a FROM or --from naming no stage resolves
	// to the context of that name before an image. Names match in Docker's
	// familiar form ("alpine" matches "docker.io/library/alpine:latest").
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

func (k SourceKind) String() string {
	switch k {
	case Scratch:
		return "scratch"
	case StageRef:
		return "stage"
	case ImageRef:
		return "image"
	case ContextRef:
		return "context"
	}
	return fmt.Sprintf("SourceKind(%d)", int(k))
}

// Source is a resolved reference to a stage, an image or a named context.
type Source struct {
	Kind  SourceKind
	Stage *Stage // for StageRef
	Ref   string // for ImageRef (as written, after expansion) and ContextRef (the name)
}

// String renders s for humans and golden files, e.g. "stage builder".
func (s Source) String() string {
	switch s.Kind {
	case Scratch:
		return "scratch"
	case StageRef:
		return "stage " + s.Stage.DisplayName()
	}
	return s.Kind.String() + " " + s.Ref
}

// EdgeKind says why a stage depends on a source.
type EdgeKind int

// The kinds of edge.
const (
	BaseEdge  EdgeKind = iota // FROM
	CopyEdge                  // COPY --from (ADD has no --from in BuildKit)
	MountEdge                 // RUN --mount=from=
)

func (k EdgeKind) String() string {
	switch k {
	case BaseEdge:
		return "base"
	case CopyEdge:
		return "copy"
	case MountEdge:
		return "mount"
	}
	return fmt.Sprintf("EdgeKind(%d)", int(k))
}

// Edge is one dependency of a stage.
type Edge struct {
	Kind EdgeKind
	From Source
	Line int
	// Paths are the source paths of a CopyEdge, as written; nil otherwise
	// (a mount's source is only known once its RUN is expanded).
	Paths []string
	// Command is the instruction that made the edge (nil for BaseEdge).
	Command instructions.Command
}

// Stage is one stage of the graph.
type Stage struct {
	Index    int
	Name     string // lower-cased, "" when unnamed
	Line     int    // line of FROM
	Base     Source
	Platform string // FROM --platform after expansion, "" when absent
	// Commands are the stage's instructions after FROM, as parsed; nil when
	// a named context replaces the stage (Base is then that ContextRef).
	// BuildKit's Expand methods mutate commands: expand copies, not these.
	Commands []instructions.Command
	// Triggers are the ONBUILD instructions of the parent stage (Base is a
	// StageRef), parsed; they run before Commands, as in BuildKit. A stage
	// FROM a stage does not run its parent image's OnBuild config again.
	// Triggers of a base image are the build's to parse (ParseTriggers) and
	// resolve (Plan.ResolveFrom). Only set for stages in Order.
	Triggers []instructions.Command
	// Edges are the base edge first, then COPY --from and RUN --mount from
	// edges in instruction order (those from Triggers first).
	Edges []Edge
	// From is the parsed stage, for positions and the original text.
	From instructions.Stage
}

// DisplayName is the stage's name, or "stage-N" when unnamed, as BuildKit
// names stages in its messages.
func (s *Stage) DisplayName() string {
	if s.Name != "" {
		return s.Name
	}
	return fmt.Sprintf("stage-%d", s.Index)
}

// Replaced reports whether a --build-context of the stage's name replaces
// it: the build uses the context (Base) and runs no instructions.
func (s *Stage) Replaced() bool {
	return s.Base.Kind == ContextRef && s.Name != "" && s.Base.Ref == s.Name
}

// Plan is the stage graph pruned to a target.
type Plan struct {
	File *dockerfile.File
	// Stages are all stages, in file order.
	Stages []*Stage
	// Target is the stage to build.
	Target *Stage
	// Order lists the stages the target needs, dependencies first, target
	// last. It is file order restricted to what the target reaches (BuildKit
	// refuses a --from naming a later stage, so file order is a build order).
	Order []*Stage
	// GlobalArgs are the values of the global (meta) ARGs after --build-arg
	// overrides, and the predefined platform ARGs. Inside a stage a global ARG
	// is visible only after an ARG re-declares it (see ArgValue).
	GlobalArgs map[string]string
	// ProxyArgs are the --build-arg values of the predefined proxy ARGs
	// (HTTP_PROXY, https_proxy, NO_PROXY, ALL_PROXY, ...; any case), which
	// BuildKit gives every RUN without an ARG and keeps out of the image.
	ProxyArgs map[string]string

	opts   Options
	byName map[string]*Stage
}

// Stage returns the stage called name (case-insensitive; the last of that
// name, as in BuildKit), or nil.
func (p *Plan) Stage(name string) *Stage {
	return p.byName[strings.ToLower(name)]
}

// New builds the plan of f for opts.
func New(f *dockerfile.File, opts Options) (*Plan, error) {
	if f == nil || len(f.Stages) == 0 {
		return nil, errors.New("planning build: dockerfile contains no stages to build")
	}
	pl := &planner{f: f, opts: opts, lex: shell.NewLex(f.Escape)}
	if err := pl.globals(); err != nil {
		return nil, err
	}
	if err := pl.stages(); err != nil {
		return nil, err
	}
	if err := pl.edges(); err != nil {
		return nil, err
	}
	if err := pl.checkCycles(); err != nil {
		return nil, err
	}
	if err := pl.target(); err != nil {
		return nil, err
	}
	if err := pl.prune(); err != nil {
		return nil, err
	}
	return pl.p, nil
}

// planner holds the state of one New call.
type planner struct {
	f    *dockerfile.File
	opts Options
	lex  *shell.Lex
	p    *Plan
	env  *argEnv // global ARGs, for FROM expansion
}

// errorf is an error of the Dockerfile at line.
func (pl *planner) errorf(line int, format string, args ...any) error {
	return &dockerfile.Error{File: pl.f.Name, Line: line, Err: fmt.Errorf(format, args...)}
}
