package conformance

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Result is the outcome of one case.
type Result struct {
	Case string
	Pass bool
	// Differences are what made the case fail, most telling first.
	Differences []string
}

// Line is the result as the run prints it: "PASS case" or
// "FAIL case: first differences".
func (r Result) Line(max int) string {
	if r.Pass {
		return "PASS " + r.Case
	}
	shown := r.Differences
	more := ""
	if len(shown) > max {
		shown, more = shown[:max], fmt.Sprintf(" (+%d more)", len(r.Differences)-max)
	}
	return fmt.Sprintf("FAIL %s: %s%s", r.Case, strings.Join(shown, " | "), more)
}

// RunCase builds c with strata and, unless it is a reference case, with
// docker, and compares the two (and the case's expectations).
func RunCase(ctx context.Context, c Case, strata, docker Builder) Result {
	res := Result{Case: c.Name}
	fail := func(format string, args ...any) Result {
		res.Differences = append(res.Differences, fmt.Sprintf(format, args...))
		return res
	}
	got, serr := strata.Build(ctx, c)
	var bf *BuildFailedError
	if serr != nil && !errors.As(serr, &bf) {
		return fail("running strata: %v", serr)
	}
	var want *Report
	if c.Spec.Reference == "" {
		var derr error
		want, derr = docker.Build(ctx, c)
		if derr != nil && !errors.As(derr, new(*BuildFailedError)) {
			return fail("running docker: %v", derr)
		}
		if (derr != nil) != c.Spec.MustFail {
			return fail("case disagrees with docker (mustFail=%t): %v", c.Spec.MustFail, derr)
		}
	}
	if c.Spec.MustFail {
		if serr == nil {
			return fail("strata built it; the build must fail")
		}
		res.Pass = true
		return res
	}
	if serr != nil {
		return fail("%v", serr)
	}
	var diffs []Difference
	if want != nil {
		diffs = Diff(want, got, "docker", "strata")
	}
	if c.Spec.Expect != nil {
		d, err := Check(got, *c.Spec.Expect)
		if err != nil {
			return fail("checking expectations: %v", err)
		}
		diffs = append(diffs, d...)
	}
	for _, d := range diffs {
		res.Differences = append(res.Differences, d.String())
	}
	res.Pass = len(diffs) == 0
	return res
}
