package lint

import (
	"sort"

	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/moby/buildkit/util/suggest"
)

func undefinedArgInFrom() Rule {
	return buildkitRule(&linter.RuleUndefinedArgInFrom, "declare the ARG before the first FROM: ARG NAME=default", checkUndefinedArgInFrom)
}

// checkUndefinedArgInFrom flags variables in FROM's image and --platform
// that no global ARG (nor a predefined platform ARG) declares.
func checkUndefinedArgInFrom(in *Input) []Problem {
	env, declared := in.metaArgs()
	keys := make([]string, 0, len(declared))
	for k := range declared {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	lex := shell.NewLex(in.File.Escape)
	var out []Problem
	for i := range in.File.Stages {
		st := &in.File.Stages[i]
		for _, word := range []string{st.BaseName, st.Platform} {
			if word == "" {
				continue
			}
			res, _ := lex.ProcessWordWithMatches(word, env)
			var unmatched []string
			for k := range res.Unmatched {
				if !declared[k] {
					unmatched = append(unmatched, k)
				}
			}
			sort.Strings(unmatched)
			for _, k := range unmatched {
				s, _ := suggest.Search(k, keys, true)
				out = append(out, Problem{Line: stageLine(st), Message: linter.RuleUndefinedArgInFrom.Format(k, s)})
			}
		}
	}
	return out
}
