package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"golang.org/x/sys/unix"
)

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

// node describes one file of a test tree.
type node struct {
	path   string
	kind   string // "dir", "file", "link", "hard", "whiteout", "fifo", "char"
	data   string // content, link target or hard link source
	mode   uint32
	uid    int
	gid    int
	xattrs map[string]string
	opaque bool
}

var testTime = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// makeTree builds an overlay-format tree in dir.
func makeTree(t testing.TB, dir string, nodes []node) {
	t.Helper()
	for _, n := range nodes {
		p := filepath.Join(dir, n.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch n.kind {
		case "dir":
			err = os.Mkdir(p, 0o755)
		case "file":
			err = os.WriteFile(p, []byte(n.data), 0o644)
		case "link":
			err = os.Symlink(n.data, p)
		case "hard":
			err = os.Link(filepath.Join(dir, n.data), p)
		case "whiteout":
			err = unix.Mknod(p, unix.S_IFCHR, 0)
		case "fifo":
			err = unix.Mkfifo(p, 0o644)
		case "char":
			err = unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3)))
		}
		if err != nil {
			t.Fatal(err)
		}
		if n.kind == "hard" {
			continue
		}
		if err := os.Lchown(p, n.uid, n.gid); err != nil {
			t.Fatal(err)
		}
		if n.mode != 0 && n.kind != "link" {
			if err := unix.Fchmodat(unix.AT_FDCWD, p, n.mode, 0); err != nil {
				t.Fatal(err)
			}
		}
		for k, v := range n.xattrs {
			if err := unix.Lsetxattr(p, k, []byte(v), 0); err != nil {
				t.Fatal(err)
			}
		}
		if n.opaque {
			if err := unix.Setxattr(p, opaqueXattr, []byte("y"), 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	touchAll(t, dir, testTime)
}

// touchAll sets every mtime under dir (deepest first).
func touchAll(t testing.TB, dir string, m time.Time) {
	t.Helper()
	var paths []string
	filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	})
	ts := unix.NsecToTimespec(m.UnixNano())
	for i := len(paths) - 1; i >= 0; i-- {
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, paths[i], []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			t.Fatal(err)
		}
	}
}

