package rootfs

import (
	"path"
	"strings"
	"testing"

	"github.com/moby/patternmatcher"
)

// TestMatcherIsPatternmatcher: the matcher's decisions, walking down a
// tree with each directory's results as BuildKit's walk does, are
// patternmatcher's, for patterns of every kind.
func TestMatcherIsPatternmatcher(t *testing.T) {
	paths := []string{
		"a", "a.b", "a/b", "a/b/c.go", "^foo", "foo", "a^b", "x", "x/y", "docs", "docs/section1", "docs/section10",
		"docs/section10/f", "docs/section12/g.tmp", "docs/section2", "src", "src/app", "src/app/x", "src/b/x", "src/d/x",
		"foo*bar", "foo\\bar", "fooXbar", ".git", ".git/config", "node_modules", "node_modules/m/index.js", "dir",
		"dir/sub", "dir/sub/keep.txt", "deep/a/b/c/d.tmp", "?a", "ba", "spaced", " spaced", "foo\a", "foo\x07", "a/x/c.go", "a/b/c.gox",
	}
	for _, patterns := range [][]string{
		{"**/*.tmp", "docs/section1*", "!docs/section10", ".git"},
		{"^foo", "a^b", "!x", "^fo*"},
		{"**", "!**/*.go"},
		{"*", "!src"},
		{"src/[a-c]*/x", `foo\*bar`, "dir/**", "?a", `foo\a`, "*.go", "**/c.go", "a/*/c.go", "s[pq]aced"},
		{"dir", "!dir/sub/keep.txt"},
		{"! spaced", "a.b", "!a/b"},
		{"*/sub", "!*/sub/keep.txt", "**/c.go"},
		{"node_modules", "!node_modules/m/index.js", "src/*/x", "!src/app/x"},
	} {
		pm, err := patternmatcher.New(patterns)
		if err != nil {
			t.Fatal(err)
		}
		m := newMatcher(pm)
		infos := map[string]matchInfo{}
		upInfos := map[string]patternmatcher.MatchInfo{}
		for _, p := range paths {
			// every parent first, as the walk goes
			parts := strings.Split(p, "/")
			for i := range parts {
				q := strings.Join(parts[:i+1], "/")
				if _, ok := infos[q]; ok {
					continue
				}
				parent := path.Dir(q)
				got, gi, gerr := m.matches(q, infos[parent])
				want, wi, werr := pm.MatchesUsingParentResults(q, upInfos[parent])
				if got != want || (gerr == nil) != (werr == nil) {
					t.Errorf("patterns %q: matches(%q) = %v, %v; patternmatcher: %v, %v", patterns, q, got, gerr, want, werr)
				}
				infos[q], upInfos[q] = gi, wi
			}
		}
	}
}
