package lint

import (
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
)

func workdirRelativePath() Rule {
	return buildkitRule(&linter.RuleWorkdirRelativePath, "start the stage's first WORKDIR with /", checkWorkdirRelative)
}

// checkWorkdirRelative flags the first WORKDIR of a stage when it is relative
// and no stage it is based on set one: it then depends on the base image.
func checkWorkdirRelative(in *Input) []Problem {
	var out []Problem
	set := make([]bool, len(in.File.Stages))
	for i, st := range in.File.Stages {
		if p := in.parentIndex(i); p >= 0 && p < i {
			set[i] = set[p]
		}
		for _, c := range st.Commands {
			w, ok := c.(*instructions.WorkdirCommand)
			if !ok {
				continue
			}
			if !set[i] && !strings.HasPrefix(w.Path, "/") && !strings.HasPrefix(w.Path, "$") {
				out = append(out, Problem{Line: line(c), Message: linter.RuleWorkdirRelativePath.Format(w.Path)})
			}
			set[i] = true
		}
	}
	return out
}
