package rootfs

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"golang.org/x/sys/unix"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

// build creates a tree from specs "path" (dir when ending in /), "path=content",
// "path->target", "path=>hardlink-source", "path!" (whiteout), "path/!opq"
// (opaque dir); a trailing " 0750 5:6" sets mode and owner.
func build(t *testing.T, dir string, specs ...string) string {
	t.Helper()
	for _, s := range specs {
		meta := ""
		if i := strings.Index(s, " "); i >= 0 {
			s, meta = s[:i], s[i+1:]
		}
		var p string
		var err error
		switch {
		case strings.HasSuffix(s, "/!opq"):
			p = filepath.Join(dir, strings.TrimSuffix(s, "/!opq"))
			os.MkdirAll(p, 0o755)
			err = unix.Setxattr(p, "trusted.overlay.opaque", []byte("y"), 0)
		case strings.HasSuffix(s, "!"):
			p = filepath.Join(dir, strings.TrimSuffix(s, "!"))
			os.MkdirAll(filepath.Dir(p), 0o755)
			err = unix.Mknod(p, unix.S_IFCHR, 0)
		case strings.Contains(s, "=>"):
			a, b, _ := strings.Cut(s, "=>")
			p = filepath.Join(dir, a)
			os.MkdirAll(filepath.Dir(p), 0o755)
			err = os.Link(filepath.Join(dir, b), p)
		case strings.Contains(s, "->"):
			a, b, _ := strings.Cut(s, "->")
			p = filepath.Join(dir, a)
			os.MkdirAll(filepath.Dir(p), 0o755)
			err = os.Symlink(b, p)
		case strings.Contains(s, "="):
			a, b, _ := strings.Cut(s, "=")
			p = filepath.Join(dir, a)
			os.MkdirAll(filepath.Dir(p), 0o755)
			err = os.WriteFile(p, []byte(b), 0o644)
		default:
			p = filepath.Join(dir, s)
			err = os.MkdirAll(p, 0o755)
		}
		if err != nil {
			t.Fatal(err)
		}
		if meta != "" {
			var mode uint32
			var uid, gid int
			fmt.Sscanf(meta, "%o %d:%d", &mode, &uid, &gid)
			os.Lchown(p, uid, gid)
			unix.Fchmodat(unix.AT_FDCWD, p, mode, 0)
		}
	}
	return dir
}

// tree lists dir as "path mode uid:gid [=content|->target|=>first]", sorted.
func tree(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	inodes := map[uint64]string{}
	filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		var st unix.Stat_t
		unix.Lstat(p, &st)
		line := fmt.Sprintf("%s %o %d:%d", rel, st.Mode, st.Uid, st.Gid)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			if first, ok := inodes[st.Ino]; ok {
				line += " =>" + first
			} else {
				inodes[st.Ino] = rel
				b, _ := os.ReadFile(p)
				line += " =" + string(b)
			}
		case unix.S_IFLNK:
			target, _ := os.Readlink(p)
			line += " ->" + target
		}
		lines = append(lines, line)
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func names(des []fs.DirEntry) string {
	var out []string
	for _, d := range des {
		out = append(out, d.Name())
	}
	return strings.Join(out, " ")
}

func TestStackView(t *testing.T) {
	needRoot(t)
	l0 := build(t, t.TempDir(), "etc/passwd=root", "a/x=x0", "a/y=y0", "d/old=o", "link->/a", "rel->../../../a", "esc->../../../../../etc", "f=file")
	l1 := build(t, t.TempDir(), "a/x!", "a/z=z1", "d/!opq", "d/new=n", "f/", "f/inner=i")
	s := Stack{Dirs: []string{l0, l1}}
	tests := []struct {
		dir, want string
	}{
		{"/", "a d esc etc f link rel"},
		{"/a", "y z"},
		{"/d", "new"},
		{"/link", "y z"},
		{"/rel/", "y z"},
		{"/esc", "passwd"},
		{"/f", "inner"},
	}
	for _, tt := range tests {
		des, err := s.ReadDir(tt.dir)
		if err != nil {
			t.Errorf("ReadDir(%q): %v", tt.dir, err)
			continue
		}
		if got := names(des); got != tt.want {
			t.Errorf("ReadDir(%q) = %q, want %q", tt.dir, got, tt.want)
		}
	}
	if _, err := s.Lstat("/a/x"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Lstat(whited-out /a/x) error = %v, want not exist", err)
	}
	if _, err := s.Lstat("/d/old"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Lstat(/d/old under opaque dir) error = %v, want not exist", err)
	}
	if got, err := s.RealPath("/link/y"); err != nil || got != filepath.Join(l0, "a/y") {
		t.Errorf("RealPath(/link/y) = %q, %v, want %q", got, err, filepath.Join(l0, "a/y"))
	}
	if got, err := s.RealPath("/esc/passwd"); err != nil || got != filepath.Join(l0, "etc/passwd") {
		t.Errorf("RealPath(/esc/passwd) = %q, %v: escaped the root", got, err)
	}
	if got, _ := s.Readlink("/link"); got != "/a" {
		t.Errorf("Readlink(/link) = %q, want /a", got)
	}
	if fi, err := s.Lstat("/link"); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("Lstat(/link) = %v, %v, want a symlink", fi, err)
	}
	if des, err := (Stack{}).ReadDir("/"); err != nil || len(des) != 0 {
		t.Errorf("Stack{}.ReadDir(/) = %v, %v", des, err)
	}
}

