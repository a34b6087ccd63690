package lint

import (
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

func invalidDefaultArgInFrom() Rule {
	return buildkitRule(&linter.RuleInvalidDefaultArgInFrom, "give the global ARG a default that makes a valid image: ARG BASE=alpine:3.20",
		checkInvalidDefaultArg)
}

// checkInvalidDefaultArg expands every FROM with the global ARGs' defaults
// alone (no --build-arg) and flags those that do not give a valid image
// reference; as BuildKit, also a FROM without variables (FROM BUILDER).
func checkInvalidDefaultArg(in *Input) []Problem {
	env, _ := in.defaultMetaArgs()
	lex := shell.NewLex(in.File.Escape)
	var out []Problem
	for i := range in.File.Stages {
		st := &in.File.Stages[i]
		res, err := lex.ProcessWordWithMatches(st.BaseName, env)
		if err != nil {
			continue
		}
		if _, err := name.ParseReference(res.Result); err != nil || res.Result == "" {
			out = append(out, Problem{Line: stageLine(st), Message: linter.RuleInvalidDefaultArgInFrom.Format(st.BaseName)})
		}
	}
	return out
}

// defaultMetaArgs are metaArgs without the plan's --build-arg values.
func (in *Input) defaultMetaArgs() (envMap, map[string]bool) {
	bare := *in
	bare.Plan = nil
	return bare.metaArgs()
}
