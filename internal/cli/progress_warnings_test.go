package cli

import (
	"strings"
	"testing"
)

func TestPrintWarningSummary(t *testing.T) {
	for _, tt := range []struct {
		shorts []string
		color  bool
		want   string
	}{
		{nil, false, ""},
		{[]string{"FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 1)"}, false,
			"\n 1 warning found (use docker --debug to expand):\n - FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 1)\n"},
		{[]string{"A: a (line 1)", "B: b (line 2)"}, true,
			"\n \x1b[33m2 warnings found (use docker --debug to expand):\n\x1b[0m - A: a (line 1)\n - B: b (line 2)\n"},
	} {
		var b strings.Builder
		printWarningSummary(&b, tt.color, tt.shorts)
		if b.String() != tt.want {
			t.Errorf("printWarningSummary(%q) = %q, want %q", tt.shorts, b.String(), tt.want)
		}
	}
}

// TestJobLine: a vertex line fits the width with its timer at the right
// edge; a status shows when there is room; a tiny width shows nothing.
func TestJobLine(t *testing.T) {
	long := "[base 2/4] RUN " + strings.Repeat("x", 300)
	for _, width := range []int{40, 79, 119, 159} {
		l, ok := jobLine(long, "1.15MB / 1.15MB", 1.25, width)
		if !ok || len(l) != width || !strings.HasSuffix(l, " 1.2s") || !strings.Contains(l, " 1.15MB / 1.15MB ") {
			t.Errorf("jobLine(width %d) = %q, %v", width, l, ok)
		}
	}
	if l, ok := jobLine(long, "", 0, 20); ok {
		t.Errorf("jobLine(width 20) = %q, want nothing", l)
	}
	if got := byteSize(1148576); got != "1.15MB" {
		t.Errorf("byteSize(1148576) = %q", got)
	}
}
