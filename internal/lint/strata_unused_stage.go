package lint

import "fmt"

func unusedStage() Rule {
	return Rule{
		ID: "UnusedStage", Family: Strata, Severity: Warning,
		Summary: "Every unnamed stage should be used by another stage",
		URL:     docURL("unusedstage"),
		Fix:     "remove the stage, use it (FROM / COPY --from), or name it (AS test) to build it with --target",
		Check:   checkUnusedStage,
	}
}

// checkUnusedStage flags unnamed stages, other than the final one, that no
// stage is based on, copies from or mounts: --target takes names, so they
// can never be built.
func checkUnusedStage(in *Input) []Problem {
	used := map[int]bool{in.finalIndex(): true}
	for j := range in.File.Stages {
		if p := in.parentIndex(j); p >= 0 {
			used[p] = true
		}
		for _, k := range in.stageRefs(j) {
			used[k] = true
		}
	}
	var out []Problem
	for i := range in.File.Stages {
		st := &in.File.Stages[i]
		if !used[i] && st.Name == "" {
			out = append(out, Problem{Line: stageLine(st), Message: fmt.Sprintf("Stage %d is unnamed and no other stage uses it: it is never built", i)})
		}
	}
	return out
}
