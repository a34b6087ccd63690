package lint

import (
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

func copyFromOwnStage() Rule {
	return hadolintRule("CopyFromOwnStage", "DL3023", Error, "COPY --from cannot reference its own FROM alias",
		"copy from another stage; files of this stage are already there", func(in *Input) []Problem {
			var out []Problem
			for _, st := range in.File.Stages {
				for _, c := range st.Commands {
					if cp, ok := c.(*instructions.CopyCommand); ok && st.Name != "" && strings.EqualFold(cp.From, st.Name) {
						out = append(out, Problem{Line: line(c), Message: "COPY --from cannot reference its own FROM alias"})
					}
				}
			}
			return out
		})
}
