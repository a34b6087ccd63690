package build

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"

	"github.com/strata-build/strata/internal/dockerfile"
	"github.com/strata-build/strata/internal/plan"
)

// step is one instruction being dispatched.
type step struct {
	stage *plan.Stage
	cmd   instructions.Command
	line  int
}

// dispatchStage runs the ONBUILD triggers of the base, then the stage's instructions.
func (r *run) dispatchStage(ctx context.Context, s *plan.Stage, st *state) (*state, error) {
	cmds, err := r.triggers(s, st)
	if err != nil {
		return nil, err
	}
	if len(st.img.Config.OnBuild) > 0 {
		st = st.clone()
		st.img.Config.OnBuild = nil
	}
	cmds = append(cmds, s.Commands...)
	for i, c := range cmds {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		stp := step{stage: s, cmd: c, line: lineOf(c, s.Line)}
		r.preloadContext(ctx, stp, st)
		out, done := r.opts.Progress.Step(r.progressStage(s), i+2, len(cmds)+1, commandText(c)) // BuildKit: FROM is 1
		next, cached, err := r.dispatch(ctx, stp, st, out)
		done(cached, err)
		if err != nil {
			return nil, r.posErr(stp.line, err)
		}
		r.record(stp, st, next)
		st = next
	}
	return st, nil
}

// triggers returns the ONBUILD instructions that run first: the parent
// stage's (parsed by the plan) or the base image's.
func (r *run) triggers(s *plan.Stage, st *state) ([]instructions.Command, error) {
	if s.Base.Kind == plan.StageRef {
		return s.Triggers, nil
	}
	if len(st.img.Config.OnBuild) == 0 {
		return nil, nil
	}
	cmds, err := dockerfile.ParseTriggers(r.plan.File.Name, st.img.Config.OnBuild, r.plan.File.Escape)
	if err != nil {
		return nil, r.posErr(s.Line, fmt.Errorf("parsing ONBUILD triggers of the base image: %w", err))
	}
	return cmds, nil
}

// dispatch applies one instruction to st and returns the new state, and
// whether it came from the build cache. Instructions that only change the
// config always run (they cost nothing) and chain their text into the key.
func (r *run) dispatch(ctx context.Context, stp step, st *state, out io.Writer) (*state, bool, error) {
	switch stp.cmd.(type) {
	case *instructions.CopyCommand, *instructions.AddCommand, *instructions.RunCommand, *instructions.WorkdirCommand:
		return r.dispatchLayer(ctx, stp, st, out)
	}
	next, err := r.dispatchMeta(stp, st)
	if err != nil {
		return nil, false, err
	}
	next.key = metaKey(st.key, commandText(stp.cmd))
	return next, false, nil
}

// dispatchLayer runs an instruction that may make a layer.
func (r *run) dispatchLayer(ctx context.Context, stp step, st *state, out io.Writer) (*state, bool, error) {
	cmd, err := expand(stp.cmd, st)
	if err != nil {
		return nil, false, err
	}
	switch c := cmd.(type) {
	case *instructions.WorkdirCommand:
		return r.dispatchWorkdir(ctx, stp, st, c)
	case *instructions.CopyCommand:
		return r.dispatchCopy(ctx, stp, st, copyFromCopy(c))
	case *instructions.AddCommand:
		return r.dispatchCopy(ctx, stp, st, copyFromAdd(c))
	case *instructions.RunCommand:
		return r.dispatchRun(ctx, stp, st, c, out)
	}
	return nil, false, fmt.Errorf("unsupported instruction %s", strings.ToUpper(stp.cmd.Name()))
}

