package store

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// fileLayer is a layer holding one file, name, with body.
func fileLayer(t *testing.T, name, body string) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
	tw.Write([]byte(body))
	tw.Close()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(buf.Bytes())), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// openBoot opens root as Open does, in boot boot.
func openBoot(t *testing.T, root, boot string, syncAge time.Duration) *Store {
	t.Helper()
	s, err := open(context.Background(), root, boot, syncAge)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func readLayerFile(t *testing.T, s *Store, l v1.Layer, name string) (string, uint64) {
	t.Helper()
	dir, err := s.LayerDir(context.Background(), l)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), fi.Sys().(*syscall.Stat_t).Ino
}

func markers(t *testing.T, root string) int {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(root, "unsynced"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return len(entries)
}

// TestRestartDropsUnsyncedLayers: a layer extracted just before the
// machine lost power may have kept its directory and lost its files'
// data. After a restart (another boot id), Open drops every layer
// directory written since the last sync, and LayerDir extracts it again
// from its blob; a layer synced before the restart is kept.
func TestRestartDropsUnsyncedLayers(t *testing.T) {
	root := t.TempDir()
	old, fresh := fileLayer(t, "old.txt", "synced before\n"), fileLayer(t, "app.txt", "hello\n")

	s := openBoot(t, root, "boot-a", time.Minute)
	readLayerFile(t, s, old, "old.txt")
	if n := markers(t, root); n != 1 {
		t.Fatalf("markers after an extraction = %d, want 1", n)
	}
	s.Close()
	// An Open in the same boot, within the minute, leaves the marker.
	openBoot(t, root, "boot-a", time.Minute).Close()
	if n := markers(t, root); n != 1 {
		t.Fatalf("markers after a quick reopen = %d, want 1", n)
	}
	// Later in the same boot: synced, the marker goes.
	openBoot(t, root, "boot-a", 0).Close()
	if n := markers(t, root); n != 0 {
		t.Fatalf("markers once synced = %d, want 0", n)
	}
	time.Sleep(1100 * time.Millisecond) // the removal's second of slack

	s = openBoot(t, root, "boot-a", 0)
	_, oldIno := readLayerFile(t, s, old, "old.txt")
	dir, err := s.LayerDir(context.Background(), fresh)
	if err != nil {
		t.Fatal(err)
	}
	// Power lost: the rename survived, the file's data did not.
	if err := os.Truncate(filepath.Join(dir, "app.txt"), 0); err != nil {
		t.Fatal(err)
	}
	// The Store is gone with the machine: its lock is released.
	s.Close()

	s = openBoot(t, root, "boot-b", time.Minute)
	if body, _ := readLayerFile(t, s, fresh, "app.txt"); body != "hello\n" {
		t.Errorf("app.txt after the restart = %q, want it extracted again", body)
	}
	if body, ino := readLayerFile(t, s, old, "old.txt"); body != "synced before\n" || ino != oldIno {
		t.Errorf("the synced layer: %q, inode %d, want it kept (inode %d)", body, ino, oldIno)
	}
	if n := markers(t, root); n != 1 { // boot-b's own, for the re-extraction
		t.Errorf("markers after the restart = %d, want 1", n)
	}
}

// TestLiveStoreKeepsMarker: a Store still open keeps its marker, whatever
// other Opens see; a Store that wrote no layer leaves none.
func TestLiveStoreKeepsMarker(t *testing.T) {
	root := t.TempDir()
	openBoot(t, root, "boot-a", 0).Close()
	if n := markers(t, root); n != 0 {
		t.Fatalf("markers of a Store that wrote no layer = %d", n)
	}
	s := openBoot(t, root, "boot-a", 0)
	if _, err := s.LayerTempDir(context.Background()); err != nil {
		t.Fatal(err)
	}
	openBoot(t, root, "boot-a", 0).Close()
	if n := markers(t, root); n != 1 {
		t.Errorf("markers while their Store is open = %d, want 1", n)
	}
	s.Close()
	openBoot(t, root, "boot-a", 0).Close()
	if n := markers(t, root); n != 0 {
		t.Errorf("markers once their Store closed = %d, want 0", n)
	}
}
