package lint

import (
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
)

func legacyKeyValueFormat() Rule {
	return buildkitRule(&linter.RuleLegacyKeyValueFormat, "write ENV KEY=value (and LABEL key=value)", checkLegacyKeyValue)
}

// checkLegacyKeyValue flags ENV and LABEL written "KEY value".
func checkLegacyKeyValue(in *Input) []Problem {
	var out []Problem
	for _, st := range in.File.Stages {
		for _, c := range st.Commands {
			var kvs instructions.KeyValuePairs
			switch c := c.(type) {
			case *instructions.EnvCommand:
				kvs = c.Env
			case *instructions.LabelCommand:
				kvs = c.Labels
			}
			for _, kv := range kvs {
				if kv.NoDelim {
					out = append(out, Problem{Line: line(c), Message: linter.RuleLegacyKeyValueFormat.Format(c.Name())})
					break
				}
			}
		}
	}
	return out
}
