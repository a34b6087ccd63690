package lint

import (
	"fmt"
	"strconv"
)

func copyFromIndex() Rule {
	return Rule{
		ID: "CopyFromIndex", Family: Strata, Severity: Warning,
		Summary: "Refer to a named stage by its name, not its index",
		URL:     docURL("copyfromindex"),
		Fix:     "use --from=NAME: indexes change when a stage is added above",
		Check:   checkCopyFromIndex,
	}
}

// checkCopyFromIndex flags COPY --from=N and RUN --mount from=N when stage N
// has a name.
func checkCopyFromIndex(in *Input) []Problem {
	var out []Problem
	for j := range in.File.Stages {
		froms, cmds := in.fromRefs(j)
		for k, f := range froms {
			n, err := strconv.Atoi(f)
			if err != nil || n < 0 || n >= len(in.File.Stages) || in.File.Stages[n].Name == "" {
				continue
			}
			name := in.File.Stages[n].Name
			out = append(out, Problem{Line: line(cmds[k]), Message: fmt.Sprintf("--from=%d refers to stage %q by index", n, name),
				Fix: fmt.Sprintf("write --from=%s", name)})
		}
	}
	return out
}