func TestDirIgnore(t *testing.T) {
	needRoot(t)
	d := NewDir(build(t, t.TempDir(), "a.txt=a", "b.log=b", "logs/x.log=x", "logs/keep.log=k", "node_modules/m=m"), []string{"*.log", "node_modules", "logs", "!logs/keep.log"})
	for dir, want := range map[string]string{"/": "a.txt logs", "/logs": "keep.log"} {
		des, err := d.ReadDir(dir)
		if err != nil || names(des) != want {
			t.Errorf("ReadDir(%q) = %q, %v, want %q", dir, names(des), err, want)
		}
	}
	if _, err := d.Lstat("/node_modules/m"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Lstat(ignored) error = %v, want not exist", err)
	}
}

func tarGz(t *testing.T, files map[string]string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	var keys []string
	for k := range files {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		tw.WriteHeader(&tar.Header{Name: k, Mode: 0o600, Size: int64(len(files[k])), Uid: 7, Gid: 7})
		tw.Write([]byte(files[k]))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func TestCopy(t *testing.T) {
	needRoot(t)
	ctxSpecs := []string{
		"f.txt=hello 0600 1000:1000", "g.txt=gee", "run.sh=#!", "dir/ 0700 5:5", "dir/a=A", "dir/sub/b=B",
		"dir/ln->a", "dir/hard=>dir/a", "link->f.txt", "up->../../etc", "x/y/z.txt=Z", "x/y/w.md=W",
		"sticky/ 1777 0:0", "y.md=Y",
	}
	underSpecs := []string{"etc/ 0750 5:6", "etc/os=debian", "real/", "lnk->/real", "escape->../../../..", "file=F", "d2/"}
	owner := Owner{UID: 33, GID: 44}
	tests := []struct {
		name    string
		srcs    []string
		dst     string
		opts    CopyOptions
		stage   bool // copy from the under stack instead of the context
		want    string
		wantErr string
	}{
		{name: "file into new dir", srcs: []string{"f.txt"}, dst: "/dst/", want: "dst 40755 0:0\ndst/f.txt 100600 0:0 =hello"},
		{name: "file as name", srcs: []string{"f.txt"}, dst: "/dst", want: "dst 100600 0:0 =hello"},
		{name: "file into existing dir copies it up", srcs: []string{"g.txt"}, dst: "/etc", want: "etc 40750 5:6\netc/g.txt 100644 0:0 =gee"},
		{name: "dir contents", srcs: []string{"dir"}, dst: "/out", want: "out 40755 0:0\nout/a 100644 0:0 =A\nout/hard 100644 0:0 =>out/a\nout/ln 120777 0:0 ->a\nout/sub 40755 0:0\nout/sub/b 100644 0:0 =B"},
		{name: "wildcard", srcs: []string{"*.txt"}, dst: "/w/", want: "w 40755 0:0\nw/f.txt 100600 0:0 =hello\nw/g.txt 100644 0:0 =gee"},
		{name: "wildcard one match to file", srcs: []string{"g*.txt"}, dst: "/w", want: "w 100644 0:0 =gee"},
		{name: "wildcard nothing", srcs: []string{"*.none"}, dst: "/w/", want: ""},
		{name: "wildcard deep", srcs: []string{"x/*/*.txt"}, dst: "/w/", want: "w 40755 0:0\nw/z.txt 100644 0:0 =Z"},
		{name: "several need dir", srcs: []string{"f.txt", "g.txt"}, dst: "/w", wantErr: "When using COPY with more than one source file, the destination must be a directory and end with a /"},
		{name: "several files by wildcard need dir", srcs: []string{"*.txt"}, dst: "/w", wantErr: "When using COPY with more than one source file, the destination must be a directory and end with a /"},
		{name: "several, a dir first makes the dest a dir", srcs: []string{"x", "g.txt"}, dst: "/w", want: "w 40755 0:0\nw/g.txt 100644 0:0 =gee\nw/y 40755 0:0\nw/y/w.md 100644 0:0 =W\nw/y/z.txt 100644 0:0 =Z"},
		{name: "wildcard, a dir first makes the dest a dir", srcs: []string{"[xy]*"}, dst: "/w", want: "w 40755 0:0\nw/y 40755 0:0\nw/y.md 100644 0:0 =Y\nw/y/w.md 100644 0:0 =W\nw/y/z.txt 100644 0:0 =Z"},
		{name: "wildcard, a file then a dir", srcs: []string{"[xg]*"}, dst: "/w", wantErr: "cannot copy to non-directory: /w"},
		{name: "several, a file then a dir", srcs: []string{"g.txt", "x"}, dst: "/w", wantErr: "cannot copy to non-directory: /w"},
		{name: "several into existing dir", srcs: []string{"f.txt", "g.txt"}, dst: "/real", want: "real 40755 0:0\nreal/f.txt 100600 0:0 =hello\nreal/g.txt 100644 0:0 =gee"},
		{name: "missing", srcs: []string{"nope"}, dst: "/", wantErr: `"nope" not found in build context`},
		{name: "missing wildcard base", srcs: []string{"nodir/*.txt"}, dst: "/", wantErr: `"nodir/*.txt" not found in build context`},
		{name: "symlink source followed", srcs: []string{"link"}, dst: "/s/", want: "s 40755 0:0\ns/link 100600 0:0 =hello"},
		{name: "symlink source escaping stays inside", srcs: []string{"up"}, dst: "/s/", wantErr: `"up" not found in build context`},
		{name: "chown", srcs: []string{"dir"}, dst: "/o/", opts: CopyOptions{Chown: &owner}, want: "o 40755 33:44\no/a 100644 33:44 =A\no/hard 100644 33:44 =>o/a\no/ln 120777 33:44 ->a\no/sub 40755 33:44\no/sub/b 100644 33:44 =B"},
		{name: "chmod octal", srcs: []string{"f.txt", "dir/sub"}, dst: "/m/", opts: CopyOptions{Chmod: "0751"}, want: "m 40751 0:0\nm/b 100751 0:0 =B\nm/f.txt 100751 0:0 =hello"},
		{name: "chmod octal on created parents of a file", srcs: []string{"g.txt"}, dst: "/p/q/g", opts: CopyOptions{Chmod: "0700"}, want: "p 40700 0:0\np/q 40700 0:0\np/q/g 100700 0:0 =gee"},
		{name: "chmod octal dir: created dirs without special bits, copied dirs with", srcs: []string{"x"}, dst: "/n/p/", opts: CopyOptions{Chmod: "2750"}, want: "n 40750 0:0\nn/p 40750 0:0\nn/p/y 42750 0:0\nn/p/y/w.md 102750 0:0 =W\nn/p/y/z.txt 102750 0:0 =Z"},
		{name: "chmod octal dir without slash", srcs: []string{"x"}, dst: "/n", opts: CopyOptions{Chmod: "0700", Chown: &owner}, want: "n 40700 33:44\nn/y 40700 33:44\nn/y/w.md 100700 33:44 =W\nn/y/z.txt 100700 33:44 =Z"},
		{name: "chmod octal leaves existing dirs", srcs: []string{"x"}, dst: "/etc/", opts: CopyOptions{Chmod: "0700"}, want: "etc 40750 5:6\netc/y 40700 0:0\netc/y/w.md 100700 0:0 =W\netc/y/z.txt 100700 0:0 =Z"},
		{name: "chmod symbolic dir: created dirs 0755", srcs: []string{"x"}, dst: "/n/p/", opts: CopyOptions{Chmod: "go-rx"}, want: "n 40755 0:0\nn/p 40755 0:0\nn/p/y 40700 0:0\nn/p/y/w.md 100600 0:0 =W\nn/p/y/z.txt 100600 0:0 =Z"},
		{name: "chmod symbolic", srcs: []string{"x"}, dst: "/m", opts: CopyOptions{Chmod: "u+x,go-r"}, want: "m 40755 0:0\nm/y 40711 0:0\nm/y/w.md 100700 0:0 =W\nm/y/z.txt 100700 0:0 =Z"},
		{name: "dir itself not copied", srcs: []string{"sticky"}, dst: "/t/", want: "t 40755 0:0"},
		{name: "sticky kept", srcs: []string{"sticky"}, dst: "/t/", opts: CopyOptions{Parents: true}, want: "t 40755 0:0\nt/sticky 41777 0:0"},
		{name: "exclude", srcs: []string{"x"}, dst: "/e/", opts: CopyOptions{Exclude: []string{"**/*.md"}}, want: "e 40755 0:0\ne/y 40755 0:0\ne/y/z.txt 100644 0:0 =Z"},
		{name: "exclude never matches a wildcard match itself", srcs: []string{"*.txt"}, dst: "/e/", opts: CopyOptions{Exclude: []string{"f*"}}, want: "e 40755 0:0\ne/f.txt 100600 0:0 =hello\ne/g.txt 100644 0:0 =gee"},
		{name: "exclude never matches a source itself", srcs: []string{"g.txt"}, dst: "/e/", opts: CopyOptions{Exclude: []string{"g.txt"}}, want: "e 40755 0:0\ne/g.txt 100644 0:0 =gee"},
		{name: "exclude inside a wildcard match is relative to it", srcs: []string{"[x]"}, dst: "/e/", opts: CopyOptions{Exclude: []string{"x", "y/w.md"}}, want: "e 40755 0:0\ne/y 40755 0:0\ne/y/z.txt 100644 0:0 =Z"},
		{name: "exclude with parents is relative to the context root", srcs: []string{"x/", "dir"}, dst: "/p/", opts: CopyOptions{Parents: true, Exclude: []string{"x/y/*.md", "dir/*"}}, want: "p 40755 0:0\np/dir 40700 0:0\np/x 40755 0:0\np/x/y 40755 0:0\np/x/y/z.txt 100644 0:0 =Z"},
		{name: "exclude with parents is relative to the pivot", srcs: []string{"x/./y"}, dst: "/p/", opts: CopyOptions{Parents: true, Exclude: []string{"y/w.md"}}, want: "p 40755 0:0\np/y 40755 0:0\np/y/z.txt 100644 0:0 =Z"},
		{name: "exclude with parents matches the item", srcs: []string{"x/*"}, dst: "/p/", opts: CopyOptions{Parents: true, Exclude: []string{"x/y"}}, want: "p 40755 0:0"},
		{name: "parents", srcs: []string{"x/y/z.txt"}, dst: "/p/", opts: CopyOptions{Parents: true}, want: "p 40755 0:0\np/x 40755 0:0\np/x/y 40755 0:0\np/x/y/z.txt 100644 0:0 =Z"},
		{name: "parents pivot", srcs: []string{"x/./y/*.md"}, dst: "/p", opts: CopyOptions{Parents: true}, want: "p 40755 0:0\np/y 40755 0:0\np/y/w.md 100644 0:0 =W"},
		{name: "dest through symlink", srcs: []string{"g.txt"}, dst: "/lnk/", want: "real 40755 0:0\nreal/g.txt 100644 0:0 =gee"},
		{name: "dest through escaping symlink", srcs: []string{"g.txt"}, dst: "/escape/", want: "g.txt 100644 0:0 =gee"},
		{name: "file onto dir", srcs: []string{"g.txt"}, dst: "/d2/g.txt/../../d2", want: "d2 40755 0:0\nd2/g.txt 100644 0:0 =gee"},
		{name: "dir onto file", srcs: []string{"dir"}, dst: "/file/", wantErr: "cannot copy to non-directory: /file"},
		{name: "stage keeps owner", srcs: []string{"/etc"}, dst: "/copy", stage: true, want: "copy 40755 0:0\ncopy/os 100644 0:0 =debian"},
		{name: "stage file keeps owner", srcs: []string{"/etc/os"}, dst: "/os", stage: true, opts: CopyOptions{Chmod: "go="}, want: "os 100600 0:0 =debian"},
		{name: "add extracts", srcs: []string{"a.tgz"}, dst: "/x", opts: CopyOptions{Extract: true}, want: "x 40755 0:0\nx/in 40755 0:0\nx/in/f 100600 7:7 =tar!"},
		{name: "add extract ignores chmod for the dest", srcs: []string{"a.tgz"}, dst: "/x", opts: CopyOptions{Extract: true, Chmod: "0700"}, want: "x 40755 0:0\nx/in 40755 0:0\nx/in/f 100600 7:7 =tar!"},
		{name: "add extract chown", srcs: []string{"a.tgz"}, dst: "/x", opts: CopyOptions{Extract: true, Chown: &owner}, want: "x 40755 33:44\nx/in 40755 0:0\nx/in/f 100600 33:44 =tar!"},
		{name: "copy keeps archive", srcs: []string{"a.tgz"}, dst: "/x/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cdir := build(t, t.TempDir(), ctxSpecs...)
			os.WriteFile(filepath.Join(cdir, "a.tgz"), tarGz(t, map[string]string{"in/f": "tar!"}), 0o644)
			under := Stack{Dirs: []string{build(t, t.TempDir(), underSpecs...)}}
			var src Source = NewDir(cdir, nil)
			if tt.stage {
				src = under
			}
			layerDir := t.TempDir()
			err := Copy(context.Background(), src, tt.srcs, under, tt.dst, layerDir, tt.opts)
			if tt.wantErr != "" || err != nil {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Copy() error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if tt.name == "copy keeps archive" {
				if b, _ := os.ReadFile(filepath.Join(layerDir, "x/a.tgz")); len(b) < 20 {
					t.Errorf("COPY of an archive did not copy it")
				}
				return
			}
			if got := tree(t, layerDir); got != tt.want {
				t.Errorf("layer =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestLookupUser(t *testing.T) {
	needRoot(t)
	s := Stack{Dirs: []string{build(t, t.TempDir(),
		"etc/passwd=root:x:0:0:root:/root:/bin/sh\nwww:x:33:34::/var/www:/bin/false\n",
		"etc/group=root:x:0:\nwww-data:x:34:\nstaff:x:50:www,bob\naudio:x:29:www\n")}}
	tests := []struct {
		spec    string
		want    User
		wantErr string
	}{
		{"root", User{UID: 0, GID: 0, Home: "/root"}, ""},
		{"www", User{UID: 33, GID: 34, Groups: []int{50, 29}, Home: "/var/www"}, ""},
		{"33", User{UID: 33, GID: 34, Groups: []int{50, 29}, Home: "/var/www"}, ""},
		{"1234", User{UID: 1234, GID: 0, Home: "/"}, ""},
		{"www:staff", User{UID: 33, GID: 50, Home: "/var/www"}, ""},
		{"1234:99", User{UID: 1234, GID: 99, Home: "/"}, ""},
		{"nobody", User{}, "unable to find user nobody: no matching entries in passwd file"},
		{"www:nogroup", User{}, "unable to find group nogroup: no matching entries in group file"},
	}
	for _, tt := range tests {
		got, err := LookupUser(s, tt.spec)
		if (err == nil) != (tt.wantErr == "") || err != nil && err.Error() != tt.wantErr {
			t.Errorf("LookupUser(%q) error = %v, want %q", tt.spec, err, tt.wantErr)
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("LookupUser(%q) = %+v, want %+v", tt.spec, got, tt.want)
		}
	}
	chowns := map[string]Owner{"www": {33, 34}, "10": {10, 10}, "10:20": {10, 20}, "www:staff": {33, 50}, "10:staff": {10, 50}, "ghost": {0, 0}}
	for spec, want := range chowns {
		if got, err := ChownOwner(s, spec); err != nil || got != want {
			t.Errorf("ChownOwner(%q) = %v, %v, want %v", spec, got, err, want)
		}
	}
	if got, err := LookupUser(Stack{}, "0"); err != nil || got.Home != "/" {
		t.Errorf("LookupUser(scratch, 0) = %+v, %v", got, err)
	}
	// Without /etc/passwd, BuildKit's executor takes "uid:gid" with "root"
	// for 0 and refuses a name alone, "root" included (runc's GetExecUser).
	scratch := map[string]User{"root:root": {Home: "/"}, "root:5": {GID: 5, Home: "/"}, "7:root": {UID: 7, Home: "/"}}
	for spec, want := range scratch {
		if got, err := LookupUser(Stack{}, spec); err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("LookupUser(scratch, %q) = %+v, %v, want %+v", spec, got, err, want)
		}
	}
	if _, err := LookupUser(Stack{}, "root"); err == nil || err.Error() != "unable to find user root: no matching entries in passwd file" {
		t.Errorf("LookupUser(scratch, root) error = %v, want no matching entries", err)
	}
	// BuildKit's FileOp (WORKDIR, --chown) needs no passwd for "root" or ids.
	scratchOwners := map[string]Owner{"root": {0, 0}, "root:root": {0, 0}, "1000": {1000, 1000}, "1000:root": {1000, 0}, "app": {0, 0}, "root:staff": {0, 0}}
	for spec, want := range scratchOwners {
		if got, err := ChownOwner(Stack{}, spec); err != nil || got != want {
			t.Errorf("ChownOwner(scratch, %q) = %v, %v, want %v", spec, got, err, want)
		}
	}
}

func TestParseChmod(t *testing.T) {
	tests := []struct {
		spec  string
		in    uint32
		isDir bool
		want  uint32
	}{
		{"755", 0o644, false, 0o755},
		{"4755", 0o644, false, 0o4755},
		{"u+x", 0o644, false, 0o744},
		{"go-w", 0o666, false, 0o644},
		{"a=rX", 0o644, false, 0o444},
		{"a=rX", 0o644, true, 0o555},
		{"+x", 0o600, false, 0o711},
		{"u=rwx,g=rx,o=", 0o777, false, 0o750},
		{"u+s", 0o755, false, 0o4755},
		{"g+s,+t", 0o755, true, 0o3755},
		{"o=u", 0o640, false, 0o646},
	}
	for _, tt := range tests {
		f, err := parseChmod(tt.spec)
		if err != nil {
			t.Errorf("parseChmod(%q): %v", tt.spec, err)
			continue
		}
		if got := f(tt.in, tt.isDir); got != tt.want {
			t.Errorf("parseChmod(%q)(%o) = %o, want %o", tt.spec, tt.in, got, tt.want)
		}
	}
	for _, bad := range []string{"8", "77777", "u", "z+x"} {
		if _, err := parseChmod(bad); err == nil {
			t.Errorf("parseChmod(%q) succeeded", bad)
		}
	}
}

func TestMkdirAll(t *testing.T) {
	needRoot(t)
	under := Stack{Dirs: []string{build(t, t.TempDir(), "app/ 0700 5:5", "lnk->/app")}}
	layerDir := t.TempDir()
	if err := MkdirAll(context.Background(), under, layerDir, "/lnk/src/pkg", Owner{UID: 7, GID: 8}); err != nil {
		t.Fatal(err)
	}
	want := "app 40700 5:5\napp/src 40755 7:8\napp/src/pkg 40755 7:8"
	if got := tree(t, layerDir); got != want {
		t.Errorf("MkdirAll layer =\n%s\nwant\n%s", got, want)
	}
}

// TestCopyFromStageConfined copies through symlinks that would leave the
// stage root on the host: they resolve inside the stage, never on the host.
func TestCopyFromStageConfined(t *testing.T) {
	needRoot(t)
	stage := Stack{Dirs: []string{build(t, t.TempDir(), "etc/hostname=stage", "abs->/etc/hostname", "dotdot->../../../../../../etc/hostname", "shadow->/etc/shadow", "dir/host->/etc")}}
	tests := []struct {
		src, want, wantErr string
	}{
		{src: "/abs", want: "abs 100644 0:0 =stage"},
		{src: "/dotdot", want: "dotdot 100644 0:0 =stage"},
		{src: "/shadow", wantErr: `"/shadow" not found`},
		{src: "/dir", want: "host 120777 0:0 ->/etc"},
	}
	for _, tt := range tests {
		layerDir := t.TempDir()
		err := Copy(context.Background(), stage, []string{tt.src}, Stack{}, "/", layerDir, CopyOptions{})
		if tt.wantErr != "" || err != nil {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("Copy(%s) error = %v, want %q", tt.src, err, tt.wantErr)
			}
			continue
		}
		if got := tree(t, layerDir); got != tt.want {
			t.Errorf("Copy(%s) layer =\n%s\nwant\n%s", tt.src, got, tt.want)
		}
	}
}
