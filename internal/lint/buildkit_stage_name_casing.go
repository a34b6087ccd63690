package lint

import "github.com/moby/buildkit/frontend/dockerfile/linter"

func stageNameCasing() Rule {
	return buildkitRule(&linter.RuleStageNameCasing, "write the stage name in lowercase: FROM image AS builder",
		parseWarnings(linter.RuleStageNameCasing.Name))
}
