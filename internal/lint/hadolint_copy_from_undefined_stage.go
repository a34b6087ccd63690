package lint

import (
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

func copyFromUndefinedStage() Rule {
	return hadolintRule("CopyFromUndefinedStage", "DL3022", Warning, "COPY --from should reference a previously defined FROM alias",
		"name the stage with FROM image AS name before copying from it, or give a full image reference (name:tag)", func(in *Input) []Problem {
			var out []Problem
			for j := range in.File.Stages {
				for _, c := range in.File.Stages[j].Commands {
					cp, ok := c.(*instructions.CopyCommand)
					if !ok || cp.From == "" || containsVar(cp.From) || strings.ContainsAny(cp.From, ":/@") {
						continue
					}
					if _, err := strconv.Atoi(cp.From); err == nil || in.stageIndex(cp.From, len(in.File.Stages)) >= 0 {
						continue
					}
					out = append(out, Problem{Line: line(c), Message: "COPY --from should reference a previously defined FROM alias (" + cp.From + ")"})
				}
			}
			return out
		})
}
