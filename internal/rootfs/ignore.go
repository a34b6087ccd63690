package rootfs

import (
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/moby/patternmatcher"
)

// selection decides which paths of a build context exist once .dockerignore
// applies, exactly as BuildKit's context transfer selects them
// (tonistiigi/fsutil filter.go, filterFS.Walk with ExcludePatterns):
//
//   - A path is matched walking down from the root, each level reusing its
//     parent's per-pattern results (patternmatcher's
//     MatchesUsingParentResults): a pattern a level skipped is matched
//     against the child's own path only.
//   - A path not excluded is sent, and with it every parent directory, even
//     an excluded one.
//   - An excluded directory is sent only as such a parent: when nothing below
//     it is sent, it does not exist.
//   - The walk enters an excluded directory only if an exception ("!")
//     pattern may match below it: when every exception is a plain path
//     (no * ? [ ] ^ \ once a trailing /* or /** is dropped), the
//     exception must start with the directory's path; otherwise always.
type selection struct {
	root       string
	pm         *patternmatcher.PatternMatcher
	m          *matcher
	prefixOnly bool // every exception pattern is a plain path prefix

	mu   sync.Mutex // patternmatcher compiles lazily; the memos
	dirs map[string]dirMatch
	kept map[string]bool // excluded, entered dirs: something below is sent
	real map[string]bool // host directories, not symlinks (absolute paths)
}

// dirMatch is a directory's result in the walk.
type dirMatch struct {
	info     matchInfo
	excluded bool
	entered  bool // the walk descends into it
	ok       bool // its parents were entered and the walk reached it
}

func newSelection(root string, pm *patternmatcher.PatternMatcher) *selection {
	s := &selection{root: root, pm: pm, m: newMatcher(pm), prefixOnly: true, dirs: map[string]dirMatch{}, kept: map[string]bool{}, real: map[string]bool{}}
	for _, p := range pm.Patterns() {
		if p.Exclusion() && strings.ContainsAny(withoutTrailingGlob(p), `*[]?^\`) {
			s.prefixOnly = false
		}
	}
	return s
}

// withoutTrailingGlob is fsutil's patternWithoutTrailingGlob.
func withoutTrailingGlob(p *patternmatcher.Pattern) string {
	s := strings.TrimSuffix(p.String(), "/**")
	return strings.TrimSuffix(s, "/*")
}

// exists reports whether rel (relative, clean, no symlink among its
// parents, which are directories) is in the context.
func (s *selection) exists(rel string, isDir bool) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	parent, err := s.dir(path.Dir(rel))
	if err != nil || !parent.ok || !parent.entered {
		return false, err
	}
	m, info, err := s.m.matches(rel, parent.info)
	if err != nil || !m {
		return err == nil, err
	}
	if !isDir || !s.enters(rel) {
		return false, nil
	}
	return s.sendsBelow(rel, info)
}

// dir returns the walk's result for directory rel ("." is the root).
func (s *selection) dir(rel string) (dirMatch, error) {
	if rel == "." {
		return dirMatch{ok: true, entered: true}, nil
	}
	if d, ok := s.dirs[rel]; ok {
		return d, nil
	}
	parent, err := s.dir(path.Dir(rel))
	if err != nil {
		return dirMatch{}, err
	}
	var d dirMatch
	if parent.ok && parent.entered {
		m, info, err := s.m.matches(rel, parent.info)
		if err != nil {
			return dirMatch{}, err
		}
		d = dirMatch{info: info, excluded: m, entered: !m || s.enters(rel), ok: true}
	}
	s.dirs[rel] = d
	return d, nil
}

// enters reports whether the walk descends into the excluded directory rel.
func (s *selection) enters(rel string) bool {
	if !s.prefixOnly {
		return true
	}
	for _, p := range s.pm.Patterns() {
		if p.Exclusion() && strings.HasPrefix(withoutTrailingGlob(p)+"/", rel+"/") {
			return true
		}
	}
	return false
}

// sendsBelow reports whether the walk sends anything below the excluded,
// entered directory rel whose match results are info.
func (s *selection) sendsBelow(rel string, info matchInfo) (bool, error) {
	if k, ok := s.kept[rel]; ok {
		return k, nil
	}
	des, err := os.ReadDir(filepath.Join(s.root, rel))
	if err != nil {
		return false, nil // the walk skips what it cannot read
	}
	kept := false
	for _, de := range des {
		child := rel + "/" + de.Name()
		m, cinfo, err := s.m.matches(child, info)
		if err != nil {
			return false, err
		}
		if !m {
			kept = true
			break
		}
		if de.IsDir() && s.enters(child) {
			s.dirs[child] = dirMatch{info: cinfo, excluded: true, entered: true, ok: true}
			if kept, err = s.sendsBelow(child, cinfo); err != nil {
				return false, err
			} else if kept {
				break
			}
		}
	}
	s.kept[rel] = kept
	return kept, nil
}

// realParents checks that every parent of the absolute context path p is a
// directory on the host, not a symlink: ENOENT otherwise.
func (s *selection) realParents(p string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var checked []string
	for dir := path.Dir(p); dir != "/" && !s.real[dir]; dir = path.Dir(dir) {
		if fi, err := os.Lstat(filepath.Join(s.root, dir)); err != nil || !fi.IsDir() {
			return syscall.ENOENT
		}
		checked = append(checked, dir)
	}
	for _, dir := range checked {
		s.real[dir] = true
	}
	return nil
}
