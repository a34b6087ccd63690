package sandbox

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// victim is a host dir a step points a symlink at: empty files and dirs
// named like the stubs, which a cleanup that follows the link would
// remove (or give the base's times).
type victim struct {
	dir   string
	files []string // relative, dirs end in "/"
}

func newVictim(t *testing.T, files ...string) victim {
	t.Helper()
	v := victim{dir: filepath.Join(t.TempDir(), "victim"), files: files}
	for _, f := range files {
		p := filepath.Join(v.dir, f)
		var err error
		if strings.HasSuffix(f, "/") {
			err = os.MkdirAll(p, 0o755)
		} else if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
			err = os.WriteFile(p, nil, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return v
}

// state lists every entry under the victim with its mode and mtime.
func (v victim) state(t *testing.T) string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(v.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		rel, _ := filepath.Rel(v.dir, p)
		out = append(out, fmt.Sprintf("%s %o %d.%09d", rel, st.Mode, st.Mtim.Sec, st.Mtim.Nsec))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(out, "\n")
}

// TestSymlinkSwapStaysInLayer has a step replace dirs above its mount
// points, and a dir of a lower layer, with absolute symlinks to a host
// dir. Neither the stub cleanup after the step nor the copy fallback's
// diff may touch that dir.
func TestSymlinkSwapStaysInLayer(t *testing.T) {
	extra := filepath.Join(t.TempDir(), "layer")
	if err := os.MkdirAll(filepath.Join(extra, "opt/d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(extra, "opt/d/f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			v := newVictim(t, "run/secrets/s", "home/app/x/y/", "etc/hosts", "etc/resolv.conf", "etc/hostname", "opt/d/")
			before := v.state(t)
			// Overlayfs refuses to rename dirs of a lower layer (EXDEV),
			// so there only dirs the sandbox made (run, home/app/x) can
			// be swapped; on the copied root the step swaps the touched
			// dirs above them too, and opt, whose opt/d/f the diff then
			// finds deleted.
			swap := []string{"/run", "/home/app/x"}
			if b.name == "builtin-copy" || b.name == "chroot" {
				swap = []string{"/run", "/home", "/etc", "/opt"}
			}
			var script []string
			for _, d := range swap {
				script = append(script, fmt.Sprintf("mv %s %s.old && ln -s %s %s", d, d, v.dir+d, d))
			}
			r := runStep(t, b, t.Context(), strings.Join(script, " && "), func(s *Step) {
				secret := filepath.Join(filepath.Dir(s.Upper), "secret")
				if err := os.WriteFile(secret, []byte("shh\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				s.Lower = append(s.Lower, extra)
				s.Spec.Mounts = []specs.Mount{
					{Destination: "/run/secrets/s", Type: "bind", Source: secret, Options: []string{"rbind", "ro"}},
					{Destination: "/home/app/x/y", Type: "tmpfs", Source: "tmpfs"},
				}
			})
			checkCode(t, r.err, 0, r.stderr)
			if after := v.state(t); after != before {
				t.Errorf("victim after the step:\n%s\nwant:\n%s", after, before)
			}
			for _, d := range swap {
				if l, err := os.Readlink(filepath.Join(r.upper, d)); err != nil || l != v.dir+d {
					t.Errorf("%s in upper = %q, %v; want the step's symlink", d, l, err)
				}
			}
		})
	}
}

// TestCleanTree runs the cleanup on a crafted upper dir whose stubs sit
// behind symlinks (absolute, relative, and a forged ".." path), with and
// without openat2: real stubs go, the victim stays.
func TestCleanTree(t *testing.T) {
	opens := map[string]openatFunc{"openat2": openBeneath, "by component": openByComponent}
	for name, open := range opens {
		t.Run(name, func(t *testing.T) {
			v := newVictim(t, "run/secrets/s", "etc/hosts", "usr/bin/", "rel/x/", "dotdot", "sys/")
			upper := filepath.Join(filepath.Dir(v.dir), "upper")
			for _, d := range []string{"proc", "var/lib/stub", "real"} {
				if err := os.MkdirAll(filepath.Join(upper, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(upper, "real/file"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			links := map[string]string{
				"run": v.dir + "/run", "etc": v.dir + "/etc", "usr": v.dir + "/usr",
				"opt": "../victim/rel", "sys": v.dir + "/sys",
			}
			for l, target := range links {
				if err := os.Symlink(target, filepath.Join(upper, l)); err != nil {
					t.Fatal(err)
				}
			}
			meta := func(p string) dirMeta {
				var st unix.Stat_t
				if err := unix.Lstat(p, &st); err != nil {
					t.Fatal(err)
				}
				return dirMeta{Mode: st.Mode, UID: st.Uid, GID: st.Gid}
			}
			usrBin, varDir := meta(filepath.Join(v.dir, "usr/bin")), meta(filepath.Join(upper, "var"))
			usrBin.Path, varDir.Path = "usr/bin", "var"
			varLib := meta(filepath.Join(upper, "var/lib"))
			varLib.Path = "var/lib"
			st := &stubs{
				Created: []string{"proc", "run", "run/secrets", "run/secrets/s", "etc/hosts", "opt/x",
					"../victim/dotdot", "sys", "var/lib/stub", "real/file", "real"},
				Touched: []dirMeta{varDir, varLib, usrBin, {Path: "usr"}, {Path: "etc"}},
			}
			before := v.state(t)
			fd, err := unix.Open(upper, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			if err := st.cleanTree(&tree{fd: fd, open: open}); err != nil {
				t.Fatalf("cleanTree() = %v", err)
			}
			if after := v.state(t); after != before {
				t.Errorf("victim after cleanTree:\n%s\nwant:\n%s", after, before)
			}
			got, _ := os.ReadDir(upper)
			var names []string
			for _, e := range got {
				names = append(names, e.Name())
			}
			// proc, var/lib/stub and the then empty var/lib and var
			// are stubs; real holds real/file, not empty.
			want := []string{"etc", "opt", "real", "run", "sys", "usr"}
			if !slices.Equal(names, want) {
				t.Errorf("upper after cleanTree = %q, want %q", names, want)
			}
			if _, err := os.Lstat(filepath.Join(upper, "real/file")); err == nil {
				t.Errorf("real/file is still there, want it removed as an empty stub")
			}
		})
	}
}

// TestOpenBeneath checks both lookups refuse what leaves the tree.
func TestOpenBeneath(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"a/b", "out"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	root := filepath.Join(dir, "a")
	for l, target := range map[string]string{"abs": dir + "/out", "rel": "b", "b/up": "../../out"} {
		if err := os.Symlink(target, filepath.Join(root, l)); err != nil {
			t.Fatal(err)
		}
	}
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	cases := []struct {
		rel string
		ok  bool
	}{
		{".", true}, {"b", true}, {"./b/", true},
		{"abs", false}, {"rel", false}, {"b/up", false}, {"abs/x", false},
		{"..", false}, {"b/../..", false}, {"../out", false}, {dir + "/out", false},
		{"/proc/self/root", false}, {"missing", false},
	}
	for name, open := range map[string]openatFunc{"openat2": openBeneath, "by component": openByComponent} {
		for _, c := range cases {
			got, err := open(fd, c.rel, unix.O_PATH|unix.O_DIRECTORY)
			if err == nil {
				unix.Close(got)
			}
			if (err == nil) != c.ok {
				t.Errorf("%s(%q) = %v, want ok %v", name, c.rel, err, c.ok)
			}
		}
	}
}

// TestRuntimeMountPoints runs a step on a root with nothing but busybox
// (FROM scratch plus a static binary): /dev, /proc and /sys, which the
// sandbox has to make to mount on, stay in the layer as empty 0755
// directories, as BuildKit's runc leaves them; every other mount point
// (/etc/hosts, /etc/resolv.conf, /etc/hostname, the step's own mounts) goes.
func TestRuntimeMountPoints(t *testing.T) {
	bare := t.TempDir()
	body, err := os.ReadFile(filepath.Join(busyboxLower(t), "bin/busybox"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(bare, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bare, "bin/busybox"), body, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("busybox", filepath.Join(bare, "bin/sh")); err != nil {
		t.Fatal(err)
	}
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			r := runStep(t, b, t.Context(), "busybox echo ok", func(s *Step) {
				s.Lower = []string{bare}
				s.Spec.Mounts = []specs.Mount{{Destination: "/cache", Type: "tmpfs", Source: "tmpfs"}}
			})
			checkCode(t, r.err, 0, r.stderr)
			upperIs("dev/", "proc/", "sys/")(t, r)
			for _, d := range runtimeMountPoints() {
				var st unix.Stat_t
				if err := unix.Lstat(filepath.Join(r.upper, d), &st); err != nil || st.Mode != unix.S_IFDIR|0o755 || st.Uid != 0 || st.Gid != 0 {
					t.Errorf("%s in upper: mode %o owner %d:%d (%v); want an empty dir 0755 0:0", d, st.Mode, st.Uid, st.Gid, err)
				}
			}
		})
	}
}
