package lint

import (
	"slices"
	"testing"
)

func TestHadolintPragma(t *testing.T) {
	for _, c := range []struct {
		line   string
		codes  []string
		global bool
	}{
		{line: "# hadolint ignore=DL3008", codes: []string{"DL3008"}},
		{line: "# hadolint ignore=DL3008,DL3015", codes: []string{"DL3008", "DL3015"}},
		{line: "#hadolint ignore=DL3023, DL3021", codes: []string{"DL3023", "DL3021"}},
		{line: "  # hadolint\tignore = DL3003 , SC1035 ", codes: []string{"DL3003", "SC1035"}},
		{line: "# hadolint ignore=DL3003,SC1035 # we accept these, because ...", codes: []string{"DL3003", "SC1035"}},
		{line: "# hadolint ignore=DL3002\r", codes: []string{"DL3002"}},
		{line: "# hadolint global ignore=DL3003,DL3006", codes: []string{"DL3003", "DL3006"}, global: true},
		{line: "# hadolint global ignore = DL3023 , DL3021", codes: []string{"DL3023", "DL3021"}, global: true},
		{line: "# hadolint ignore=crazy,DL3002"},
		{line: "# hadolint ignore=dl3002"},
		{line: "# hadolint ignore=all"},
		{line: "# hadolint ignore=DL3002 because"},
		{line: "# hadolint ignore="},
		{line: "# hadolint ignore=DL3002,"},
		{line: "# hadolintignore=DL3002"},
		{line: "# hadolint globalignore=DL3002"},
		{line: "# hadolint shell=powershell"},
		{line: "# strata:ignore=DL3002"},
		{line: "RUN echo # hadolint ignore=DL3002"},
	} {
		codes, global, ok := hadolintPragma(c.line)
		if !slices.Equal(codes, c.codes) || global != c.global || ok != (c.codes != nil) {
			t.Errorf("hadolintPragma(%q) = %q, %v, %v, want %q, %v, %v", c.line, codes, global, ok, c.codes, c.global, c.codes != nil)
		}
	}
}

// TestHadolintPragmaScope runs hadolint's own pragma cases: an inline
// pragma covers only the instruction on the next line.
func TestHadolintPragmaScope(t *testing.T) {
	for _, c := range []struct {
		src   string
		rule  string
		lines []int
	}{
		{src: "FROM alpine:3.20\n# hadolint ignore=DL3003\nRUN cd /x\n", rule: "DL3003"},
		{src: "FROM alpine:3.20\n# hadolint ignore=DL3059,DL3003\nRUN cd /x\n", rule: "DL3003"},
		{src: "FROM alpine:3.20\n# hadolint ignore=DL3059\nRUN cd /x\n", rule: "DL3003", lines: []int{3}},
		{src: "FROM alpine:3.20\n# hadolint ignore=crazy,DL3003\nRUN cd /x\n", rule: "DL3003", lines: []int{3}},
		{src: "FROM alpine:3.20\n# hadolint ignore=DL3003\nRUN cd /x\nRUN cd /y\n", rule: "DL3003", lines: []int{4}},
		{src: "FROM alpine:3.20\n# hadolint ignore=DL3003\n\nRUN cd /x\n", rule: "DL3003", lines: []int{4}},
		{src: "FROM alpine:3.20\n# hadolint ignore=DL3003\n# a note\nRUN cd /x\n", rule: "DL3003", lines: []int{4}},
		{src: "FROM alpine:3.20\n# hadolint ignore=DL3003\nRUN cd /x && \\\n  cd /y\n", rule: "DL3003"},
		{src: "# hadolint ignore=DL3003\nFROM alpine:3.20\nRUN cd /x\n", rule: "DL3003", lines: []int{3}},
		// hadolint's README example, the pragma on the first line.
		{src: "# hadolint ignore=DL3006\nFROM ubuntu\n\n# hadolint ignore=DL3003,SC1035 # We accept these issues, because ...\nRUN cd /tmp && echo \"hello!\"\n", rule: "DL3006"},
		{src: "# hadolint ignore=DL3006\nFROM ubuntu\n\n# hadolint ignore=DL3003,SC1035 # We accept these issues, because ...\nRUN cd /tmp && echo \"hello!\"\n", rule: "DL3003"},
		{src: "# hadolint global ignore=DL3003\nFROM alpine:3.20\nRUN cd /x\nRUN cd /y\n", rule: "DL3003"},
		{src: "FROM alpine:3.20\nRUN cd /x\n# hadolint global ignore=DL3003\nRUN cd /y\n", rule: "DL3003"},
		// The pragma names hadolint's codes; strata's names of the same rule work too.
		{src: "FROM alpine:3.20 AS a\n# hadolint ignore=DL3024\nFROM alpine:3.20 AS a\n", rule: "DuplicateStageName"},
		{src: "FROM alpine:3.20\n# hadolint ignore=CdInsteadOfWorkdir\nRUN cd /x\n", rule: "DL3003", lines: []int{3}},
	} {
		var lines []int
		for _, f := range lintOne(t, c.src, c.rule, nil) {
			lines = append(lines, f.Line)
		}
		if !slices.Equal(lines, c.lines) {
			t.Errorf("lint %s lines = %v, want %v\n%s", c.rule, lines, c.lines, c.src)
		}
	}
}
