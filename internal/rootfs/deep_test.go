package rootfs

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestMkdirAllDeep makes dirs below a path 1,000 levels deep in under,
// reached through a symlink: the levels are copied up with their owner
// and mode, the new ones made as the owner.
func TestMkdirAllDeep(t *testing.T) {
	needRoot(t)
	deep := strings.Repeat("/x", 1000)
	lower := t.TempDir()
	if err := os.MkdirAll(lower+deep, 0o700); err != nil {
		t.Fatal(err)
	}
	for p := deep; p != ""; p = p[:len(p)-2] {
		if err := os.Lchown(lower+p, 5, 5); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(strings.Repeat("/x", 3), filepath.Join(lower, "l")); err != nil {
		t.Fatal(err)
	}
	layerDir := t.TempDir()
	err := MkdirAll(context.Background(), Stack{Dirs: []string{lower}}, layerDir, "/l"+deep[6:]+"/new/deeper", Owner{UID: 7, GID: 8})
	if err != nil {
		t.Fatalf("MkdirAll() = %v", err)
	}
	var want []string
	for p := deep; p != ""; p = p[:len(p)-2] {
		want = append(want, p[1:]+" 40700 5:5")
	}
	want = append(want, deep[1:]+"/new 40755 7:8", deep[1:]+"/new/deeper 40755 7:8")
	slices.Sort(want)
	if got := strings.Split(tree(t, layerDir), "\n"); !slices.Equal(got, want) {
		t.Errorf("MkdirAll layer: %d entries, last %.60q; want %d, last %.60q", len(got), got[len(got)-1], len(want), want[len(want)-1])
	}
}
