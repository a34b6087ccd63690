package lint

import (
	"path/filepath"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/patternmatcher"
)

func copyIgnoredFile() Rule {
	return buildkitRule(&linter.RuleCopyIgnoredFile, "remove the path from .dockerignore, or do not copy it", checkCopyIgnored)
}

// checkCopyIgnored flags COPY and ADD sources from the context that the
// .dockerignore excludes. As in BuildKit, nothing is checked when the
// .dockerignore has exclusions (!patterns).
func checkCopyIgnored(in *Input) []Problem {
	if in.Context == nil || len(in.Context.Ignore) == 0 {
		return nil
	}
	pm, err := patternmatcher.New(in.Context.Ignore)
	if err != nil || pm.Exclusions() {
		return nil
	}
	rootIgnored := false
	for _, p := range pm.Patterns() {
		switch p.String() {
		case "*", "**", "**/*":
			rootIgnored = true
		}
	}
	var out []Problem
	for _, st := range in.File.Stages {
		for _, c := range st.Commands {
			cmd, srcs := "", []string(nil)
			switch c := c.(type) {
			case *instructions.CopyCommand:
				if c.From != "" {
					continue
				}
				cmd, srcs = "Copy", c.SourcePaths
			case *instructions.AddCommand:
				cmd, srcs = "Add", c.SourcePaths
			default:
				continue
			}
			for _, src := range srcs {
				if strings.Contains(src, "$") || strings.Contains(src, "://") || strings.HasPrefix(src, "git@") {
					continue
				}
				src = filepath.ToSlash(filepath.Clean(src))
				if (src == "." || src == "/") && !rootIgnored {
					continue
				}
				if ok, err := pm.MatchesOrParentMatches(src); err == nil && ok {
					out = append(out, Problem{Line: line(c), Message: linter.RuleCopyIgnoredFile.Format(cmd, src)})
				}
			}
		}
	}
	return out
}
