package rootfs

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/patternmatcher/ignorefile"
)

// ignoreTree is the context of TestDockerignoreSelection: files and one
// empty directory.
var ignoreTree = []string{
	"a.txt=a", "a.log=l", "dir/keep.txt=k", "dir/drop.log=d", "dir/sub/keep.txt=k",
	"dir/sub/x.go=x", "empty/", "logs/x.log=x", "logs/sub/y.log=y", "src/main.go=m",
	"src/pkg/util.go=u", "src/pkg/README.md=r", "src/doc/README.md=r", "node_modules/m/index.js=i",
}

// TestDockerignoreSelection: what `COPY . /ctx` copies for a .dockerignore,
// files and directories. Each want is what BuildKit v0.34.2's context
// transfer sends (tonistiigi/fsutil's filtered Walk with the patterns as
// ExcludePatterns), recorded from fsutil itself on this tree.
func TestDockerignoreSelection(t *testing.T) {
	needRoot(t)
	cdir := build(t, t.TempDir(), ignoreTree...)
	for _, tt := range []struct {
		name, dockerignore, want string
	}{
		{"nothing ignored", "",
			"a.log a.txt dir/ dir/drop.log dir/keep.txt dir/sub/ dir/sub/keep.txt dir/sub/x.go empty/ logs/ logs/sub/ logs/sub/y.log logs/x.log node_modules/ node_modules/m/ node_modules/m/index.js src/ src/doc/ src/doc/README.md src/main.go src/pkg/ src/pkg/README.md src/pkg/util.go"},
		{"only at the top", "*.log",
			"a.txt dir/ dir/drop.log dir/keep.txt dir/sub/ dir/sub/keep.txt dir/sub/x.go empty/ logs/ logs/sub/ logs/sub/y.log logs/x.log node_modules/ node_modules/m/ node_modules/m/index.js src/ src/doc/ src/doc/README.md src/main.go src/pkg/ src/pkg/README.md src/pkg/util.go"},
		{"at any depth: the directories stay, empty", "**/*.log",
			"a.txt dir/ dir/keep.txt dir/sub/ dir/sub/keep.txt dir/sub/x.go empty/ logs/ logs/sub/ node_modules/ node_modules/m/ node_modules/m/index.js src/ src/doc/ src/doc/README.md src/main.go src/pkg/ src/pkg/README.md src/pkg/util.go"},
		{"a directory and all below it", "logs",
			"a.log a.txt dir/ dir/drop.log dir/keep.txt dir/sub/ dir/sub/keep.txt dir/sub/x.go empty/ node_modules/ node_modules/m/ node_modules/m/index.js src/ src/doc/ src/doc/README.md src/main.go src/pkg/ src/pkg/README.md src/pkg/util.go"},
		{"everything below: the directory stays, empty", "logs/**",
			"a.log a.txt dir/ dir/drop.log dir/keep.txt dir/sub/ dir/sub/keep.txt dir/sub/x.go empty/ logs/ node_modules/ node_modules/m/ node_modules/m/index.js src/ src/doc/ src/doc/README.md src/main.go src/pkg/ src/pkg/README.md src/pkg/util.go"},
		{"an exception that matches nothing: the excluded dir is not sent", "dir\n!dir/missing",
			"a.log a.txt empty/ logs/ logs/sub/ logs/sub/y.log logs/x.log node_modules/ node_modules/m/ node_modules/m/index.js src/ src/doc/ src/doc/README.md src/main.go src/pkg/ src/pkg/README.md src/pkg/util.go"},
		{"excluded parents of a re-included file are sent, nothing else", "dir\n!dir/sub/keep.txt",
			"a.log a.txt dir/ dir/sub/ dir/sub/keep.txt empty/ logs/ logs/sub/ logs/sub/y.log logs/x.log node_modules/ node_modules/m/ node_modules/m/index.js src/ src/doc/ src/doc/README.md src/main.go src/pkg/ src/pkg/README.md src/pkg/util.go"},
		{"a wildcard exception re-includes below a subdirectory", "src\n!src/*/README.md",
			"a.log a.txt dir/ dir/drop.log dir/keep.txt dir/sub/ dir/sub/keep.txt dir/sub/x.go empty/ logs/ logs/sub/ logs/sub/y.log logs/x.log node_modules/ node_modules/m/ node_modules/m/index.js src/ src/doc/ src/doc/README.md src/pkg/ src/pkg/README.md"},
		{"everything but *.go at any depth: only their parents", "**\n!**/*.go",
			"dir/ dir/sub/ dir/sub/x.go src/ src/main.go src/pkg/ src/pkg/util.go"},
		{"a re-included directory comes whole", "*\n!src",
			"src/ src/doc/ src/doc/README.md src/main.go src/pkg/ src/pkg/README.md src/pkg/util.go"},
		{"exception with a trailing /*", "src\n!src/pkg/*",
			"a.log a.txt dir/ dir/drop.log dir/keep.txt dir/sub/ dir/sub/keep.txt dir/sub/x.go empty/ logs/ logs/sub/ logs/sub/y.log logs/x.log node_modules/ node_modules/m/ node_modules/m/index.js src/ src/pkg/ src/pkg/README.md src/pkg/util.go"},
		{"a later exception of a parent does not re-include (walk order)", "dir/sub\n!dir",
			"a.log a.txt dir/ dir/drop.log dir/keep.txt empty/ logs/ logs/sub/ logs/sub/y.log logs/x.log node_modules/ node_modules/m/ node_modules/m/index.js src/ src/doc/ src/doc/README.md src/main.go src/pkg/ src/pkg/README.md src/pkg/util.go"},
		{"one deep file", "*\n!src/pkg/util.go",
			"src/ src/pkg/ src/pkg/util.go"},
		{"an excluded empty dir with an exception below stays out", "empty\n!empty/x",
			"a.log a.txt dir/ dir/drop.log dir/keep.txt dir/sub/ dir/sub/keep.txt dir/sub/x.go logs/ logs/sub/ logs/sub/y.log logs/x.log node_modules/ node_modules/m/ node_modules/m/index.js src/ src/doc/ src/doc/README.md src/main.go src/pkg/ src/pkg/README.md src/pkg/util.go"},
		{"exclude, re-include, exclude again", "dir\n!dir/sub\ndir/sub/x.go",
			"a.log a.txt dir/ dir/sub/ dir/sub/keep.txt empty/ logs/ logs/sub/ logs/sub/y.log logs/x.log node_modules/ node_modules/m/ node_modules/m/index.js src/ src/doc/ src/doc/README.md src/main.go src/pkg/ src/pkg/README.md src/pkg/util.go"},
		{"a sub without keep.txt is not sent", "**/sub\n!**/sub/keep.txt",
			"a.log a.txt dir/ dir/drop.log dir/keep.txt dir/sub/ dir/sub/keep.txt empty/ logs/ logs/x.log node_modules/ node_modules/m/ node_modules/m/index.js src/ src/doc/ src/doc/README.md src/main.go src/pkg/ src/pkg/README.md src/pkg/util.go"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pats, err := ignorefile.ReadAll(strings.NewReader(tt.dockerignore))
			if err != nil {
				t.Fatal(err)
			}
			layer := t.TempDir()
			if err := Copy(context.Background(), NewDir(cdir, pats), []string{"."}, Stack{}, "/ctx", layer, CopyOptions{}); err != nil {
				t.Fatalf("Copy(. /ctx) with %q: %v", tt.dockerignore, err)
			}
			if got := copied(t, filepath.Join(layer, "ctx")); got != tt.want {
				t.Errorf("COPY . /ctx with .dockerignore %q\n got %s\nwant %s", tt.dockerignore, got, tt.want)
			}
		})
	}
}