// snapshot describes every file under dir, one line each, sorted; hard
// links show as "=> first path".
func snapshot(t testing.TB, dir string) string {
	t.Helper()
	var lines []string
	inodes := map[uint64]string{}
	err := filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		line := fmt.Sprintf("%s %o %d:%d %s", rel, st.Mode, st.Uid, st.Gid, time.Unix(st.Mtim.Sec, 0).UTC().Format(time.RFC3339))
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			if first, ok := inodes[st.Ino]; ok {
				line += " => " + first
			} else {
				inodes[st.Ino] = rel
				b, _ := os.ReadFile(p)
				line += fmt.Sprintf(" %x", sha256.Sum256(b))
			}
		case unix.S_IFLNK:
			target, _ := os.Readlink(p)
			line += " -> " + target
		case unix.S_IFCHR, unix.S_IFBLK:
			line += fmt.Sprintf(" dev %d,%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
		}
		xs, err := listXattrs(p)
		if err != nil {
			return err
		}
		sort.Strings(xs)
		for _, k := range xs {
			v, _ := getXattr(p, k)
			line += fmt.Sprintf(" %s=%q", k, v)
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// capV2 is a security.capability value granting cap_net_bind_service.
var capV2 = string([]byte{0, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})

var richTree = []node{
	{path: "bin", kind: "dir"},
	{path: "bin/sh", kind: "file", data: "#!/bin/sh\n", mode: 0o755},
	{path: "bin/su", kind: "file", data: "su", mode: 0o4755},
	{path: "bin/ping", kind: "file", data: "ping", mode: 0o755, xattrs: map[string]string{"security.capability": capV2, "user.note": "x"}},
	{path: "bin/sh2", kind: "hard", data: "bin/sh"},
	{path: "bin/a-sh", kind: "hard", data: "bin/sh"},
	{path: "usr/lib/libc.so", kind: "link", data: "../../lib/libc.so.6"},
	{path: "etc/passwd", kind: "file", data: "root:x:0:0::/root:/bin/sh\n", mode: 0o600, uid: 1000, gid: 2000},
	{path: "tmp", kind: "dir", mode: 0o1777},
	{path: "gone", kind: "whiteout"},
	{path: "var/gone", kind: "whiteout"},
	{path: "opq", kind: "dir", opaque: true, mode: 0o2750, uid: 5},
	{path: "opq/kept", kind: "file", data: "k"},
	{path: "run/fifo", kind: "fifo", mode: 0o600},
	{path: "dev/null", kind: "char", mode: 0o666},
	{path: "a.txt", kind: "file", data: "a"},
	{path: "a/b", kind: "file", data: "b"},
	{path: "abs", kind: "link", data: "/etc/passwd"},
}

func TestRoundTrip(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	src := t.TempDir()
	makeTree(t, src, richTree)
	var buf bytes.Buffer
	if _, err := Write(ctx, src, &buf, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if err := Extract(ctx, bytes.NewReader(buf.Bytes()), dst, ExtractOptions{Devices: true}); err != nil {
		t.Fatal(err)
	}
	unix.Chmod(dst, 0o755)
	unix.Chmod(src, 0o755)
	touchRoot(t, src, dst)
	if got, want := snapshot(t, dst), snapshot(t, src); got != want {
		t.Errorf("Extract(Write(tree)) =\n%s\nwant\n%s", got, want)
	}
}

// touchRoot gives both roots the same mtime (the root has no tar entry).
func touchRoot(t *testing.T, dirs ...string) {
	ts := unix.NsecToTimespec(testTime.UnixNano())
	for _, d := range dirs {
		unix.UtimesNanoAt(unix.AT_FDCWD, d, []unix.Timespec{ts, ts}, 0)
	}
}

// entries lists the headers of a tar as "name type mode uid:gid link".
func entries(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		s := fmt.Sprintf("%s %c %o %d:%d", h.Name, h.Typeflag, h.Mode, h.Uid, h.Gid)
		if h.Linkname != "" {
			s += " " + h.Linkname
		}
		if h.Uname != "" || h.Gname != "" || !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
			t.Errorf("%s: has uname/gname/atime/ctime: %+v", h.Name, h)
		}
		out = append(out, s)
	}
}

func TestWriteEntries(t *testing.T) {
	needRoot(t)
	src := t.TempDir()
	makeTree(t, src, richTree)
	var buf bytes.Buffer
	if _, err := Write(context.Background(), src, &buf, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		".wh.gone 0 644 0:0",
		"a/ 5 755 0:0",
		"a/b 0 644 0:0",
		"a.txt 0 644 0:0",
		"abs 2 777 0:0 /etc/passwd",
		"bin/ 5 755 0:0",
		"bin/a-sh 0 755 0:0",
		"bin/ping 0 755 0:0",
		"bin/sh 1 755 0:0 bin/a-sh",
		"bin/sh2 1 755 0:0 bin/a-sh",
		"bin/su 0 4755 0:0",
		"dev/ 5 755 0:0",
		"dev/null 3 666 0:0",
		"etc/ 5 755 0:0",
		"etc/passwd 0 600 1000:2000",
		"opq/ 5 2750 5:0",
		"opq/.wh..wh..opq 0 644 0:0",
		"opq/kept 0 644 0:0",
		"run/ 5 755 0:0",
		"run/fifo 6 600 0:0",
		"tmp/ 5 1777 0:0",
		"usr/ 5 755 0:0",
		"usr/lib/ 5 755 0:0",
		"usr/lib/libc.so 2 777 0:0 ../../lib/libc.so.6",
		"var/ 5 755 0:0",
		"var/.wh.gone 0 644 0:0",
	}
	got := entries(t, buf.Bytes())
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Write entries =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestDeterministic(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	clamp := testTime.Add(-time.Hour)
	digest := func(dir string, m time.Time) Descriptor {
		touchAll(t, dir, m)
		d, err := WriteCompressed(ctx, dir, io.Discard, WriteOptions{Clamp: &clamp})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	a, b := t.TempDir(), t.TempDir()
	makeTree(t, a, richTree)
	makeTree(t, b, richTree)
	da, db := digest(a, testTime), digest(b, testTime.Add(48*time.Hour))
	if da != db {
		t.Errorf("WriteCompressed of equal trees with mtimes above Clamp = %v and %v, want equal", da, db)
	}
	if again := digest(a, testTime); again != da {
		t.Errorf("WriteCompressed twice = %v then %v", da, again)
	}
	if below := digest(a, clamp.Add(-time.Hour)); below.DiffID == da.DiffID {
		t.Errorf("WriteCompressed with mtimes below Clamp kept the clamped digest")
	}
}

func TestWriteCompressedMatchesWrite(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	src := t.TempDir()
	makeTree(t, src, richTree)
	big := bytes.Repeat([]byte("0123456789abcdef"), 300000) // several gzip blocks
	os.WriteFile(filepath.Join(src, "big"), big, 0o644)
	var plain, blob bytes.Buffer
	diffID, err := Write(ctx, src, &plain, WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := WriteCompressed(ctx, src, &blob, WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.DiffID != diffID || d.Size != int64(blob.Len()) || d.Digest.Hex != fmt.Sprintf("%x", sha256.Sum256(blob.Bytes())) {
		t.Errorf("WriteCompressed = %+v, want DiffID %v, size %d", d, diffID, blob.Len())
	}
	zr, err := gzip.NewReader(&blob)
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() && zr.ModTime.Unix() != 0 {
		t.Errorf("gzip header name %q mtime %v, want empty", zr.Name, zr.ModTime)
	}
	un, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(un, plain.Bytes()) {
		t.Errorf("gunzip(WriteCompressed) differs from Write")
	}
}

// tarOf builds a tar from headers; a regular file's content is its Linkname
// field when Size is set.
func tarOf(t testing.TB, hdrs ...*tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hdrs {
		h := *h
		body := ""
		if h.Typeflag == tar.TypeReg {
			body, h.Linkname = h.Linkname, ""
			h.Size = int64(len(body))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, body)
	}
	tw.Close()
	return buf.Bytes()
}

func reg(name, body string) *tar.Header {
	return &tar.Header{Typeflag: tar.TypeReg, Name: name, Linkname: body, ModTime: testTime}
}
func dir(name string) *tar.Header {
	return &tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: testTime}
}
func symlink(name, target string) *tar.Header {
	return &tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, ModTime: testTime}
}
func hardlink(name, target string) *tar.Header {
	return &tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target, ModTime: testTime}
}

func TestExtractHostile(t *testing.T) {
	needRoot(t)
	tests := []struct {
		name    string
		tar     []byte
		devices bool
		wantErr string
	}{
		{"dotdot", tarOf(t, reg("../x", "evil")), false, `extracting layer: "../x": path escapes the root`},
		{"dotdot inside", tarOf(t, reg("a/../../x", "evil")), false, `extracting layer: "a/../../x": path escapes the root`},
		{"rooted dotdot", tarOf(t, reg("/../x", "evil")), false, `extracting layer: "/../x": path escapes the root`},
		{"through symlink", tarOf(t, symlink("l", "../outside"), reg("l/x", "evil")), false, `extracting layer: "l/x": parent is not a directory`},
		{"through abs symlink", tarOf(t, symlink("l", "/tmp"), dir("l/d/")), false, `extracting layer: "l/d/": parent is not a directory`},
		{"through file", tarOf(t, reg("f", "x"), reg("f/x", "evil")), false, `extracting layer: "f/x": parent is not a directory`},
		{"hard link out", tarOf(t, hardlink("h", "../outside/sentinel")), false, `extracting layer: "h": hard link to "../outside/sentinel": path escapes the root`},
		{"hard link via symlink", tarOf(t, symlink("l", "../outside"), hardlink("h", "l/sentinel")), false, `extracting layer: "h": hard link to "l/sentinel": parent is not a directory`},
		{"hard link missing", tarOf(t, hardlink("h", "nope")), false, `extracting layer: "h": hard link to "nope": hard link target is missing or a directory`},
		{"hard link dir", tarOf(t, dir("d/"), hardlink("h", "d")), false, `extracting layer: "h": hard link to "d": hard link target is missing or a directory`},
		{"device", tarOf(t, &tar.Header{Typeflag: tar.TypeChar, Name: "dev/null", Devmajor: 1, Devminor: 3}), false, `extracting layer: "dev/null": device nodes are not allowed`},
		{"block device", tarOf(t, &tar.Header{Typeflag: tar.TypeBlock, Name: "sda", Devmajor: 8}), false, `extracting layer: "sda": device nodes are not allowed`},
		{"whiteout dotdot", tarOf(t, reg(".wh..", "")), false, `extracting layer: ".wh..": path escapes the root`},
		{"root as file", tarOf(t, reg(".", "")), false, `extracting layer: ".": path escapes the root`},
		{"symlink replaced ok", tarOf(t, symlink("l", "../outside/sentinel"), reg("l", "fine")), false, ``},
		{"absolute name ok", tarOf(t, reg("/etc/x", "fine")), false, ``},
		{"device allowed", tarOf(t, &tar.Header{Typeflag: tar.TypeChar, Name: "null", Devmajor: 1, Devminor: 3}), true, ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			top := t.TempDir()
			root, outside := filepath.Join(top, "root"), filepath.Join(top, "outside")
			os.Mkdir(root, 0o755)
			os.Mkdir(outside, 0o755)
			os.WriteFile(filepath.Join(outside, "sentinel"), []byte("safe"), 0o644)
			err := Extract(context.Background(), bytes.NewReader(tt.tar), root, ExtractOptions{Devices: tt.devices})
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.wantErr {
				t.Errorf("Extract() error = %q, want %q", got, tt.wantErr)
			}
			checkOutside(t, top)
		})
	}
}

// checkOutside fails if anything next to root changed.
func checkOutside(t testing.TB, top string) {
	t.Helper()
	names, _ := os.ReadDir(top)
	if len(names) != 2 {
		t.Errorf("entries next to root: %v", names)
	}
	outs, _ := os.ReadDir(filepath.Join(top, "outside"))
	b, _ := os.ReadFile(filepath.Join(top, "outside", "sentinel"))
	if len(outs) != 1 || string(b) != "safe" {
		t.Errorf("outside changed: %v %q", outs, b)
	}
	if _, err := os.Lstat("/tmp/d"); err == nil {
		t.Errorf("/tmp/d exists")
	}
}

func TestExtractOverlay(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	dst := t.TempDir()
	// A lower layer already extracted, then an upper one replacing things.
	first := tarOf(t, dir("d/"), reg("d/old", "o"), reg("f", "file"), dir("x/"), reg("x/y", "y"), symlink("s", "f"))
	second := tarOf(t,
		&tar.Header{Typeflag: tar.TypeDir, Name: "d/", Mode: 0o700, Uid: 7, Gid: 8, ModTime: testTime},
		reg("d/.wh..wh..opq", ""),
		reg("d/new", "n"),
		reg(".wh.f", ""),
		reg("x", "now a file"),
		dir("s/"),
		reg("new/deep/.wh.gone", ""),
	)
	for _, b := range [][]byte{first, second} {
		if err := Extract(ctx, bytes.NewReader(b), dst, ExtractOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var st unix.Stat_t
	check := func(p string, mode uint32) {
		t.Helper()
		if err := unix.Lstat(filepath.Join(dst, p), &st); err != nil {
			t.Errorf("Lstat(%s): %v", p, err)
			return
		}
		if st.Mode != mode {
			t.Errorf("mode of %s = %o, want %o", p, st.Mode, mode)
		}
	}
	check("d", unix.S_IFDIR|0o700)
	if st.Uid != 7 || st.Gid != 8 {
		t.Errorf("owner of d = %d:%d, want 7:8", st.Uid, st.Gid)
	}
	if !isOpaque(filepath.Join(dst, "d")) {
		t.Errorf("d not opaque")
	}
	check("d/old", unix.S_IFREG|0o644) // the opaque marker hides lower layers, not this dir
	check("d/new", unix.S_IFREG|0o644)
	check("f", unix.S_IFCHR)
	check("x", unix.S_IFREG|0o644)
	check("s", unix.S_IFDIR|0o755)
	check("new/deep/gone", unix.S_IFCHR)
	if st.Rdev != 0 {
		t.Errorf("whiteout rdev = %d", st.Rdev)
	}
}
