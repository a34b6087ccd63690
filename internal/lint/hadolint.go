package lint

import "github.com/moby/buildkit/frontend/dockerfile/instructions"

// hadolintRule is the data of a hadolint rule under strata's name, with its
// DL code as alias and hadolint's wiki page as documentation.
func hadolintRule(id, code string, sev Severity, summary, fix string, check func(*Input) []Problem) Rule {
	return Rule{ID: id, Aliases: []string{code}, Family: Hadolint, Severity: sev, Summary: summary,
		URL: "https://github.com/hadolint/hadolint/wiki/" + code, Fix: fix, Check: check}
}

// eachRun calls check on every RUN of every stage with its parsed shell
// text; a non-empty message is a problem at the RUN.
func eachRun(in *Input, stages func(i int) bool, check func(r *instructions.RunCommand, sh shellScript) string) []Problem {
	var out []Problem
	for i := range in.File.Stages {
		if stages != nil && !stages(i) {
			continue
		}
		for _, r := range in.runs(i) {
			if msg := check(r, in.shell(r)); msg != "" {
				out = append(out, Problem{Line: line(r), Message: msg})
			}
		}
	}
	return out
}

// eachBaseImage calls check on every stage FROM an image, with the image
// reference after ARG expansion when there is a plan.
func eachBaseImage(in *Input, check func(ref string) string) []Problem {
	var out []Problem
	for i := range in.File.Stages {
		st := &in.File.Stages[i]
		if in.parentIndex(i) >= 0 || in.isScratch(i) {
			continue
		}
		ref := st.BaseName
		if in.Plan != nil {
			ref = in.baseImage(i)
		}
		if ref == "" || containsVar(ref) {
			continue
		}
		if msg := check(ref); msg != "" {
			out = append(out, Problem{Line: stageLine(st), Message: msg})
		}
	}
	return out
}

func containsVar(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '$' {
			return true
		}
	}
	return false
}
