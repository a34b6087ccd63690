package build

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/strata-build/strata/internal/rootfs"
)

// TestMeasuredContentKey: the build context measured for "transferring
// context: N" keys as it does unmeasured, and N is the size of the
// regular files the patterns select.
func TestMeasuredContentKey(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"a.txt": "abc", "d/b.txt": "hello", "d/e/c.txt": "xy", "skip.log": "ignored"} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("a.txt", filepath.Join(dir, "d", "link")); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		patterns []string
		size     int64
	}{
		{[]string{"."}, 10},
		{[]string{"a.txt"}, 3},
		{[]string{"d", "a.txt"}, 10},
		{[]string{"*.txt"}, 3},
		{[]string{"missing"}, 0},
	} {
		src := rootfs.NewDir(dir, []string{"*.log"})
		want, err := contentKey(t.Context(), src, tt.patterns, newStatCache())
		if err != nil {
			t.Fatal(err)
		}
		m := measured(src)
		got, err := contentKey(t.Context(), m, tt.patterns, newStatCache())
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("contentKey(measured, %q) = %s, want %s as unmeasured", tt.patterns, got, want)
		}
		if m.bytes() != tt.size {
			t.Errorf("measured %q = %d bytes, want %d", tt.patterns, m.bytes(), tt.size)
		}
	}
}
