package lint

import (
	"fmt"
	"strings"

	"github.com/moby/patternmatcher"
)

func dockerignoreIncomplete() Rule {
	return Rule{
		ID: "DockerignoreIncomplete", Family: Strata, Severity: Warning,
		Summary: "The .dockerignore should exclude .git, dependency folders and build output found in the context",
		URL:     docURL("dockerignoreincomplete"),
		Fix:     "add the listed paths to .dockerignore",
		Check:   checkDockerignoreIncomplete,
	}
}

// checkDockerignoreIncomplete flags, at the first COPY or ADD from the
// context, top-level directories of the context that are VCS data,
// dependencies or build output and that the .dockerignore lets through.
func checkDockerignoreIncomplete(in *Input) []Problem {
	if in.Context == nil || !in.Context.HasIgnoreFile {
		return nil
	}
	l := in.firstContextCopy()
	if l == 0 {
		return nil
	}
	pm, err := patternmatcher.New(in.Context.Ignore)
	if err != nil {
		return nil
	}
	var missing []string
	for _, e := range in.Context.Entries {
		dir, ok := strings.CutSuffix(e, "/")
		if !ok || !shouldIgnore(dir) {
			continue
		}
		if m, err := pm.MatchesOrParentMatches(dir); err == nil && !m {
			missing = append(missing, dir)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return []Problem{{Line: l, Message: fmt.Sprintf(".dockerignore does not exclude %s", strings.Join(missing, ", "))}}
}

// shouldIgnore reports whether a top-level directory is one a build
// context rarely needs.
func shouldIgnore(dir string) bool {
	switch dir {
	case ".git", ".hg", ".svn", "node_modules", "bower_components", ".venv", "venv", "__pycache__",
		".pytest_cache", ".tox", ".gradle", ".idea", ".vscode", "dist", "build", "target", "out", "coverage":
		return true
	}
	return false
}
