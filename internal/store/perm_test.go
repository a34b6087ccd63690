package store

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/strata-build/strata/internal/testenv"
)

// nobody is the uid and gid the tests run other users' processes as.
const nobody = 65534

// TestStorePrivate: a store in use (tags, blobs, an extracted layer, cache
// records, metadata) has only 0700 directories and files no other user
// may read, but for the inside of extracted layers (the image's modes).
func TestStorePrivate(t *testing.T) {
	testenv.RequireRoot(t)
	root := filepath.Join(t.TempDir(), "store")
	s := openTest(t, root)
	fillStore(t, s)
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if filepath.Dir(rel) == "layers" {
			return filepath.SkipDir // the image's own modes
		}
		switch {
		case e.IsDir() && fi.Mode().Perm() != 0o700:
			t.Errorf("%s is %v, want drwx------", rel, fi.Mode())
		case !e.IsDir() && fi.Mode().Perm()&0o077 != 0:
			t.Errorf("%s is %v, want no access for group and others", rel, fi.Mode())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"index.json", "cache", "meta", "locks", "gc.lock", "lock"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("the walk missed %s: %v", p, err)
		}
	}
}

// fillStore tags an image, extracts its layer, and writes a cache record
// and a metadata file.
func fillStore(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	img := testenv.BusyboxImage(t)
	h, err := s.WriteImage(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(ctx, "busybox:latest", h); err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.LayerDir(ctx, layers[0]); err != nil {
		t.Fatal(err)
	}
	key := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}
	if err := s.PutCacheRecord(ctx, key, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutMeta(ctx, "statcache.json", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	release, err := s.BuildLease(ctx) // creates gc.lock
	if err != nil {
		t.Fatal(err)
	}
	release()
}

// TestOpenTightensOldStore: Open makes the directories of a store made by
// an older strata (0755 dirs, 0444 blobs) private, leaving a shared sticky
// ROOT (like /tmp) and the inside of extracted layers as they are.
func TestOpenTightensOldStore(t *testing.T) {
	testenv.RequireRoot(t)
	dirs := []string{"blobs", "blobs/sha256", "layers", "locks", "tmp", "cache", "meta", "cache-mounts"}
	tests := []struct {
		name     string
		rootMode fs.FileMode
		want     fs.FileMode // ROOT's mode after Open
	}{
		{"0755", 0o755, 0o700},
		{"0711", 0o711, 0o700},
		{"0750", 0o750, 0o700},
		{"0700", 0o700, 0o700},
		{"sticky 1777", 0o777 | fs.ModeSticky, 0o777 | fs.ModeSticky},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "store")
			layer := filepath.Join(root, "layers", strings.Repeat("cd", 32))
			for _, d := range append(dirs, filepath.Join("layers", filepath.Base(layer))) {
				mkdirMode(t, filepath.Join(root, d), 0o755)
			}
			blob := filepath.Join(root, "blobs", "sha256", strings.Repeat("ef", 32))
			if err := os.WriteFile(blob, []byte("blob"), 0o444); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(root, tt.rootMode); err != nil {
				t.Fatal(err)
			}
			openTest(t, root)
			if got := mode(t, root); got != tt.want {
				t.Errorf("Open: ROOT is %v, want %v", got, tt.want)
			}
			for _, d := range dirs {
				if got := mode(t, filepath.Join(root, d)); got != 0o700 {
					t.Errorf("Open: %s is %v, want %v", d, got, fs.FileMode(0o700))
				}
			}
			if got := mode(t, layer); got != 0o755 {
				t.Errorf("Open: the extracted layer's root is %v, want it untouched (%v)", got, fs.FileMode(0o755))
			}
		})
	}
}

func mkdirMode(t *testing.T, dir string, perm fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(dir, perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, perm); err != nil {
		t.Fatal(err)
	}
}

func mode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode() &^ fs.ModeDir
}

// TestOtherUsersShutOut runs processes as nobody against a store whose
// extracted layer holds a setuid-root program: they may not run it, list
// the layers or read a blob. The store's parent is open to them (checked),
// so what stops them is the store's own modes.
func TestOtherUsersShutOut(t *testing.T) {
	testenv.RequireRoot(t)
	ctx := context.Background()
	parent := t.TempDir()
	for _, d := range []string{filepath.Dir(parent), parent} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	root := filepath.Join(parent, "store")
	s := openTest(t, root)
	dir, err := s.LayerDir(ctx, setuidLayer(t, "/usr/bin/id"))
	if err != nil {
		t.Fatal(err)
	}
	setuid := filepath.Join(dir, "usr", "bin", "id")
	if fi, err := os.Stat(setuid); err != nil || fi.Mode()&fs.ModeSetuid == 0 {
		t.Fatalf("extracted %s: %v, %v; want a setuid file", setuid, fi, err)
	}
	blob := blobWith(t, s, "layer secret")
	if out, err := asNobody("/bin/ls", parent).CombinedOutput(); err != nil {
		t.Fatalf("nobody cannot list the store's parent (the test's premise): %v\n%s", err, out)
	}

	if out, err := asNobody(setuid).CombinedOutput(); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("nobody ran the setuid %s: %v\n%s", setuid, err, out)
	}
	for _, argv := range [][]string{{"/bin/ls", filepath.Join(root, "layers")}, {"/bin/cat", blob}} {
		out, err := asNobody(argv...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "Permission denied") {
			t.Errorf("nobody: %s = %v\n%s, want permission denied", strings.Join(argv, " "), err, out)
		}
	}
}

func asNobody(argv ...string) *exec.Cmd {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	return cmd
}

// setuidLayer is a layer holding a copy of prog, setuid root.
func setuidLayer(t *testing.T, prog string) v1.Layer {
	t.Helper()
	body, err := os.ReadFile(prog)
	if err != nil {
		t.Skipf("no %s to copy: %v", prog, err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Name: "usr/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "usr/bin/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: strings.TrimPrefix(prog, "/"), Typeflag: tar.TypeReg, Mode: 0o4755, Size: int64(len(body))},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tw.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(buf.Bytes())), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// blobWith stores data as a blob and returns its path.
func blobWith(t *testing.T, s *Store, data string) string {
	t.Helper()
	h, _, err := s.WriteBlob(context.Background(), func(w io.Writer) error {
		_, err := io.WriteString(w, data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return s.blobPath(h)
}
