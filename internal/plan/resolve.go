package plan

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/moby/buildkit/util/suggest"

	"github.com/strata-build/strata/internal/dockerfile"
)

// scratchName is the base of an empty stage.
const scratchName = "scratch"

// stages builds every stage with its base, as BuildKit's buildDispatchStates
// does for all stages, reachable or not: FROM and --platform expanded with
// the global ARGs (a blank result is an error); a stage named like a
// --build-context is replaced by it; a base naming an earlier stage (exactly,
// names being lower-case) is that stage, so "FROM alpine AS alpine" is the
// image; then scratch, a named context, or an image reference.
func (pl *planner) stages() error {
	for i, st := range pl.f.Stages {
		line := st.Location[0].Start.Line
		base, _, err := pl.lex.ProcessWord(st.BaseName, pl.env)
		if err != nil {
			return dockerfile.AtLine(pl.f.Name, line, err)
		}
		if base == "" {
			return pl.errorf(line, "base name (%s) should not be blank", st.BaseName)
		}
		s := &Stage{Index: i, Name: st.Name, Line: line, Commands: st.Commands, From: st}
		if s.Platform, err = pl.platform(st, line); err != nil {
			return err
		}
		if s.Base, err = pl.base(s, base); err != nil {
			return err
		}
		if s.Replaced() {
			s.Commands = nil
		}
		s.Edges = []Edge{{Kind: BaseEdge, From: s.Base, Line: line}}
		pl.p.Stages = append(pl.p.Stages, s)
		if s.Name != "" {
			pl.p.byName[s.Name] = s
		}
	}
	return nil
}

// platform expands FROM --platform; BuildKit refuses an empty result.
func (pl *planner) platform(st instructions.Stage, line int) (string, error) {
	if st.Platform == "" {
		return "", nil
	}
	v, _, err := pl.lex.ProcessWord(st.Platform, pl.env)
	if err != nil {
		return "", pl.errorf(line, "failed to process arguments for platform %s: %w", st.Platform, err)
	}
	if v == "" {
		return "", pl.errorf(line, "empty platform value from expression %s", st.Platform)
	}
	return v, nil
}

// base resolves the expanded FROM value of s.
func (pl *planner) base(s *Stage, ref string) (Source, error) {
	if s.Name != "" && s.Name != scratchName && s.Name != "context" && pl.opts.Contexts[s.Name] {
		return Source{Kind: ContextRef, Ref: s.Name}, nil
	}
	if st, ok := pl.p.byName[ref]; ok {
		return Source{Kind: StageRef, Stage: st}, nil
	}
	return pl.external(ref, s.Line)
}

// external resolves a reference naming no stage: scratch, a named context
// or an image. The reference is validated as BuildKit does for every such
// reference, reachable or not.
func (pl *planner) external(ref string, line int) (Source, error) {
	if ref == scratchName {
		return Source{Kind: Scratch}, nil
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		err = pl.errorf(line, "parsing image reference %q: %w", ref, err)
		return Source{}, suggestStage(err, ref, pl.p.Stages)
	}
	if pl.opts.Contexts[familiar(r)] {
		return Source{Kind: ContextRef, Ref: familiar(r)}, nil
	}
	return Source{Kind: ImageRef, Ref: ref}, nil
}

// familiar is Docker's short form of r, without ":latest", which BuildKit
// uses to look up named contexts.
func familiar(r name.Reference) string {
	repo := r.Context().RepositoryStr()
	if reg := r.Context().RegistryStr(); reg != name.DefaultRegistry {
		repo = reg + "/" + repo
	} else {
		repo = strings.TrimPrefix(repo, "library/")
	}
	switch id := r.Identifier(); {
	case strings.HasPrefix(id, "sha256:"):
		return repo + "@" + id
	case id != "latest":
		return repo + ":" + id
	}
	return repo
}

// resolveFrom resolves a --from value as BuildKit's toCommand (COPY: no
// variables, index, any stage by name) and detectRunMount (mounts: by name
// only) do.
func (pl *planner) resolveFrom(kind EdgeKind, from string, line int) (Source, error) {
	if kind == CopyEdge {
		res, err := pl.lex.ProcessWordWithMatches(from, shell.EnvsFromSlice(nil))
		if err != nil {
			return Source{}, dockerfile.AtLine(pl.f.Name, line, err)
		}
		if res.Result != from {
			return Source{}, pl.errorf(line, "variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround")
		}
		if i, err := strconv.Atoi(from); err == nil {
			if i < 0 || i >= len(pl.p.Stages) {
				return Source{}, pl.errorf(line, "invalid stage index %d", i)
			}
			return Source{Kind: StageRef, Stage: pl.p.Stages[i]}, nil
		}
	}
	if st := pl.p.Stage(from); st != nil {
		return Source{Kind: StageRef, Stage: st}, nil
	}
	return pl.external(from, line)
}

// ResolveFrom resolves a COPY --from (kind CopyEdge) or RUN --mount from
// (MountEdge) value as BuildKit does: for COPY a stage index, then a stage
// name (case-insensitive), scratch, a named context, or an image reference;
// mounts take no index. The build uses it for ONBUILD triggers of base
// images; a stage it returns may not be in Order. line places errors.
func (p *Plan) ResolveFrom(kind EdgeKind, from string, line int) (Source, error) {
	pl := &planner{f: p.File, opts: p.opts, lex: shell.NewLex(p.File.Escape), p: p}
	return pl.resolveFrom(kind, from, line)
}

// suggestStage adds "did you mean <stage>?" to err when ref differs from a
// stage name only by case or a small edit, e.g. "FROM Builder".
func suggestStage(err error, ref string, stages []*Stage) error {
	var names []string
	for _, s := range stages {
		if s.Name != "" {
			names = append(names, s.Name)
		}
	}
	var de *dockerfile.Error
	if !errors.As(err, &de) {
		return err
	}
	if i := slices.Index(names, strings.ToLower(ref)); i >= 0 {
		de.Err = fmt.Errorf("%w (did you mean %s?)", de.Err, names[i]) // differs by case only
	} else {
		de.Err = suggest.WrapError(de.Err, ref, names, true)
	}
	return err
}
