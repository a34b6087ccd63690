package lint

import "github.com/moby/buildkit/frontend/dockerfile/linter"

func maintainerDeprecated() Rule {
	r := buildkitRule(&linter.RuleMaintainerDeprecated, `use LABEL org.opencontainers.image.authors="name <mail>"`,
		parseWarnings(linter.RuleMaintainerDeprecated.Name))
	r.Aliases = []string{"DL4000"}
	return r
}
