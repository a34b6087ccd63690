package lint

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// WriteText writes findings for people: a position, severity, rule and
// message line, the offending line and a fix hint, then a count.
func WriteText(w io.Writer, findings []Finding) error {
	var b strings.Builder
	for _, f := range findings {
		fmt.Fprintf(&b, "%s:%d:%d %s %s: %s\n", f.File, f.Line, f.Column, f.Severity, f.Rule, f.Message)
		if f.Source != "" {
			fmt.Fprintf(&b, "  %4d | %s\n", f.Line, strings.TrimRight(f.Source, " \t"))
		}
		if f.Fix != "" {
			fmt.Fprintf(&b, "       = fix: %s\n", f.Fix)
		}
	}
	counts := map[Severity]int{}
	for _, f := range findings {
		counts[f.Severity]++
	}
	fmt.Fprintf(&b, "%d findings: %d errors, %d warnings, %d info\n", len(findings), counts[Error], counts[Warning], counts[Info])
	_, err := io.WriteString(w, b.String())
	return err
}

// jsonFinding is a Finding with its severity as a word.
type jsonFinding struct {
	Finding
	Severity string `json:"severity"`
}

// WriteJSON writes findings as a JSON array (an empty array for none).
func WriteJSON(w io.Writer, findings []Finding) error {
	out := make([]jsonFinding, 0, len(findings))
	for _, f := range findings {
		out = append(out, jsonFinding{Finding: f, Severity: f.Severity.String()})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
