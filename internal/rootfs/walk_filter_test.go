package rootfs

import (
	"strings"
	"testing"
)

// TestJoinedAffixes: joinedHasPrefix and joinedHasSuffix are HasPrefix
// and HasSuffix of the joined path, for every split of affixes around and
// across the slash.
func TestJoinedAffixes(t *testing.T) {
	rels := []string{"", "a", "ab", "a/b", "docs/section1"}
	names := []string{"b", "bc", "x.tmp", "section10", ".git"}
	var affixes []string
	for _, rel := range rels {
		for _, name := range names {
			full := name
			if rel != "" {
				full = rel + "/" + name
			}
			for i := 0; i <= len(full); i++ {
				affixes = append(affixes, full[:i], full[i:])
			}
		}
	}
	affixes = append(affixes, "/", "b/", "/b", "a/bc/", "zz", "docs/section1/section10/x")
	for _, rel := range rels {
		for _, name := range names {
			full := name
			if rel != "" {
				full = rel + "/" + name
			}
			for _, a := range affixes {
				if got, want := joinedHasPrefix(rel, name, a), strings.HasPrefix(full, a); got != want {
					t.Errorf("joinedHasPrefix(%q, %q, %q) = %v, want %v", rel, name, a, got, want)
				}
				if got, want := joinedHasSuffix(rel, name, a), strings.HasSuffix(full, a); got != want {
					t.Errorf("joinedHasSuffix(%q, %q, %q) = %v, want %v", rel, name, a, got, want)
				}
			}
		}
	}
}
