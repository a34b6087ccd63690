package rootfs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestLstatAt: both ways a walk stats an entry say what lstat says: a
// symlink is not followed, a missing name is ENOENT, a name with a NUL
// (which the kernel would read as a shorter name) is refused.
func TestLstatAt(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("l", 255)
	if err := os.WriteFile(filepath.Join(dir, long), []byte("12345"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(long, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	for _, lstat := range []struct {
		name string
		f    func(int, string, *[]byte, *unix.Stat_t) error
	}{{"lstatAt", lstatAt}, {"lstatAtWarm", lstatAtWarm}} {
		var buf []byte
		for _, tt := range []struct {
			name string
			mode uint32 // S_IFMT bits
			size int64
			err  error
		}{
			{long, unix.S_IFREG, 5, nil},
			{"link", unix.S_IFLNK, int64(len(long)), nil},
			{"missing", 0, 0, unix.ENOENT},
			{long + "\x00", 0, 0, unix.EINVAL},
			{"link\x00x", 0, 0, unix.EINVAL},
		} {
			var st unix.Stat_t
			err := lstat.f(fd, tt.name, &buf, &st)
			if !errors.Is(err, tt.err) || err == nil && (st.Mode&unix.S_IFMT != tt.mode || st.Size != tt.size) {
				t.Errorf("%s(%.12q) = mode %o size %d, %v; want mode %o size %d, %v", lstat.name, tt.name, st.Mode&unix.S_IFMT, st.Size, err, tt.mode, tt.size, tt.err)
			}
		}
	}
}
