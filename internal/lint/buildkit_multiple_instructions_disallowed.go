package lint

import (
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
)

func multipleInstructionsDisallowed() Rule {
	return buildkitRule(&linter.RuleMultipleInstructionsDisallowed, "keep only the last CMD, ENTRYPOINT or HEALTHCHECK of the stage",
		checkMultipleInstructions)
}

// checkMultipleInstructions flags every CMD, ENTRYPOINT and HEALTHCHECK that
// a later one of the same kind in the stage overrides, at the overridden one
// (as BuildKit does: that is the one that will be ignored).
func checkMultipleInstructions(in *Input) []Problem {
	var out []Problem
	for _, st := range in.File.Stages {
		last := map[string]instructions.Command{}
		for _, c := range st.Commands {
			var kind string
			switch c.(type) {
			case *instructions.CmdCommand:
				kind = "cmd"
			case *instructions.EntrypointCommand:
				kind = "entrypoint"
			case *instructions.HealthCheckCommand:
				kind = "healthcheck"
			default:
				continue
			}
			if prev, ok := last[kind]; ok {
				out = append(out, Problem{Line: line(prev), Message: linter.RuleMultipleInstructionsDisallowed.Format(c.Name())})
			}
			last[kind] = c
		}
	}
	return out
}
