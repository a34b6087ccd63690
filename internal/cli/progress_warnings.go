package cli

import (
	"fmt"
	"io"

	"github.com/strata-build/strata/internal/build"
	"github.com/strata-build/strata/internal/lint"
)

// printWarningSummary writes the build-check warnings after the progress
// as buildx does (commands/build.go printWarnings), the header yellow on
// a colour terminal:
//
//	1 warning found (use strata lint to expand):
//	- FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 1)
func printWarningSummary(w io.Writer, color bool, shorts []string) {
	if len(shorts) == 0 {
		return
	}
	head := "1 warning found"
	if len(shorts) > 1 {
		head = fmt.Sprintf("%d warnings found", len(shorts))
	}
	head += " (use strata lint to expand):\n"
	if color {
		head = colorWarning + head + colorReset
	}
	fmt.Fprint(w, "\n "+head)
	for _, s := range shorts {
		fmt.Fprintf(w, " - %s\n", s)
	}
}

// findingWarner is a Progress that shows a build-check finding in full
// (rawjson: a VertexWarning with detail, URL and line range).
type findingWarner interface {
	WarnFinding(f lint.Finding)
}

// warnFinding tells p of a build-check finding: in full when it can take
// one, else as Warn(f.Short()).
func warnFinding(p build.Progress, f lint.Finding) {
	if fw, ok := p.(findingWarner); ok {
		fw.WarnFinding(f)
		return
	}
	p.Warn(f.Short())
}

// findingDisplay is a display that shows a finding in full.
type findingDisplay interface {
	finding(f lint.Finding)
}

// WarnFinding implements findingWarner.
func (t *tracker) WarnFinding(f lint.Finding) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if fd, ok := t.d.(findingDisplay); ok {
		fd.finding(f)
		return
	}
	t.d.warned(nil, f.Short())
}

// WarnFinding implements findingWarner when the wrapped Progress does.
func (c *counting) WarnFinding(f lint.Finding) { warnFinding(c.Progress, f) }
