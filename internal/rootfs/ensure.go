package rootfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ensureDir makes the canonical directory p exist in layerDir: directories
// that exist in under are copied up with their metadata (as overlayfs does,
// so the layer tar is complete); missing ones are created with the Mkdir
// mode, owned by Chown (or root), as BuildKit's copy does.
func (c *copier) ensureDir(p string) error {
	if fi, err := os.Lstat(c.layerPath(p)); err == nil && fi.IsDir() {
		return nil // its parents are there too
	}
	cur := "/"
	for _, seg := range splitPath(p) {
		cur = path.Join(cur, seg)
		lp := c.layerPath(cur)
		if fi, err := os.Lstat(lp); err == nil {
			if fi.IsDir() {
				continue
			}
			return fmt.Errorf("cannot copy to non-directory: %s", cur)
		}
		h, err := c.view.find(cur)
		switch {
		case err == nil && h.fi.IsDir():
			if err := c.copyUp(lp, h.host); err != nil {
				return err
			}
		case err == nil:
			return fmt.Errorf("cannot copy to non-directory: %s", cur)
		case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
			if err := c.mkdirNew(lp); err != nil {
				return err
			}
			c.fresh[cur] = true
		default:
			return err
		}
	}
	return nil
}

// copyUp creates lp as a copy of the directory host's metadata.
func (c *copier) copyUp(lp, host string) error {
	var st unix.Stat_t
	if err := unix.Lstat(host, &st); err != nil {
		return &fs.PathError{Op: "lstat", Path: host, Err: err}
	}
	if err := os.Mkdir(lp, 0o700); err != nil {
		return err
	}
	if err := copyStat(lp, &st); err != nil {
		return err
	}
	if err := copyXattrs(host, lp); err != nil {
		return err
	}
	c.dirTimes = append(c.dirTimes, dirTime{host: lp, mtime: timespec(st.Mtim)})
	return nil
}

func copyStat(lp string, st *unix.Stat_t) error {
	if err := os.Lchown(lp, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	return unix.Fchmodat(unix.AT_FDCWD, lp, st.Mode&0o7777, 0)
}

func (c *copier) mkdirNew(lp string) error {
	if err := os.Mkdir(lp, 0o700); err != nil {
		return err
	}
	o := Owner{}
	if c.opts.Chown != nil {
		o = *c.opts.Chown
	}
	if err := os.Lchown(lp, o.UID, o.GID); err != nil {
		return err
	}
	if err := unix.Fchmodat(unix.AT_FDCWD, lp, unixMode(c.opts.Mkdir), 0); err != nil {
		return err
	}
	c.dirTimes = append(c.dirTimes, dirTime{host: lp, mtime: c.newTime})
	return nil
}

// copyUpRoot gives layerDir's root the owner and mode of under's root (or
// 0755 root for scratch): overlayfs shows the upper root's.
func (c *copier) copyUpRoot(under Stack) error {
	if len(under.Dirs) == 0 {
		if err := os.Lchown(c.layerDir, 0, 0); err != nil {
			return err
		}
		return os.Chmod(c.layerDir, 0o755)
	}
	var st unix.Stat_t
	if err := unix.Stat(under.Dirs[len(under.Dirs)-1], &st); err != nil {
		return fmt.Errorf("reading root of %s: %w", under.Dirs[len(under.Dirs)-1], err)
	}
	return copyStat(c.layerDir, &st)
}

func timespec(ts unix.Timespec) time.Time { return time.Unix(ts.Sec, ts.Nsec) }
