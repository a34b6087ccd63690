package rootfs

import "strings"

// dirFilter decides, for the entries of one directory of a tree walk,
// which are in the context without asking selection.exists for each: when
// no pattern matched the directory itself (no result to carry down to its
// entries), an entry whose path lacks the literal start or end of every
// inclusion pattern is matched by none, as matcher.matches would find
// pattern by pattern, so it is in the context. Any other entry is for
// exists to decide.
type dirFilter struct {
	rel  string       // the directory, relative, "" for the root
	pats []onePattern // nil: exists decides every entry
}

// dirFilter returns the filter of directory rel ("" for the root), one
// the walk has entered.
func (s *selection) dirFilter(rel string) (dirFilter, error) {
	if s.m.pats == nil {
		return dirFilter{}, nil
	}
	if rel != "" {
		s.mu.Lock()
		d, err := s.dir(rel)
		s.mu.Unlock()
		if err != nil {
			return dirFilter{}, err
		}
		if !d.ok || !d.entered || d.excluded || len(d.info.parentMatched) != len(s.m.pats) {
			return dirFilter{}, nil
		}
		for _, m := range d.info.parentMatched {
			if m {
				return dirFilter{}, nil
			}
		}
	}
	return dirFilter{rel: rel, pats: s.m.pats}, nil
}

// unmatched reports whether entry name is matched by no pattern, so is
// in the context; false: exists decides.
func (f *dirFilter) unmatched(name string) bool {
	if f.pats == nil {
		return false
	}
	for i := range f.pats {
		p := &f.pats[i]
		if !p.exclusion && joinedHasPrefix(f.rel, name, p.literal) && joinedHasSuffix(f.rel, name, p.tail) {
			return false
		}
	}
	return true
}

// joinedHasPrefix is strings.HasPrefix(rel+"/"+name, prefix), name alone
// when rel is "", without joining them.
func joinedHasPrefix(rel, name, prefix string) bool {
	switch {
	case rel == "":
		return strings.HasPrefix(name, prefix)
	case len(prefix) <= len(rel):
		return strings.HasPrefix(rel, prefix)
	}
	return prefix[:len(rel)] == rel && prefix[len(rel)] == '/' && strings.HasPrefix(name, prefix[len(rel)+1:])
}

// joinedHasSuffix is strings.HasSuffix(rel+"/"+name, suffix), name alone
// when rel is "", without joining them.
func joinedHasSuffix(rel, name, suffix string) bool {
	if rel == "" || len(suffix) <= len(name) {
		return strings.HasSuffix(name, suffix)
	}
	rest := suffix[:len(suffix)-len(name)] // what rel+"/" must end with
	return suffix[len(rest):] == name && rest[len(rest)-1] == '/' && strings.HasSuffix(rel, rest[:len(rest)-1])
}
