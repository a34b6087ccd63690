package lint

import (
	"fmt"
	"strings"
)

func dependencyCacheMount() Rule {
	return Rule{
		ID: "DependencyCacheMount", Family: Strata, Severity: Info,
		Summary: "Dependency installs and builds should use a cache mount",
		URL:     docURL("dependencycachemount"),
		Fix:     "RUN --mount=type=cache,target=/root/.cache/... keeps downloads across builds without putting them in a layer",
		Check:   checkDependencyCacheMount,
	}
}

// checkDependencyCacheMount flags RUNs that download language dependencies
// without any cache mount. pip with --no-cache-dir chose no cache and is
// left alone.
func checkDependencyCacheMount(in *Input) []Problem {
	var out []Problem
	for i := range in.File.Stages {
		for _, r := range in.runs(i) {
			if in.cacheMounted(r) {
				continue
			}
			for _, c := range in.shell(r).Commands {
				if langInstall(c) && !c.has("--no-cache-dir") {
					out = append(out, Problem{Line: line(r), Message: fmt.Sprintf("%q runs without a cache mount; every rebuild downloads again", strings.Join(c.Args, " "))})
					break
				}
			}
		}
	}
	return out
}
