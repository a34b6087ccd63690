package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/strata-build/strata/internal/testenv"
)

func openTest(t testing.TB, root string) *Store {
	t.Helper()
	s, err := Open(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestNormalizeRef(t *testing.T) {
	tests := []struct{ in, want string }{
		{"busybox", "docker.io/library/busybox:latest"},
		{"busybox:1.36", "docker.io/library/busybox:1.36"},
		{"library/busybox", "docker.io/library/busybox:latest"},
		{"docker.io/busybox", "docker.io/library/busybox:latest"},
		{"index.docker.io/library/busybox:x", "docker.io/library/busybox:x"},
		{"me/app:v1", "docker.io/me/app:v1"},
		{"localhost:5000/app", "localhost:5000/app:latest"},
		{"ghcr.io/a/b/c:t", "ghcr.io/a/b/c:t"},
		{"busybox@sha256:" + strings.Repeat("a", 64), "docker.io/library/busybox@sha256:" + strings.Repeat("a", 64)},
	}
	for _, tt := range tests {
		got, err := NormalizeRef(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("NormalizeRef(%q) = %q, %v, want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "UPPER", "a:b:c"} {
		if got, err := NormalizeRef(bad); err == nil {
			t.Errorf("NormalizeRef(%q) = %q, want error", bad, got)
		}
	}
}

func TestWriteImageRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	for name, img := range map[string]v1.Image{"busybox": testenv.BusyboxImage(t), "random": randomImage(t, 3, 1000)} {
		t.Run(name, func(t *testing.T) {
			want, _ := img.Digest()
			h, err := s.WriteImage(ctx, img)
			if err != nil {
				t.Fatal(err)
			}
			if h != want {
				t.Errorf("WriteImage() = %s, want %s", h, want)
			}
			got, err := s.Image(ctx, h)
			if err != nil {
				t.Fatal(err)
			}
			if err := validate.Image(got); err != nil {
				t.Errorf("validate.Image: %v", err)
			}
			if d, _ := got.Digest(); d != want {
				t.Errorf("Image().Digest() = %s, want %s", d, want)
			}
			if h2, err := s.WriteImage(ctx, got); err != nil || h2 != h {
				t.Errorf("second WriteImage() = %s, %v", h2, err)
			}
		})
	}
}

func TestTags(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s := openTest(t, root)
	h, err := s.WriteImage(ctx, randomImage(t, 1, 100))
	if err != nil {
		t.Fatal(err)
	}
	h2, err := s.WriteImage(ctx, randomImage(t, 1, 100))
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"busybox", "me/app:v1"} {
		if err := s.Tag(ctx, ref, h); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Tag(ctx, "other", h2); err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(ctx, "x", v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Tag(missing) = %v, want ErrNotFound", err)
	}
	resolves := map[string]v1.Hash{
		"busybox":                                h,
		"docker.io/library/busybox:latest":       h,
		"me/app:v1":                              h,
		h.String():                               h,
		h.Hex:                                    h,
		h.Hex[:12]:                               h,
		"docker.io/library/other@" + h2.String(): h2,
	}
	for ref, want := range resolves {
		if got, err := s.Resolve(ctx, ref); err != nil || got != want {
			t.Errorf("Resolve(%q) = %s, %v, want %s", ref, got, err, want)
		}
	}
	for _, ref := range []string{"nope", "me/app:v2", "abc"} {
		if _, err := s.Resolve(ctx, ref); !errors.Is(err, ErrNotFound) {
			t.Errorf("Resolve(%q) = %v, want ErrNotFound", ref, err)
		}
	}
	tags, err := s.Tags(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(tags)
	want := fmt.Sprint([]Tagged{{"docker.io/library/busybox:latest", h}, {"docker.io/library/other:latest", h2}, {"docker.io/me/app:v1", h}})
	if got != want {
		t.Errorf("Tags() = %s, want %s", got, want)
	}
	if err := s.Untag(ctx, "busybox:latest"); err != nil {
		t.Fatal(err)
	}
	if err := s.Untag(ctx, "busybox"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Untag = %v, want ErrNotFound", err)
	}
	if tags, _ := s.Tags(ctx); len(tags) != 2 {
		t.Errorf("Tags() after Untag = %v", tags)
	}
	// Retagging moves the tag.
	if err := s.Tag(ctx, "me/app:v1", h2); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Resolve(ctx, "me/app:v1"); got != h2 {
		t.Errorf("Resolve after retag = %s, want %s", got, h2)
	}
	// A second Store on the same root sees the same tags.
	if tags, _ := openTest(t, root).Tags(ctx); len(tags) != 2 {
		t.Errorf("Tags() from second Store = %v", tags)
	}
}

func TestSkopeoInspect(t *testing.T) {
	if _, err := exec.LookPath("skopeo"); err != nil {
		t.Skip("skopeo not installed")
	}
	ctx := context.Background()
	root := t.TempDir()
	s := openTest(t, root)
	h, err := s.WriteImage(ctx, testenv.BusyboxImage(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(ctx, "busybox", h); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("skopeo", "inspect", "oci:"+root+":docker.io/library/busybox:latest").CombinedOutput()
	if err != nil {
		t.Fatalf("skopeo inspect: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), h.String()) {
		t.Errorf("skopeo inspect output lacks %s:\n%s", h, out)
	}
}

func TestConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	img := randomImage(t, 4, 1<<16)
	want, _ := img.Digest()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 8 {
		wg.Go(func() {
			s := openTest(t, root)
			h, err := s.WriteImage(ctx, img)
			if err == nil && h != want {
				err = fmt.Errorf("got %s", h)
			}
			if err == nil {
				err = s.Tag(ctx, fmt.Sprintf("app:v%d", i), h)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	tags, err := openTest(t, root).Tags(ctx)
	if err != nil || len(tags) != 8 {
		t.Errorf("Tags() = %v, %v, want 8 tags", tags, err)
	}
}

// TestMultiProcessTags runs this test binary as several processes tagging
// into one root at once; no tag may be lost.
func TestMultiProcessTags(t *testing.T) {
	if root := os.Getenv("STRATA_STORE_CHILD"); root != "" {
		childTagger(t, root)
		return
	}
	if testing.Short() {
		t.Skip("short")
	}
	ctx := context.Background()
	root := t.TempDir()
	s := openTest(t, root)
	if _, err := s.WriteImage(ctx, randomImage(t, 1, 100)); err != nil {
		t.Fatal(err)
	}
	const procs, perProc = 4, 10
	var wg sync.WaitGroup
	for i := range procs {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run=^TestMultiProcessTags$")
			cmd.Env = append(os.Environ(), "STRATA_STORE_CHILD="+root, fmt.Sprintf("STRATA_STORE_CHILD_ID=%d", i))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("child %d: %v\n%s", i, err, out)
			}
		})
	}
	wg.Wait()
	tags, err := s.Tags(ctx)
	if err != nil || len(tags) != procs*perProc {
		t.Errorf("Tags() = %d tags, %v, want %d", len(tags), err, procs*perProc)
	}
	entries, _ := os.ReadDir(filepath.Join(root, "tmp"))
	if len(entries) != 2 { // this process's scratch dir and lock
		t.Errorf("ROOT/tmp holds %d entries after children exited, want 2", len(entries))
	}
}

func childTagger(t *testing.T, root string) {
	ctx := context.Background()
	s := openTest(t, root)
	h, err := s.WriteImage(ctx, randomImage(t, 1, 100))
	if err != nil {
		t.Fatal(err)
	}
	for j := range 10 {
		if err := s.Tag(ctx, fmt.Sprintf("p%s/app:v%d", os.Getenv("STRATA_STORE_CHILD_ID"), j), h); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFailedWriteLeavesNoBlob(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s := openTest(t, root)
	boom := errors.New("boom")
	_, _, err := s.WriteBlob(ctx, func(w io.Writer) error {
		w.Write([]byte("half a blob"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("WriteBlob() = %v, want boom", err)
	}
	// A layer whose content does not match its digest is refused.
	bad := badLayer{randomLayer(t, 1000)}
	img := randomImage(t, 1, 10)
	_ = img
	if err := s.writeLayer(ctx, bad); err == nil {
		t.Error("writeLayer(corrupt) succeeded")
	}
	if n := countFiles(t, filepath.Join(root, "blobs", "sha256")); n != 0 {
		t.Errorf("blobs after failed writes = %d, want 0", n)
	}
	if n := countFiles(t, s.tmp); n != 0 {
		t.Errorf("temp files after failed writes = %d, want 0", n)
	}
}

// TestOpenRemovesLeftovers simulates a killed process: its scratch dir,
// lock unheld, is removed by the next Open; a live Store's is kept.
func TestOpenRemovesLeftovers(t *testing.T) {
	root := t.TempDir()
	live := openTest(t, root)
	dead := filepath.Join(root, "tmp", "pdead")
	os.MkdirAll(dead, 0o700)
	os.WriteFile(dead+".lock", nil, 0o644)
	os.WriteFile(filepath.Join(dead, "blob123"), []byte("partial"), 0o644)
	openTest(t, root)
	if exists(dead) || exists(dead+".lock") {
		t.Error("dead process's scratch dir survived Open")
	}
	if !exists(live.tmp) {
		t.Error("live Store's scratch dir removed by Open")
	}
}

func TestTempDirAdopt(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	diffID := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("1", 64)}
	for i := range 2 {
		dir, err := s.TempDir(ctx, "build")
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "f"), []byte{byte(i)}, 0o644)
		got, err := s.AdoptLayerDir(ctx, diffID, dir)
		if err != nil {
			t.Fatal(err)
		}
		if got != s.layerPath(diffID) || exists(dir) {
			t.Errorf("AdoptLayerDir() = %s; source exists: %v", got, exists(dir))
		}
		if b, _ := os.ReadFile(filepath.Join(got, "f")); len(b) != 1 || b[0] != 0 {
			t.Errorf("adopted dir content = %v, want the first adoption's", b)
		}
	}
}

func countFiles(t *testing.T, dir string) int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

func randomImage(t testing.TB, layers int, size int64) v1.Image {
	t.Helper()
	img, err := random.Image(size, int64(layers))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func randomLayer(t testing.TB, size int64) v1.Layer {
	t.Helper()
	l, err := random.Layer(size, "application/vnd.oci.image.layer.v1.tar+gzip")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// badLayer claims a digest its content does not have.
type badLayer struct{ v1.Layer }

func (badLayer) Digest() (v1.Hash, error) {
	return v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}, nil
}

// TestConcurrentOpen: Stores opened at once on one root each get their
// own scratch dir; one Open's clean-up of dead Stores' leftovers never
// takes a live Store's lock file for a dead one's.
func TestConcurrentOpen(t *testing.T) {
	root := t.TempDir()
	for range 5 {
		var wg sync.WaitGroup
		stores := make([]*Store, 16)
		for i := range stores {
			wg.Go(func() {
				s, err := Open(context.Background(), root)
				if err != nil {
					t.Errorf("Open: %v", err)
					return
				}
				stores[i] = s
			})
		}
		wg.Wait()
		for _, s := range stores {
			if s == nil {
				continue
			}
			if _, err := os.Stat(s.tmp + ".lock"); err != nil {
				t.Errorf("a live Store's lock file is gone: %v", err)
			}
			if _, err := os.Stat(s.tmp); err != nil {
				t.Errorf("a live Store's scratch dir is gone: %v", err)
			}
		}
		for _, s := range stores {
			if s != nil {
				s.Close()
			}
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(root, "tmp")); len(entries) != 0 {
		t.Errorf("ROOT/tmp holds %d entries after every Store closed, want 0", len(entries))
	}
}