// dispatchMeta applies an instruction that changes only the config.
func (r *run) dispatchMeta(stp step, st *state) (*state, error) {
	if a, ok := stp.cmd.(*instructions.ArgCommand); ok {
		return r.dispatchArg(st, a)
	}
	if e, ok := stp.cmd.(*instructions.ExposeCommand); ok {
		return r.dispatchExpose(st, e)
	}
	cmd, err := expand(stp.cmd, st)
	if err != nil {
		return nil, err
	}
	r.usedArgs.markUsed(st.args)
	next := st.clone()
	tm := r.opts.Timestamp
	switch c := cmd.(type) {
	case *instructions.EnvCommand:
		dispatchEnv(next, c, tm)
	case *instructions.LabelCommand:
		dispatchLabel(next, c, tm)
	case *instructions.MaintainerCommand:
		next.img.Author = c.Maintainer
		next.history("MAINTAINER "+c.Maintainer, false, tm)
	case *instructions.UserCommand:
		next.img.Config.User = c.User
		next.history("USER "+c.User, false, tm)
	case *instructions.CmdCommand:
		dispatchCmd(next, c, tm)
	case *instructions.EntrypointCommand:
		dispatchEntrypoint(next, c, tm)
	case *instructions.VolumeCommand:
		return next, dispatchVolume(next, c, tm)
	case *instructions.StopSignalCommand:
		return next, dispatchStopSignal(next, c, tm)
	case *instructions.HealthCheckCommand:
		dispatchHealthcheck(next, c, tm)
	case *instructions.ShellCommand:
		next.img.Config.Shell = slices.Clone(c.Shell)
		next.history(fmt.Sprintf("SHELL %v", c.Shell), false, tm)
	case *instructions.OnbuildCommand:
		next.img.Config.OnBuild = append(next.img.Config.OnBuild, c.Expression)
		next.history("ONBUILD "+c.Expression, false, tm)
	default:
		return nil, fmt.Errorf("unsupported instruction %s", strings.ToUpper(stp.cmd.Name()))
	}
	return next, nil
}

// wordExpander expands one word with the state's environment, as BuildKit.
func wordExpander(st *state) func(string) (string, error) {
	lex := shell.NewLex(st.escape)
	envs := shell.EnvsFromSlice(st.env)
	return func(w string) (string, error) {
		out, _, err := lex.ProcessWord(w, envs)
		return out, err
	}
}

// expand returns a copy of cmd with variables expanded in the words Docker
// expands, using the state's environment. The parsed command is not changed.
func expand(cmd instructions.Command, st *state) (instructions.Command, error) {
	envs := shell.EnvsFromSlice(st.env)
	word := wordExpander(st)
	c := cloneCommand(cmd)
	if _, ok := c.(*instructions.RunCommand); ok {
		return c, nil // its mounts are expanded from a fresh copy (dockerfile.Mounts)
	}
	if ex, ok := c.(instructions.SupportsSingleWordExpansion); ok {
		if err := ex.Expand(word); err != nil {
			return nil, err
		}
	}
	if ex, ok := c.(instructions.SupportsSingleWordExpansionRaw); ok {
		raw := shell.NewLex('\\')
		raw.SkipProcessQuotes = true
		err := ex.ExpandRaw(func(w string) (string, error) {
			out, _, err := raw.ProcessWord(w, envs)
			return out, err
		})
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}

// cloneCommand copies a command deeply enough that Expand on the copy leaves
// the original untouched.
func cloneCommand(cmd instructions.Command) instructions.Command {
	switch c := cmd.(type) {
	case *instructions.EnvCommand:
		n := *c
		n.Env = slices.Clone(c.Env)
		return &n
	case *instructions.LabelCommand:
		n := *c
		n.Labels = slices.Clone(c.Labels)
		return &n
	case *instructions.CopyCommand:
		n := *c
		n.SourcePaths, n.SourceContents = slices.Clone(c.SourcePaths), slices.Clone(c.SourceContents)
		n.ExcludePatterns = slices.Clone(c.ExcludePatterns)
		return &n
	case *instructions.AddCommand:
		n := *c
		n.SourcePaths, n.SourceContents = slices.Clone(c.SourcePaths), slices.Clone(c.SourceContents)
		n.ExcludePatterns = slices.Clone(c.ExcludePatterns)
		return &n
	case *instructions.VolumeCommand:
		n := *c
		n.Volumes = slices.Clone(c.Volumes)
		return &n
	case *instructions.WorkdirCommand:
		n := *c
		return &n
	case *instructions.UserCommand:
		n := *c
		return &n
	case *instructions.StopSignalCommand:
		n := *c
		return &n
	case *instructions.RunCommand:
		return c // never expanded in place
	}
	return cmd
}

// commandText is the instruction as written.
func commandText(c instructions.Command) string {
	if s, ok := c.(fmt.Stringer); ok {
		return s.String()
	}
	return strings.ToUpper(c.Name())
}

func lineOf(c instructions.Command, fallback int) int {
	if loc := c.Location(); len(loc) > 0 {
		return loc[0].Start.Line
	}
	return fallback
}

// posErr attaches the Dockerfile position to err, unless it has one.
func (r *run) posErr(line int, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*dockerfile.Error); ok {
		return err
	}
	return &dockerfile.Error{File: r.plan.File.Name, Line: line, Err: err}
}
