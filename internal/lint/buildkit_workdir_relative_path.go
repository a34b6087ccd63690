package lint

import (
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

func workdirRelativePath() Rule {
	return buildkitRule(&linter.RuleWorkdirRelativePath, "start the stage's first WORKDIR with /", checkWorkdirRelative)
}

// checkWorkdirRelative flags the first WORKDIR of a stage when it is relative
// and no stage it is based on set one: it then depends on the base image.
func checkWorkdirRelative(in *Input) []Problem {
	var out []Problem
	set := make([]bool, len(in.File.Stages))
	lex := shell.NewLex(in.File.Escape)
	for i, st := range in.File.Stages {
		if p := in.parentIndex(i); p >= 0 && p < i {
			set[i] = set[p]
		}
		for _, c := range st.Commands {
			w, ok := c.(*instructions.WorkdirCommand)
			if !ok {
				continue
			}
			path := unquoted(lex, w.Path)
			if !set[i] && !strings.HasPrefix(path, "/") && !strings.HasPrefix(path, "$") {
				out = append(out, Problem{Line: line(c), Message: linter.RuleWorkdirRelativePath.Format(path)})
			}
			set[i] = true
		}
	}
	return out
}

// unquoted is word with its quotes and escapes removed, as BuildKit's
// dispatch sees a path after expansion (WORKDIR "/work dir" is absolute);
// a word with a variable is kept as written.
func unquoted(lex *shell.Lex, word string) string {
	if strings.Contains(word, "$") {
		return word
	}
	if w, _, err := lex.ProcessWord(word, envMap{}); err == nil {
		return w
	}
	return word
}