// copied lists the paths below dir, directories with a trailing slash, in
// walk order (fsutil's).
func copied(t *testing.T, dir string) string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if de.IsDir() {
			rel += "/"
		}
		out = append(out, rel)
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Join(out, " ")
}

// TestDockerignoreSymlink: an ignored symlink is not in the context, so no
// path resolves through it, even one an exception re-includes; its target
// is there.
func TestDockerignoreSymlink(t *testing.T) {
	needRoot(t)
	cdir := build(t, t.TempDir(), "real/f.txt=f", "link->real", "abs->/real")
	for _, tt := range []struct {
		dockerignore string
		exist        map[string]bool
	}{
		{"", map[string]bool{"/link/f.txt": true, "/abs/f.txt": true, "/real/f.txt": true}},
		{"link\nabs", map[string]bool{"/link/f.txt": false, "/abs/f.txt": false, "/link": false, "/real/f.txt": true}},
		{"link\n!link/f.txt", map[string]bool{"/link/f.txt": false, "/abs/f.txt": true}},
		{"real\n!real/f.txt", map[string]bool{"/link/f.txt": true, "/real/f.txt": true}},
		{"real/f.txt", map[string]bool{"/link/f.txt": false, "/link": true}},
	} {
		pats, _ := ignorefile.ReadAll(strings.NewReader(tt.dockerignore))
		d := NewDir(cdir, pats)
		for p, want := range tt.exist {
			_, err := d.Lstat(p)
			if got := err == nil; got != want || (err != nil && !errors.Is(err, fs.ErrNotExist)) {
				t.Errorf(".dockerignore %q: Lstat(%q) error = %v, want exists %v", tt.dockerignore, p, err, want)
			}
		}
	}
}
