package lint

import (
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

func pipeWithoutPipefail() Rule {
	return hadolintRule("PipeWithoutPipefail", "DL4006", Warning, "Set the SHELL option -o pipefail before RUN with a pipe in it",
		`SHELL ["/bin/bash", "-o", "pipefail", "-c"] (or /bin/ash on alpine/busybox) before the RUN`, func(in *Input) []Problem {
			var out []Problem
			for i, st := range in.File.Stages {
				ok := in.pipefailBefore(i)
				for _, c := range st.Commands {
					switch c := c.(type) {
					case *instructions.ShellCommand:
						ok = pipefailShell(c.Shell)
					case *instructions.RunCommand:
						s := script(c)
						if !ok && c.PrependShell && in.shell(c).Pipe && !strings.Contains(s, "pipefail") {
							out = append(out, Problem{Line: line(c), Message: "Set the SHELL option -o pipefail before RUN with a pipe in it. If you are using /bin/sh in an alpine image or if your shell is symlinked to busybox then consider explicitly setting your SHELL to /bin/ash, or disable this check"})
						}
					}
				}
			}
			return out
		})
}

// pipefailShell reports whether a SHELL sets pipefail or is not a POSIX
// shell (pwsh, cmd), for which the rule does not apply.
func pipefailShell(sh []string) bool {
	j := strings.Join(sh, " ")
	return strings.Contains(j, "pipefail") || strings.Contains(j, "pwsh") || strings.Contains(j, "powershell") || strings.Contains(j, "cmd")
}

// pipefailBefore reports whether the last SHELL of the stages stage i is
// based on sets pipefail.
func (in *Input) pipefailBefore(i int) bool {
	var chain []int
	seen := map[int]bool{i: true}
	for p := in.parentIndex(i); p >= 0 && !seen[p]; p = in.parentIndex(p) {
		seen[p] = true
		chain = append([]int{p}, chain...)
	}
	ok := false
	for _, p := range chain {
		for _, c := range in.File.Stages[p].Commands {
			if s, isShell := c.(*instructions.ShellCommand); isShell {
				ok = pipefailShell(s.Shell)
			}
		}
	}
	return ok
}
