package lint

import "strings"

// pragmas are hadolint's ignore comments in a Dockerfile, read as hadolint
// reads them:
//
//	# hadolint ignore=DL3008,DL3015        the instruction on the next line
//	# hadolint global ignore=DL3003        the whole file
//
// An inline pragma applies to the instruction starting on the line right
// after it, nothing else: a blank line or another comment in between ends
// it. A pragma naming anything but DL and SC codes ("ignore=all",
// "ignore=dl3008", "ignore=DL3008 reason") is not a pragma; a comment may
// follow after a second "#".
type pragmas struct {
	inline map[int][]string // by 1-based line of the instruction
	global []string
}

// readPragmas collects the pragmas of a Dockerfile's lines.
func readPragmas(lines []string) pragmas {
	var p pragmas
	for i, l := range lines {
		codes, global, ok := hadolintPragma(l)
		switch {
		case !ok:
		case global:
			p.global = append(p.global, codes...)
		default:
			if p.inline == nil {
				p.inline = map[int][]string{}
			}
			p.inline[i+2] = codes
		}
	}
	return p
}

// ignores reports whether the pragmas silence r at line.
func (p pragmas) ignores(r Rule, line int) bool {
	return matches(r, p.global) || matches(r, p.inline[line])
}

// hadolintPragma parses one line as hadolint's ignore pragma: "#", blanks,
// "hadolint", blanks, optionally "global" and blanks, "ignore", "=" between
// optional blanks, then codes of the letters D, L, S, C and digits
// separated by commas, then optionally a "#" comment. Blanks are spaces and
// tabs.
func hadolintPragma(line string) (codes []string, global, ok bool) {
	s := strings.TrimRight(strings.TrimLeft(line, " \t"), "\r")
	s, ok = strings.CutPrefix(s, "#")
	if !ok {
		return nil, false, false
	}
	if s, ok = word(s, "hadolint", true); !ok {
		return nil, false, false
	}
	if rest, ok := word(s, "global", true); ok {
		s, global = rest, true
	}
	if s, ok = word(s, "ignore", false); !ok {
		return nil, false, false
	}
	if s, ok = word(s, "=", false); !ok {
		return nil, false, false
	}
	for {
		s = trimBlanks(s)
		n := 0
		for n < len(s) && strings.IndexByte("DLSC0123456789", s[n]) >= 0 {
			n++
		}
		if n == 0 {
			return nil, false, false
		}
		codes = append(codes, s[:n])
		s = trimBlanks(s[n:])
		if rest, ok := strings.CutPrefix(s, ","); ok {
			s = rest
			continue
		}
		if s == "" || s[0] == '#' {
			return codes, global, true
		}
		return nil, false, false
	}
}

// word cuts blanks and then w from the start of s; with blank, w must be
// followed by at least one blank.
func word(s, w string, blank bool) (string, bool) {
	s, ok := strings.CutPrefix(trimBlanks(s), w)
	if !ok || (blank && (s == "" || (s[0] != ' ' && s[0] != '\t'))) {
		return s, false
	}
	return s, true
}

func trimBlanks(s string) string { return strings.TrimLeft(s, " \t") }
