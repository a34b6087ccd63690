package lint

import "fmt"

func copyContextIntoFinalStage() Rule {
	return Rule{
		ID: "CopyContextIntoFinalStage", Family: Strata, Severity: Warning,
		Summary: "The final stage of a multi-stage build should copy artifacts, not the whole build context",
		URL:     docURL("copycontextintofinalstage"),
		Fix:     "COPY --from=builder only the built artifact; COPY single files from the context when you need them",
		Check:   checkCopyContextFinal,
	}
}

// checkCopyContextFinal flags COPY . (the whole context) into a stage of the
// final image of a multi-stage build: sources, tests and secrets ship.
func checkCopyContextFinal(in *Input) []Problem {
	if !in.multiStage() {
		return nil
	}
	var out []Problem
	for i := range in.finalChain() {
		if i != in.finalIndex() && in.usedByOthers(i) {
			continue // a shared base stage: its context copy is the builders' too
		}
		for _, c := range in.File.Stages[i].Commands {
			srcs, ok := contextCopy(c)
			if !ok {
				continue
			}
			for _, s := range srcs {
				if isWholeContext(s) {
					out = append(out, Problem{Line: line(c), Message: fmt.Sprintf("%s %s copies the whole build context into the final image", c.Name(), s)})
					break
				}
			}
		}
	}
	return out
}

// usedByOthers reports whether a stage outside the final chain depends on
// stage i.
func (in *Input) usedByOthers(i int) bool {
	chain := in.finalChain()
	for j := range in.File.Stages {
		if chain[j] {
			continue
		}
		if in.parentIndex(j) == i {
			return true
		}
		for _, k := range in.stageRefs(j) {
			if k == i {
				return true
			}
		}
	}
	return false
}
