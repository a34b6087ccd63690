package rootfs

import (
	"path/filepath"
	"strings"

	"github.com/moby/patternmatcher"
)

// matcher is patternmatcher's MatchesUsingParentResults, evaluated pattern
// by pattern so that a pattern a path cannot match is skipped without
// running its regular expression: every path a pattern matches starts
// with the pattern's literal start (the text before its first wildcard,
// class, escape or ^) and ends with its literal end (the text after the
// last one; none when the pattern escapes, since patternmatcher passes
// escapes such as \a on to the regular expression), so a path that does
// not is no match. Each pattern is
// evaluated by a matcher of its own (MatchesUsingParentResult with no
// parent match evaluates exactly that pattern), so what matches is
// patternmatcher's decision, only sooner.
type matcher struct {
	pm   *patternmatcher.PatternMatcher
	pats []onePattern // nil: evaluate with pm (a pattern this cannot split)
}

// onePattern is one pattern of a matcher.
type onePattern struct {
	pm        *patternmatcher.PatternMatcher // the pattern alone, as an inclusion
	exclusion bool
	literal   string // every match starts with it
	tail      string // and ends with it
}

// matchInfo is a directory's per-pattern results, as
// patternmatcher.MatchInfo.
type matchInfo struct {
	parentMatched []bool
	pm            patternmatcher.MatchInfo // when evaluated with pm
}

func newMatcher(pm *patternmatcher.PatternMatcher) *matcher {
	m := &matcher{pm: pm}
	var pats []onePattern
	for _, p := range pm.Patterns() {
		s := p.String()
		one, err := patternmatcher.New([]string{s})
		if err != nil || len(one.Patterns()) != 1 || one.Patterns()[0].String() != s || one.Patterns()[0].Exclusion() {
			return m // "! x" and the like: New would not give the same pattern back
		}
		const meta = `*?[]\^`
		lit, tail := s, ""
		if i := strings.IndexAny(s, meta); i >= 0 {
			lit = s[:i]
			if !strings.Contains(s, `\`) {
				tail = s[strings.LastIndexAny(s, meta)+1:]
			}
		}
		pats = append(pats, onePattern{pm: one, exclusion: p.Exclusion(), literal: lit, tail: tail})
	}
	m.pats = pats
	return m
}

// matches is MatchesUsingParentResults(file, parent).
func (m *matcher) matches(file string, parent matchInfo) (bool, matchInfo, error) {
	if m.pats == nil {
		ok, info, err := m.pm.MatchesUsingParentResults(file, parent.pm)
		return ok, matchInfo{pm: info}, err
	}
	parentMatched := parent.parentMatched
	file = filepath.FromSlash(file)
	matched := false
	info := matchInfo{parentMatched: make([]bool, len(m.pats))}
	for i, p := range m.pats {
		match := false
		if len(parentMatched) != 0 {
			match = parentMatched[i]
		}
		if !match {
			if p.exclusion != matched {
				continue
			}
			var err error
			if match, err = p.match(file); err != nil {
				return false, info, err
			}
			if !match && len(parentMatched) == 0 {
				if parentPath := filepath.Dir(file); parentPath != "." {
					dirs := strings.Split(parentPath, string(filepath.Separator))
					for j := range dirs {
						if match, _ = p.match(strings.Join(dirs[:j+1], string(filepath.Separator))); match {
							break
						}
					}
				}
			}
		}
		info.parentMatched[i] = match
		if match {
			matched = !p.exclusion
		}
	}
	return matched, info, nil
}

func (p *onePattern) match(file string) (bool, error) {
	if !strings.HasPrefix(file, p.literal) || !strings.HasSuffix(file, p.tail) {
		return false, nil
	}
	return p.pm.MatchesUsingParentResult(file, false)
}
