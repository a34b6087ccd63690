package sbom

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"
)

// layerScan is what one layer holds: the metadata files it writes, with
// their packages, and what it deletes from the layers below. It is the
// cached record.
type layerScan struct {
	Scanner   int        `json:"scanner"`
	DiffID    string     `json:"diffID,omitempty"`
	Files     []fileScan `json:"files,omitempty"`
	Whiteouts []string   `json:"whiteouts,omitempty"`
	Opaque    []string   `json:"opaque,omitempty"`
}

// fileScan is one metadata file (or executable) of a layer. A file that
// declares nothing is kept too: it still replaces the file below it.
type fileScan struct {
	Path     string    `json:"path"`
	Packages []Package `json:"packages,omitempty"`
	// Distro is what an os-release file says.
	Distro *Distro `json:"distro,omitempty"`
	// Licenses are a Debian copyright file's (for the package named by
	// its directory).
	Licenses []string `json:"licenses,omitempty"`
}

// kind is which cataloger reads a file.
type kind int

const (
	kindNone kind = iota
	kindDpkg
	kindCopyright
	kindApk
	kindOSRelease
	kindPython
	kindNpm
	kindJava
	kindExec
)

// task is a file a cataloger will read.
type task struct {
	path string // in the image, "/usr/bin/x"
	abs  string // on disk
	kind kind
}

// scanDir catalogs the overlay-format layer directory dir.
func scanDir(ctx context.Context, dir string) (*layerScan, error) {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	w := &walker{ctx: gctx, g: g}
	g.Go(func() error { return w.dir(dir, "/") })
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("walking %s: %w", dir, err)
	}
	files, err := runTasks(ctx, w.tasks)
	if err != nil {
		return nil, err
	}
	sort.Strings(w.whiteouts)
	sort.Strings(w.opaque)
	return &layerScan{Files: files, Whiteouts: w.whiteouts, Opaque: w.opaque}, nil
}

// walker walks a layer directory, several directories at once, collecting
// the files to catalog, the whiteouts and the opaque directories.
type walker struct {
	ctx context.Context
	g   *errgroup.Group

	mu        sync.Mutex
	tasks     []task
	whiteouts []string
	opaque    []string
}

// dir walks the directory abs (image path p): its subdirectories in new
// goroutines while the group has room, else in this one.
func (w *walker) dir(abs, p string) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	f, err := os.Open(abs)
	if err != nil {
		return err
	}
	ents, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return err
	}
	var tasks []task
	var whiteouts, opaques []string
	for _, d := range ents {
		ca, cp := filepath.Join(abs, d.Name()), path.Join(p, d.Name())
		t := d.Type()
		switch {
		case t.IsDir():
			if opaque(ca) {
				opaques = append(opaques, cp)
			}
			if !w.g.TryGo(func() error { return w.dir(ca, cp) }) {
				if err := w.dir(ca, cp); err != nil {
					return err
				}
			}
		case t&fs.ModeCharDevice != 0:
			if whiteout(d) {
				whiteouts = append(whiteouts, cp)
			}
		case t.IsRegular():
			k := classify(cp)
			if k == kindNone {
				if fi, err := d.Info(); err == nil && fi.Mode()&0o111 != 0 {
					k = kindExec
				}
			}
			if k != kindNone {
				tasks = append(tasks, task{path: cp, abs: ca, kind: k})
			}
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.tasks = append(w.tasks, tasks...)
	w.whiteouts = append(w.whiteouts, whiteouts...)
	w.opaque = append(w.opaque, opaques...)
	return nil
}

// runTasks runs the catalogers over tasks, several at once, and returns
// the files they found in path order. Executables that are not Go binaries
// are kept (empty) so they hide a Go binary below them.
func runTasks(ctx context.Context, tasks []task) ([]fileScan, error) {
	out := make([]fileScan, len(tasks))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, t := range tasks {
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				return err
			}
			f, err := catalog(t)
			if err != nil {
				return fmt.Errorf("reading %s: %w", t.path, err)
			}
			f.Path = t.path
			out[i] = f
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// catalog reads one file with its cataloger. Metadata that does not parse
// declares nothing; only I/O errors other than a vanished file fail.
func catalog(t task) (fileScan, error) {
	var f fileScan
	var err error
	switch t.kind {
	case kindDpkg:
		f.Packages, err = readDpkg(t.abs, t.path)
	case kindCopyright:
		f.Licenses, err = readCopyright(t.abs)
	case kindApk:
		f.Packages, err = readApk(t.abs, t.path)
	case kindOSRelease:
		f.Distro, err = readOSRelease(t.abs)
	case kindPython:
		f.Packages, err = readPython(t.abs, t.path)
	case kindNpm:
		f.Packages, err = readNpm(t.abs, t.path)
	case kindJava:
		f.Packages, err = readJar(t.abs, t.path)
	case kindExec:
		f.Packages, err = readGoBinary(t.abs, t.path)
	}
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	return f, err
}

// classify says which cataloger reads the regular file at p (an image
// path), by name alone.
func classify(p string) kind {
	dir, base := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	switch {
	case p == "/var/lib/dpkg/status" || dir == "/var/lib/dpkg/status.d":
		return kindDpkg
	case base == "copyright" && path.Dir(dir) == "/usr/share/doc":
		return kindCopyright
	case p == "/lib/apk/db/installed":
		return kindApk
	case p == "/etc/os-release" || p == "/usr/lib/os-release":
		return kindOSRelease
	case base == "METADATA" && strings.HasSuffix(dir, ".dist-info"),
		base == "PKG-INFO" && strings.HasSuffix(dir, ".egg-info"),
		strings.HasSuffix(base, ".egg-info"):
		return kindPython
	case base == "package.json" && npmPackageDir(dir):
		return kindNpm
	case strings.HasSuffix(base, ".jar") || strings.HasSuffix(base, ".war") || strings.HasSuffix(base, ".ear"):
		return kindJava
	}
	return kindNone
}

// npmPackageDir reports whether dir is a package directly inside a
// node_modules directory: …/node_modules/name or …/node_modules/@scope/name.
func npmPackageDir(dir string) bool {
	parent, name := path.Split(dir)
	parent = strings.TrimSuffix(parent, "/")
	if name == "" || strings.HasPrefix(name, ".") {
		return false
	}
	if path.Base(parent) == "node_modules" {
		return !strings.HasPrefix(name, "@")
	}
	scope := path.Base(parent)
	return strings.HasPrefix(scope, "@") && path.Base(path.Dir(parent)) == "node_modules"
}

// opaque reports whether the directory at abs hides the layers below it.
func opaque(abs string) bool {
	buf := make([]byte, 4)
	for _, x := range []string{"trusted.overlay.opaque", "user.overlay.opaque"} {
		n, err := unix.Lgetxattr(abs, x, buf)
		if err == nil && n == 1 && buf[0] == 'y' {
			return true
		}
	}
	return false
}

// whiteout reports whether the character device d is a 0/0 whiteout.
func whiteout(d fs.DirEntry) bool {
	fi, err := d.Info()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Rdev == 0
}
