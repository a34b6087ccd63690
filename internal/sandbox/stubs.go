package sandbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// maxSymlinks bounds symlink resolution inside a root, as the kernel does.
const maxSymlinks = 40

// resolveIn resolves p inside root the way the kernel would after a chroot
// to root: absolute symlinks and ".." never leave it. It returns the path
// relative to root ("." for the root); components past the first missing
// one are kept as they are.
func resolveIn(root, p string) (string, error) {
	rest := strings.Split(filepath.Clean("/"+p), "/")
	var cur []string
	links := 0
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(cur) > 0 {
				cur = cur[:len(cur)-1]
			}
			continue
		}
		next := append(slices.Clip(cur), c)
		fi, err := os.Lstat(filepath.Join(root, filepath.Join(next...)))
		if errors.Is(err, fs.ErrNotExist) {
			return filepath.Join(append(next, rest...)...), nil
		}
		if err != nil {
			return "", fmt.Errorf("resolving %s: %w", p, err)
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if links++; links > maxSymlinks {
			return "", fmt.Errorf("resolving %s: %w", p, syscall.ELOOP)
		}
		target, err := os.Readlink(filepath.Join(root, filepath.Join(next...)))
		if err != nil {
			return "", fmt.Errorf("resolving %s: %w", p, err)
		}
		if filepath.IsAbs(target) {
			cur = nil
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	if len(cur) == 0 {
		return ".", nil
	}
	return filepath.Join(cur...), nil
}

// dirMeta is what a directory looked like before a stub was made in it.
type dirMeta struct {
	Path     string
	Mode     uint32
	UID, GID uint32
}

// stubs records what the sandbox created in the root to have somewhere to
// mount: mount points that did not exist in the image. Paths are relative
// to the root. They are removed from the upper dir after the step, so they
// never reach a layer (BuildKit has the same problem; see its
// executor/stubs.go), but for the runtime's own (isRuntimeMountPoint).
type stubs struct {
	// Created are the files and dirs made, in creation order.
	Created []string `json:",omitempty"`
	// Touched are existing dirs a stub was made in, and their ancestors.
	Touched []dirMeta `json:",omitempty"`
	// Kept are runtime mount points made and left in place.
	Kept []string `json:",omitempty"`
}

// isRuntimeMountPoint reports whether rel (relative to the root) is a
// mount point every step has: proc, the /dev tmpfs, sysfs. Where the image
// lacks one it stays in the layer as an empty directory, as in BuildKit:
// runc makes them and its MountStubsCleaner removes only /etc/hosts,
// /etc/resolv.conf and the Dockerfile's mounts (executor/stubs.go).
func isRuntimeMountPoint(rel string) bool {
	return slices.Contains(runtimeMountPoints(), rel)
}

// runtimeMountPoints lists them.
func runtimeMountPoints() []string { return []string{"dev", "proc", "sys"} }

// ensure makes sure the mount point for dest exists inside root (a dir, or
// an empty file when file is true), recording what it creates, and returns
// the resolved host path to mount on.
//
// It works on joined host paths, unlike the cleanup, and that is safe:
// resolveIn resolved every symlink on the way inside root, and ensure runs
// before the step's process exists (in the builtin init's own mount
// namespace, or on the host for runc before the container starts), so
// nothing can swap a resolved dir for a symlink in between. The same
// holds for inRoot and mkdirIn.
func (s *stubs) ensure(root, dest string, file bool) (string, error) {
	rel, err := resolveIn(root, dest)
	if err != nil {
		return "", err
	}
	if rel == "." {
		return root, nil
	}
	parts := strings.Split(rel, "/")
	for i := range parts {
		p := filepath.Join(parts[:i+1]...)
		host := filepath.Join(root, p)
		fi, err := os.Lstat(host)
		if err == nil {
			if i < len(parts)-1 && !fi.IsDir() {
				return "", fmt.Errorf("making mount point %s: %s is not a directory", dest, p)
			}
			continue
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("making mount point %s: %w", dest, err)
		}
		if err := s.touch(root, filepath.Dir(p)); err != nil {
			return "", err
		}
		if err := create(host, file && i == len(parts)-1); err != nil {
			return "", fmt.Errorf("making mount point %s: %w", dest, err)
		}
		if isRuntimeMountPoint(p) {
			s.Kept = append(s.Kept, p)
		} else {
			s.Created = append(s.Created, p)
		}
	}
	return filepath.Join(root, rel), nil
}

// touch records dir and its ancestors (not the root) before the first
// stub is made in it.
func (s *stubs) touch(root, dir string) error {
	for ; dir != "." && dir != "/"; dir = filepath.Dir(dir) {
		if slices.ContainsFunc(s.Touched, func(m dirMeta) bool { return m.Path == dir }) ||
			slices.Contains(s.Created, dir) || slices.Contains(s.Kept, dir) {
			continue
		}
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(root, dir), &st); err != nil {
			return fmt.Errorf("inspecting %s: %w", dir, err)
		}
		s.Touched = append(s.Touched, dirMeta{Path: dir, Mode: st.Mode, UID: st.Uid, GID: st.Gid})
	}
	return nil
}

func create(path string, file bool) error {
	if !file {
		return os.Mkdir(path, 0o755)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

// clean removes the stubs from upper, an overlay upper dir that is no
// longer mounted: stubs still empty, then touched dirs that were only
// copied up to hold them (empty, not opaque, mode and owner unchanged).
// The step may have replaced any of them, or a dir above them, by a
// symlink to a host path: every lookup goes through a tree, so such a
// stub is skipped, never followed.
func (s *stubs) clean(upper string) error {
	if s == nil {
		return nil
	}
	t, err := openTree(upper)
	if err != nil {
		return fmt.Errorf("removing mount stubs: %w", err)
	}
	defer t.Close()
	return s.cleanTree(t)
}

func (s *stubs) cleanTree(t *tree) error {
	var errs []error
	for _, p := range slices.Backward(s.Created) {
		errs = append(errs, t.removeEmpty(p))
	}
	touched := slices.Clone(s.Touched)
	slices.SortFunc(touched, func(a, b dirMeta) int {
		return strings.Count(b.Path, "/") - strings.Count(a.Path, "/")
	})
	for _, m := range touched {
		errs = append(errs, t.removeCopiedUp(m))
	}
	return errors.Join(errs...)
}
