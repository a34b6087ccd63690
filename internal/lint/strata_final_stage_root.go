package lint

import (
	"fmt"
	"sort"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

func finalStageRoot() Rule {
	return Rule{
		ID: "FinalStageRoot", Aliases: []string{"DL3002"}, Family: Strata, Severity: Warning,
		Summary: "The image should not run as root",
		URL:     docURL("finalstageroot"),
		Fix:     "add a user and end the final stage with USER app (or a numeric UID such as USER 65532)",
		Check:   checkFinalStageRoot,
	}
}

// checkFinalStageRoot flags a final image whose last USER is root, or that
// sets no USER at all on a base image not known to run as non-root.
func checkFinalStageRoot(in *Input) []Problem {
	chain := in.finalChain()
	idx := make([]int, 0, len(chain))
	for i := range chain {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	var last *instructions.UserCommand
	for _, i := range idx {
		for _, c := range in.File.Stages[i].Commands {
			if u, ok := c.(*instructions.UserCommand); ok {
				last = u
			}
		}
	}
	if last != nil {
		user, _, _ := strings.Cut(last.User, ":")
		if user == "root" || user == "0" {
			return []Problem{{Line: line(last), Message: fmt.Sprintf("Last USER of the final stage is %s: the container runs as root", last.User)}}
		}
		return nil
	}
	fi := in.finalIndex()
	if strings.Contains(in.baseImage(fi), "nonroot") {
		return nil
	}
	return []Problem{{Line: stageLine(&in.File.Stages[fi]), Message: "Final stage sets no USER: the container runs as root"}}
}
