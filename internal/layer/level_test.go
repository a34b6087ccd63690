package layer

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompressionLevel: the level changes the blob, never the tar; the
// default is gzip's 6 (BuildKit's), smaller than level 1 on text.
func TestCompressionLevel(t *testing.T) {
	dir := t.TempDir()
	text := strings.Repeat("the quick brown fox jumps over the lazy dog, again and again; ", 20000)
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	fast, err := WriteCompressed(ctx, dir, io.Discard, WriteOptions{Compression: Compression{Level: 1}})
	if err != nil {
		t.Fatal(err)
	}
	def, err := WriteCompressed(ctx, dir, io.Discard, WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	six, err := WriteCompressed(ctx, dir, io.Discard, WriteOptions{Compression: Compression{Kind: Gzip, Level: DefaultLevel}})
	if err != nil {
		t.Fatal(err)
	}
	if fast.DiffID != def.DiffID {
		t.Errorf("diff IDs differ between levels: %s and %s", fast.DiffID, def.DiffID)
	}
	if def.Digest != six.Digest {
		t.Errorf("level 0 = %s, level %d = %s: 0 must mean the default", def.Digest, DefaultLevel, six.Digest)
	}
	if def.Size >= fast.Size {
		t.Errorf("default level size %d >= level 1 size %d", def.Size, fast.Size)
	}
	if _, err := WriteCompressed(ctx, dir, io.Discard, WriteOptions{Compression: Compression{Level: 10}}); err == nil {
		t.Error("WriteCompressed(level 10) succeeded, want an error")
	}
}
