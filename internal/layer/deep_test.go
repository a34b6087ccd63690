package layer

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// makeDeep makes dir/d/d/.../d, levels deep, fd-relative (the path is
// past PATH_MAX), with a file, a symlink, a whiteout and an opaque dir at
// the bottom.
func makeDeep(t *testing.T, dir string, levels int) {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	for range levels {
		if err := unix.Mkdirat(fd, "d", 0o750); err != nil {
			t.Fatal(err)
		}
		next, err := unix.Openat(fd, "d", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		fd = next
	}
	defer unix.Close(fd)
	f, err := unix.Openat(fd, "file", unix.O_WRONLY|unix.O_CREAT|unix.O_CLOEXEC, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	unix.Write(f, []byte("bottom"))
	unix.Close(f)
	steps := []error{
		unix.Symlinkat("file", fd, "link"),
		unix.Mknodat(fd, "gone", unix.S_IFCHR, 0),
		unix.Mkdirat(fd, "opq", 0o755),
		unix.Lsetxattr(procPath(fd, "opq"), opaqueXattr, []byte("y"), 0),
	}
	for _, err := range steps {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestDeepTree writes and extracts a tree 3,000 levels deep (6,000-byte
// names, past PATH_MAX): the tar has every level and the bottom entries
// under PAX names, and extracting it writes it back the same.
func TestDeepTree(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	src := t.TempDir()
	makeDeep(t, src, 3000)
	var tar1 bytes.Buffer
	if _, err := Write(ctx, src, &tar1, WriteOptions{}); err != nil {
		t.Fatalf("Write(deep tree) = %v", err)
	}
	// Entries with the 3,000 levels above the bottom shown as ".../".
	var got []string
	for i, e := range entries(t, tar1.Bytes()) {
		level := strings.Repeat("d/", min(i+1, 3000))
		rest, ok := strings.CutPrefix(e, level)
		if !ok {
			t.Fatalf("Write(deep tree) entry %d is not under level %d", i, min(i+1, 3000))
		}
		got = append(got, ".../"+rest)
	}
	want := []string{
		".../ 5 750 0:0",
		".../.wh.gone 0 644 0:0",
		".../file 0 640 0:0",
		".../link 2 777 0:0 file",
		".../opq/ 5 755 0:0",
		".../opq/.wh..wh..opq 0 644 0:0",
	}
	if len(got) != 2999+len(want) || strings.Join(got[2999:], "\n") != strings.Join(want, "\n") {
		t.Fatalf("Write(deep tree) = %d entries ending\n%s\nwant %d ending\n%s",
			len(got), strings.Join(got[max(len(got)-6, 0):], "\n"), 2999+len(want), strings.Join(want, "\n"))
	}
	dst := t.TempDir()
	if err := Extract(ctx, bytes.NewReader(tar1.Bytes()), dst, ExtractOptions{}); err != nil {
		t.Fatalf("Extract(deep tree) = %v", err)
	}
	var tar2 bytes.Buffer
	if _, err := Write(ctx, dst, &tar2, WriteOptions{}); err != nil {
		t.Fatalf("Write(extracted deep tree) = %v", err)
	}
	if !bytes.Equal(tar1.Bytes(), tar2.Bytes()) {
		t.Errorf("Write(Extract(Write(deep tree))) differs from Write(deep tree)")
	}
}
