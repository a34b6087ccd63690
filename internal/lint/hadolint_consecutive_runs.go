package lint

import (
	"slices"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

func consecutiveRuns() Rule {
	return hadolintRule("ConsecutiveRuns", "DL3059", Info, "Multiple consecutive RUN instructions: consider consolidation",
		"join them with && in one RUN, so they make one layer", func(in *Input) []Problem {
			var out []Problem
			for _, st := range in.File.Stages {
				var prev *instructions.RunCommand
				for _, c := range st.Commands {
					r, ok := c.(*instructions.RunCommand)
					if ok && prev != nil && slices.Equal(prev.FlagsUsed, r.FlagsUsed) && len(in.mounts(r)) == 0 && len(in.mounts(prev)) == 0 {
						out = append(out, Problem{Line: line(r), Message: "Multiple consecutive `RUN` instructions. Consider consolidation."})
					}
					prev = r
				}
			}
			return out
		})
}
