package lint

import (
	"fmt"
	"strings"
)

func buildToolsInFinalStage() Rule {
	return Rule{
		ID: "BuildToolsInFinalStage", Family: Strata, Severity: Warning,
		Summary: "Compilers, build systems, git and -dev headers belong in a build stage, not in the image",
		URL:     docURL("buildtoolsinfinalstage"),
		Fix:     "install build tools in a builder stage and COPY --from it only what you built; or remove them in the same RUN (apk del / apt-get purge)",
		Check:   checkBuildTools,
	}
}

// checkBuildTools flags OS package installs of build tools in the stages
// that make the final image, unless the same RUN removes packages again.
func checkBuildTools(in *Input) []Problem {
	var out []Problem
	chain := in.finalChain()
	for i := range in.File.Stages {
		if !chain[i] {
			continue
		}
		for _, r := range in.runs(i) {
			sh := in.shell(r)
			if removesPackages(sh) {
				continue
			}
			var tools []string
			for _, ins := range sh.Installs() {
				for _, p := range ins.Packages {
					if isBuildTool(p) {
						tools = append(tools, packageName(p))
					}
				}
			}
			if len(tools) > 0 {
				out = append(out, Problem{Line: line(r), Message: fmt.Sprintf("Build tools installed in the final image: %s", strings.Join(tools, ", "))})
			}
		}
	}
	return out
}
