package store

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/strata-build/strata/internal/testenv"
)

func TestLayerDirOnce(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	img := testenv.BusyboxImage(t)
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	dirs := make([]string, 6)
	var wg sync.WaitGroup
	for i := range dirs {
		wg.Go(func() {
			s := openTest(t, root) // half share a Store, all share a root
			dir, err := s.LayerDir(ctx, layers[0])
			if err != nil {
				t.Error(err)
			}
			dirs[i] = dir
		})
	}
	wg.Wait()
	diffID, _ := layers[0].DiffID()
	for _, d := range dirs {
		if d != filepath.Join(root, "layers", diffID.Hex) {
			t.Errorf("LayerDir() = %s", d)
		}
	}
	if l, err := os.Readlink(filepath.Join(dirs[0], "bin", "sh")); err != nil || l != "busybox" {
		t.Errorf("bin/sh -> %q, %v", l, err)
	}
	if fi, err := os.Stat(filepath.Join(dirs[0], "bin", "busybox")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("bin/busybox: %v, %v", fi, err)
	}
	if n := countFiles(t, filepath.Join(root, "layers")); n != 1 {
		t.Errorf("layers/ holds %d entries, want 1", n)
	}
}
