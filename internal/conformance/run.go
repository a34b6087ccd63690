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
	// Known is the case's known divergence (Spec.Known) when the case did
	// not pass: the result is then neither a pass nor a failure.
	Known string
	// Differences are what made the case fail, most telling first.
	Differences []string
	// Skipped says why the case did not run (a base image it requires is
	// missing); it is then neither a pass nor a failure.
	Skipped string
}

// Failed says the result counts as a failure: not a pass, not known, not
// skipped.
func (r Result) Failed() bool { return !r.Pass && r.Known == "" && r.Skipped == "" }

// Line is the result as the run prints it: "PASS case", "FAIL case: first
// differences" or "KNOWN case: reason: first differences".
func (r Result) Line(max int) string {
	if r.Pass {
		return "PASS " + r.Case
	}
	if r.Skipped != "" {
		return "SKIP " + r.Case + ": " + r.Skipped
	}
	shown := r.Differences
	more := ""
	if len(shown) > max {
		shown, more = shown[:max], fmt.Sprintf(" (+%d more)", len(r.Differences)-max)
	}
	if r.Known != "" {
		if len(shown) == 0 {
			return fmt.Sprintf("KNOWN %s: %s; it agrees with the reference now: drop \"known\" from its case.json", r.Case, r.Known)
		}
		return fmt.Sprintf("KNOWN %s: %s: %s%s", r.Case, r.Known, strings.Join(shown, " | "), more)
	}
	return fmt.Sprintf("FAIL %s: %s%s", r.Case, strings.Join(shown, " | "), more)
}

// Reference is the builder strata is compared with.
type Reference struct {
	// Name names the reference in differences ("buildkit", "docker").
	Name    string
	Builder Builder
	// Skip, if set, says which cases the reference cannot build (Docker
	// 20.10 and the cases that need a newer frontend); those are checked
	// against their expectations alone.
	Skip func(Case) bool
	// Known, if set, gives a case's known divergence from this reference
	// (Spec.Known is about BuildKit, not Docker 20.10).
	Known func(Case) string
}

// RunCase builds c with strata and, unless the reference skips it, with the
// reference, and compares the two (and the case's expectations). A case
// with a known divergence that does not pass is reported as known.
func RunCase(ctx context.Context, c Case, strata Builder, ref Reference) Result {
	res := runCase(ctx, c, strata, ref)
	if ref.Known != nil {
		if k := ref.Known(c); k != "" {
			res.Pass, res.Known = false, k
		}
	}
	return res
}

func runCase(ctx context.Context, c Case, strata Builder, ref Reference) Result {
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
	if ref.Skip == nil || !ref.Skip(c) {
		var rerr error
		want, rerr = ref.Builder.Build(ctx, c)
		if rerr != nil && !errors.As(rerr, new(*BuildFailedError)) {
			return fail("running %s: %v", ref.Name, rerr)
		}
		if (rerr != nil) != c.Spec.MustFail {
			return fail("case disagrees with %s (mustFail=%t): %v", ref.Name, c.Spec.MustFail, rerr)
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
		diffs = Diff(want, got, ref.Name, "strata")
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
