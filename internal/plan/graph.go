package plan

import (
	"fmt"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/util/suggest"

	"github.com/strata-build/strata/internal/dockerfile"
)

// edges adds the COPY --from and RUN --mount from edges of every stage, as
// BuildKit's buildStageDependencyGraph does for all stages (so a bad index
// or --from with variables fails even in a stage the target does not need).
func (pl *planner) edges() error {
	for _, s := range pl.p.Stages {
		for _, cmd := range s.Commands {
			es, err := pl.commandEdges(cmd, cmd.Location()[0].Start.Line)
			if err != nil {
				return err
			}
			s.Edges = append(s.Edges, es...)
		}
	}
	return nil
}

// commandEdges are the edges cmd makes, placed at line.
func (pl *planner) commandEdges(cmd instructions.Command, line int) ([]Edge, error) {
	switch c := cmd.(type) {
	case *instructions.CopyCommand:
		if c.From == "" {
			return nil, nil
		}
		src, err := pl.resolveFrom(CopyEdge, c.From, line)
		if err != nil {
			return nil, err
		}
		return []Edge{{Kind: CopyEdge, From: src, Line: line, Paths: c.SourcePaths, Command: cmd}}, nil
	case *instructions.RunCommand:
		var es []Edge
		for _, m := range instructions.GetMounts(c) {
			if m.From == "" {
				continue
			}
			src, err := pl.resolveFrom(MountEdge, m.From, line)
			if err != nil {
				return nil, err
			}
			es = append(es, Edge{Kind: MountEdge, From: src, Line: line, Command: cmd})
		}
		return es, nil
	}
	return nil, nil
}

// checkCycles fails on a dependency cycle between stages, reachable or not,
// as BuildKit's validateCircularDependency does, naming the stages.
func (pl *planner) checkCycles() error {
	const (
		unseen = iota
		onPath
		done
	)
	state := make(map[*Stage]int)
	var path []Edge
	var visit func(s *Stage) []Edge
	visit = func(s *Stage) []Edge {
		state[s] = onPath
		for _, e := range s.Edges {
			if e.From.Kind != StageRef {
				continue
			}
			path = append(path, e)
			switch state[e.From.Stage] {
			case onPath:
				return path
			case unseen:
				if c := visit(e.From.Stage); c != nil {
					return c
				}
			}
			path = path[:len(path)-1]
		}
		state[s] = done
		return nil
	}
	for _, s := range pl.p.Stages {
		if state[s] != unseen {
			continue
		}
		if c := visit(s); c != nil {
			return pl.cycleError(s, c)
		}
	}
	return nil
}

// cycleError names the stages of a cycle found from start along path,
// placing it at the instruction that closes the cycle.
func (pl *planner) cycleError(start *Stage, path []Edge) error {
	last := path[len(path)-1]
	names := []string{last.From.Stage.DisplayName()}
	from := last.From.Stage
	i := 0
	for s := start; s != from; s = path[i-1].From.Stage {
		i++ // skip the lead-in to the cycle
	}
	for _, e := range path[i:] {
		names = append(names, e.From.Stage.DisplayName())
	}
	return pl.errorf(last.Line, "circular dependency detected on stage: %s (%s)", from.DisplayName(), strings.Join(names, " -> "))
}

// target picks the stage to build: Options.Target (case-insensitive, the
// last stage of that name) or the last stage.
func (pl *planner) target() error {
	if pl.opts.Target == "" {
		pl.p.Target = pl.p.Stages[len(pl.p.Stages)-1]
		return nil
	}
	if t := pl.p.Stage(pl.opts.Target); t != nil {
		pl.p.Target = t
		return nil
	}
	var names []string
	for _, s := range pl.p.Stages {
		if s.Name != "" {
			names = append(names, s.Name)
		}
	}
	err := fmt.Errorf("target stage %q could not be found", pl.opts.Target)
	return &dockerfile.Error{File: pl.f.Name, Err: suggest.WrapError(err, pl.opts.Target, names, true)}
}

// prune computes Order: the stages the target reaches, adding the edges of
// parent-stage ONBUILD triggers until nothing new is reached (BuildKit's
// resolveStages), then refusing references to later stages, which BuildKit
// only detects while dispatching reachable stages.
func (pl *planner) prune() error {
	seen := make(map[*Stage]bool)
	for {
		reach := pl.reachable()
		grew := false
		for _, s := range pl.p.Stages {
			if !reach[s] || seen[s] {
				continue
			}
			seen[s] = true
			n, err := pl.triggers(s)
			if err != nil {
				return err
			}
			grew = grew || n > 0
		}
		if !grew {
			break
		}
	}
	reach := pl.reachable()
	for _, s := range pl.p.Stages {
		if !reach[s] {
			continue
		}
		if err := pl.checkForward(s); err != nil {
			return err
		}
		pl.p.Order = append(pl.p.Order, s)
	}
	return nil
}

// reachable is the set of stages the target depends on, itself included.
func (pl *planner) reachable() map[*Stage]bool {
	reach := make(map[*Stage]bool)
	var walk func(s *Stage)
	walk = func(s *Stage) {
		if reach[s] {
			return
		}
		reach[s] = true
		for _, e := range s.Edges {
			if e.From.Kind == StageRef {
				walk(e.From.Stage)
			}
		}
	}
	walk(pl.p.Target)
	return reach
}

// checkForward refuses a COPY --from or mount of a stage that is not
// defined before s, with BuildKit's messages.
func (pl *planner) checkForward(s *Stage) error {
	for _, e := range s.Edges {
		if e.From.Kind != StageRef || e.From.Stage.Index < s.Index || e.From.Stage.Replaced() {
			continue
		}
		src := e.From.Stage.DisplayName()
		if e.Kind == MountEdge {
			return pl.errorf(e.Line, "cannot mount from stage %q, stage needs to be defined before current command", src)
		}
		return pl.errorf(e.Line, "cannot copy from stage %q, it needs to be defined before current stage %q", src, s.DisplayName())
	}
	return nil
}

// triggers parses the ONBUILD instructions of the parent stage of s into
// s.Triggers and adds their edges before the others; it returns how many
// edges it added. Errors are placed at s's FROM, as in BuildKit.
func (pl *planner) triggers(s *Stage) (int, error) {
	if s.Base.Kind != StageRef {
		return 0, nil
	}
	var exprs []string
	for _, c := range s.Base.Stage.Commands {
		if ob, ok := c.(*instructions.OnbuildCommand); ok {
			exprs = append(exprs, ob.Expression)
		}
	}
	if len(exprs) == 0 {
		return 0, nil
	}
	cmds, err := dockerfile.ParseTriggers(pl.f.Name, exprs, 0)
	if err != nil {
		return 0, withLine(err, s.Line)
	}
	var es []Edge
	for _, c := range cmds {
		e, err := pl.commandEdges(c, s.Line)
		if err != nil {
			return 0, err
		}
		es = append(es, e...)
	}
	s.Triggers = cmds
	s.Edges = append(append([]Edge{s.Edges[0]}, es...), s.Edges[1:]...)
	return len(es), nil
}

// withLine places a line-less *dockerfile.Error at line.
func withLine(err error, line int) error {
	if de, ok := err.(*dockerfile.Error); ok && de.Line == 0 {
		return &dockerfile.Error{File: de.File, Line: line, Err: de.Err}
	}
	return err
}
