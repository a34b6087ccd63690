package cli

import (
	"fmt"
	"io"
)

// printWarningSummary writes the build-check warnings after the progress
// as buildx does (commands/build.go printWarnings), the header yellow on
// a colour terminal:
//
//	1 warning found (use docker --debug to expand):
//	- FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 1)
func printWarningSummary(w io.Writer, color bool, shorts []string) {
	if len(shorts) == 0 {
		return
	}
	head := "1 warning found"
	if len(shorts) > 1 {
		head = fmt.Sprintf("%d warnings found", len(shorts))
	}
	head += " (use docker --debug to expand):\n"
	if color {
		head = colorWarning + head + colorReset
	}
	fmt.Fprint(w, "\n "+head)
	for _, s := range shorts {
		fmt.Fprintf(w, " - %s\n", s)
	}
}
