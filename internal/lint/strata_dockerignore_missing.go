package lint

func dockerignoreMissing() Rule {
	return Rule{
		ID: "DockerignoreMissing", Family: Strata, Severity: Warning,
		Summary: "A build that copies from its context should have a .dockerignore",
		URL:     docURL("dockerignoremissing"),
		Fix:     "add a .dockerignore excluding at least .git, dependency folders (node_modules) and build output",
		Check:   checkDockerignoreMissing,
	}
}

// checkDockerignoreMissing flags, at the first COPY or ADD from the context,
// a context without a .dockerignore.
func checkDockerignoreMissing(in *Input) []Problem {
	if in.Context == nil || in.Context.HasIgnoreFile {
		return nil
	}
	if l := in.firstContextCopy(); l > 0 {
		return []Problem{{Line: l, Message: "The build context has no .dockerignore; everything in it (.git, local builds, secrets) is sent and may be copied"}}
	}
	return nil
}

// firstContextCopy is the line of the first COPY or ADD from the context, 0
// if none.
func (in *Input) firstContextCopy() int {
	for _, st := range in.File.Stages {
		for _, c := range st.Commands {
			if _, ok := contextCopy(c); ok {
				return line(c)
			}
		}
	}
	return 0
}
