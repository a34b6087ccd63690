package export

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// Local writes img's flattened filesystem into dir (created if needed).
// Every write goes through an os.Root, so no entry (through "..", an
// absolute name or a symlink) lands outside dir. Owners are set when running
// as root; device nodes are skipped.
func Local(ctx context.Context, img v1.Image, dir string) error {
	if err := local(ctx, img, dir); err != nil {
		return fmt.Errorf("writing filesystem to %s: %w", dir, err)
	}
	return nil
}

func local(ctx context.Context, img v1.Image, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	rc := mutate.Extract(img)
	defer rc.Close()
	w := &fsWriter{root: root, owners: os.Geteuid() == 0}
	tr := tar.NewReader(rc)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			// mutate.Extract ends the tar before reporting its error.
			if _, err := io.Copy(io.Discard, rc); err != nil {
				return fmt.Errorf("flattening image: %w", err)
			}
			return w.finish()
		}
		if err != nil {
			return fmt.Errorf("reading flattened image: %w", err)
		}
		if err := w.write(h, tr); err != nil {
			return fmt.Errorf("writing %s: %w", h.Name, err)
		}
	}
}

// fsWriter writes tar entries under root.
type fsWriter struct {
	root   *os.Root
	owners bool
	dirs   []*tar.Header // directory times are set last
}

func (w *fsWriter) write(h *tar.Header, r io.Reader) error {
	name, ok := cleanName(h.Name)
	if !ok {
		return fmt.Errorf("refusing path outside the image root")
	}
	if name == "." {
		return nil
	}
	if err := w.root.MkdirAll(path.Dir(name), 0o755); err != nil {
		return err
	}
	if h.Typeflag != tar.TypeDir {
		if err := w.root.RemoveAll(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	switch h.Typeflag {
	case tar.TypeDir:
		if err := w.root.MkdirAll(name, 0o755); err != nil {
			return err
		}
		hc := *h
		hc.Name = name
		w.dirs = append(w.dirs, &hc)
		return w.attrs(name, h)
	case tar.TypeReg:
		if err := w.file(name, h, r); err != nil {
			return err
		}
		return w.attrs(name, h)
	case tar.TypeSymlink:
		if err := w.root.Symlink(h.Linkname, name); err != nil {
			return err
		}
		if w.owners {
			return w.root.Lchown(name, h.Uid, h.Gid)
		}
		return nil
	case tar.TypeLink:
		target, ok := cleanName(h.Linkname)
		if !ok {
			return fmt.Errorf("refusing hard link outside the image root")
		}
		return w.root.Link(target, name)
	}
	return nil // devices and fifos are skipped
}

func (w *fsWriter) file(name string, h *tar.Header, r io.Reader) error {
	f, err := w.root.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (w *fsWriter) attrs(name string, h *tar.Header) error {
	if w.owners {
		if err := w.root.Lchown(name, h.Uid, h.Gid); err != nil {
			return err
		}
	}
	if err := w.root.Chmod(name, fs.FileMode(h.Mode)&fs.ModePerm|modeBits(h.Mode)); err != nil {
		return err
	}
	return w.root.Chtimes(name, time.Time{}, h.ModTime)
}

func (w *fsWriter) finish() error {
	for i := len(w.dirs) - 1; i >= 0; i-- {
		d := w.dirs[i]
		if err := w.root.Chtimes(d.Name, time.Time{}, d.ModTime); err != nil {
			return err
		}
	}
	return nil
}

// modeBits maps tar's setuid, setgid and sticky bits to fs.FileMode.
func modeBits(m int64) fs.FileMode {
	var out fs.FileMode
	if m&0o4000 != 0 {
		out |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		out |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		out |= fs.ModeSticky
	}
	return out
}

// cleanName makes a tar entry name relative to the root, refusing names
// that climb out of it.
func cleanName(n string) (string, bool) {
	if strings.Contains(n, "\x00") || slices.Contains(strings.Split(n, "/"), "..") {
		return "", false
	}
	c := strings.TrimPrefix(path.Clean("/"+n), "/")
	if c == "" {
		c = "."
	}
	return c, true
}

// Tar writes img's flattened filesystem as a tar file.
func Tar(ctx context.Context, img v1.Image, file string) error {
	err := writeAtomic(file, func(f *os.File) error { return WriteTar(ctx, img, f) })
	if err != nil {
		return fmt.Errorf("writing filesystem tar %s: %w", file, err)
	}
	return nil
}

// WriteTar writes img's flattened filesystem as a tar stream to w.
func WriteTar(ctx context.Context, img v1.Image, w io.Writer) error {
	rc := mutate.Extract(img)
	defer rc.Close()
	if _, err := io.Copy(&ctxWriter{ctx: ctx, w: w}, rc); err != nil {
		return fmt.Errorf("flattening image: %w", err)
	}
	return nil
}
