package lint

import (
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
)

func jsonArgsRecommended() Rule {
	r := buildkitRule(&linter.RuleJSONArgsRecommended, `write the exec form: CMD ["executable", "arg"]`, checkJSONArgs)
	r.Aliases = []string{"DL3025"}
	return r
}

// checkJSONArgs flags CMD and ENTRYPOINT in shell form when no SHELL was
// set in the stage or the stages it is based on (BuildKit looks at the image
// config's shell, which only SHELL sets).
func checkJSONArgs(in *Input) []Problem {
	var out []Problem
	for i := range in.File.Stages {
		shellSet := in.shellSetBefore(i)
		for _, c := range in.File.Stages[i].Commands {
			var prepend bool
			switch c := c.(type) {
			case *instructions.ShellCommand:
				shellSet = true
			case *instructions.CmdCommand:
				prepend = c.PrependShell
			case *instructions.EntrypointCommand:
				prepend = c.PrependShell
			}
			if prepend && !shellSet {
				out = append(out, Problem{Line: line(c), Message: linter.RuleJSONArgsRecommended.Format(c.Name())})
			}
		}
	}
	return out
}

// shellSetBefore reports whether a stage that stage i is based on sets SHELL.
func (in *Input) shellSetBefore(i int) bool {
	seen := map[int]bool{i: true}
	for p := in.parentIndex(i); p >= 0 && !seen[p]; p = in.parentIndex(p) {
		seen[p] = true
		for _, c := range in.File.Stages[p].Commands {
			if _, ok := c.(*instructions.ShellCommand); ok {
				return true
			}
		}
	}
	return false
}
