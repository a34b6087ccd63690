package lint

import "github.com/moby/buildkit/frontend/dockerfile/linter"

func duplicateStageName() Rule {
	r := buildkitRule(&linter.RuleDuplicateStageName, "give each stage a unique name",
		parseWarnings(linter.RuleDuplicateStageName.Name))
	r.Aliases = []string{"DL3024"}
	return r
}
