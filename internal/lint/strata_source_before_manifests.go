package lint

import (
	"fmt"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

func sourceBeforeManifests() Rule {
	return Rule{
		ID: "SourceBeforeManifests", Family: Strata, Severity: Warning,
		Summary: "Copy dependency manifests and install dependencies before copying the source",
		URL:     docURL("sourcebeforemanifests"),
		Fix:     "COPY the manifests (go.mod go.sum, package*.json, requirements.txt...) first, install, then COPY . .",
		Check:   checkSourceBeforeManifests,
	}
}

// checkSourceBeforeManifests flags COPY . followed by a dependency install
// with no manifest copied before it: every source edit then re-downloads
// every dependency.
func checkSourceBeforeManifests(in *Input) []Problem {
	var out []Problem
	for _, st := range in.File.Stages {
		manifest := false
		var whole instructions.Command
		for _, c := range st.Commands {
			if srcs, ok := contextCopy(c); ok && whole == nil {
				for _, s := range srcs {
					if isWholeContext(s) {
						whole = c
					} else if isManifest(s) {
						manifest = true
					}
				}
				continue
			}
			r, ok := c.(*instructions.RunCommand)
			if !ok || whole == nil || manifest {
				continue
			}
			for _, sc := range in.shell(r).Commands {
				if langInstall(sc) && !buildOnly(sc) {
					out = append(out, Problem{Line: line(whole), Message: fmt.Sprintf(
						"The whole context is copied before %q installs dependencies; any source change invalidates the dependency layer", strings.Join(sc.Args, " "))})
					break
				}
			}
			whole = nil // one finding per COPY
		}
	}
	return out
}

// buildOnly reports whether a language command compiles rather than
// fetches dependencies, which needs the source anyway.
func buildOnly(c simpleCommand) bool {
	return c.is("go", "build") || c.is("go", "install") || c.is("cargo", "build") || c.is("cargo", "install") ||
		c.is("mvn", "package") || c.is("mvn", "install") || c.is("mvn", "verify") || c.is("gradle", "build") ||
		c.is("./gradlew", "build") || c.is("gradlew", "build")
}
