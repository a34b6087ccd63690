package lint

import (
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

func addForLocalFiles() Rule {
	return hadolintRule("AddForLocalFiles", "DL3020", Error, "Use COPY instead of ADD for files and folders",
		"COPY src dest: ADD is for URLs, git repositories and archives to extract", func(in *Input) []Problem {
			var out []Problem
			for _, st := range in.File.Stages {
				for _, c := range st.Commands {
					a, ok := c.(*instructions.AddCommand)
					if !ok {
						continue
					}
					for _, s := range a.SourcePaths {
						if !strings.Contains(s, "://") && !strings.HasPrefix(s, "git@") && !isArchive(s) && !containsVar(s) {
							out = append(out, Problem{Line: line(c), Message: "Use COPY instead of ADD for files and folders"})
							break
						}
					}
				}
			}
			return out
		})
}

// isArchive reports whether a path has an archive extension ADD extracts.
func isArchive(p string) bool {
	for _, ext := range []string{".tar", ".gz", ".bz2", ".xz", ".zst", ".zip", ".tgz", ".tb2", ".tbz", ".tbz2", ".lz", ".lzma", ".tlz", ".txz", ".Z", ".tZ"} {
		if strings.HasSuffix(p, ext) {
			return true
		}
	}
	return false
}
