package lint

import "github.com/moby/buildkit/frontend/dockerfile/linter"

func redundantTargetPlatform() Rule {
	return buildkitRule(&linter.RuleRedundantTargetPlatform, "drop --platform=$TARGETPLATFORM from FROM", checkRedundantTargetPlatform)
}

// checkRedundantTargetPlatform flags FROM --platform=$TARGETPLATFORM (or
// ${TARGETPLATFORM}): the only variable, expanding to the target platform.
func checkRedundantTargetPlatform(in *Input) []Problem {
	var out []Problem
	for i := range in.File.Stages {
		st := &in.File.Stages[i]
		if st.Platform == "$TARGETPLATFORM" || st.Platform == "${TARGETPLATFORM}" {
			out = append(out, Problem{Line: stageLine(st), Message: linter.RuleRedundantTargetPlatform.Format(st.Platform)})
		}
	}
	return out
}
