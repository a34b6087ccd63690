package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

func FuzzExtract(f *testing.F) {
	needRoot(f)
	seeds := [][]byte{
		tarOf(f, dir("a/"), reg("a/b", "x"), symlink("a/l", "../../outside"), reg("a/l/x", "evil")),
		tarOf(f, symlink("l", "/"), hardlink("h", "l/etc/passwd"), reg(".wh.l", "")),
		tarOf(f, reg("f", "1"), hardlink("g", "f"), dir("f/"), reg("d/.wh..wh..opq", ""), reg("../x", "")),
		tarOf(f, symlink("s", "../outside/sentinel"), reg("s", "replace")),
		tarOf(f, &tar.Header{Typeflag: tar.TypeFifo, Name: "p"}, dir("p/"), reg("/abs/x", "")),
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if declaresHugeFile(b) {
			t.Skip("sparse entries may declare terabytes of holes; a layer that big is a DoS no extractor prevents")
		}
		top := t.TempDir()
		root, outside := filepath.Join(top, "root"), filepath.Join(top, "outside")
		os.Mkdir(root, 0o755)
		os.Mkdir(outside, 0o755)
		os.WriteFile(filepath.Join(outside, "sentinel"), []byte("safe"), 0o644)
		Extract(context.Background(), bytes.NewReader(b), root, ExtractOptions{})
		checkOutside(t, top)
	})
}

func declaresHugeFile(b []byte) bool {
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err != nil {
			return false
		}
		if h.Size > 1<<20 {
			return true
		}
	}
}
