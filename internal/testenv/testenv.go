// Package testenv makes the base images strata's tests build on, locally:
// a busybox image from Debian's busybox-static (most tests) and a Debian
// bookworm image from debootstrap against the host's mirror (apt-get in RUN).
// Images are made once and cached on disk between test runs (under
// $STRATA_TEST_CACHE, default /var/tmp/strata-test), keyed by their inputs.
package testenv

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sys/unix"
)

// BusyboxPath is where Debian's busybox-static installs the binary.
const BusyboxPath = "/bin/busybox"

// CacheDir is the directory test images are cached in.
func CacheDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("STRATA_TEST_CACHE")
	if dir == "" {
		dir = "/var/tmp/strata-test"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("creating test cache: %v", err)
	}
	return dir
}

// RequireRoot skips t unless it runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

// BusyboxTar returns the path of a rootfs tar holding busybox-static with a
// symlink per applet in /bin, /etc/passwd, /etc/group (root, nobody, and a
// user "app" 1000:1000 with home /home/app) and /tmp. It skips t when
// busybox-static is not installed.
func BusyboxTar(t testing.TB) string {
	t.Helper()
	bin, err := os.ReadFile(BusyboxPath)
	if err != nil {
		t.Skipf("busybox-static not installed (apt-get install busybox-static): %v", err)
	}
	sum := sha256.Sum256(bin)
	path := filepath.Join(CacheDir(t), "busybox-"+hex.EncodeToString(sum[:8])+".tar")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	data, err := busyboxRootfs(bin)
	if err != nil {
		t.Fatalf("making busybox rootfs: %v", err)
	}
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatalf("writing busybox rootfs: %v", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatalf("writing busybox rootfs: %v", err)
	}
	return path
}

// BusyboxImage returns a one-layer busybox image (uncompressed layer from
// BusyboxTar, config with PATH and Cmd ["sh"], created at the epoch).
func BusyboxImage(t testing.TB) v1.Image {
	t.Helper()
	path := BusyboxTar(t)
	l, err := tarball.LayerFromFile(path, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatalf("reading busybox layer: %v", err)
	}
	img, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1), mutate.Addendum{Layer: plainLayer{l}, MediaType: types.OCILayer})
	if err != nil {
		t.Fatalf("making busybox image: %v", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatalf("making busybox image: %v", err)
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = "amd64", "linux"
	cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cf.Config.Cmd = []string{"sh"}
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	img, err = mutate.ConfigFile(mutate.ConfigMediaType(img, types.OCIConfigJSON), cf)
	if err != nil {
		t.Fatalf("making busybox image: %v", err)
	}
	return img
}

func busyboxRootfs(bin []byte) ([]byte, error) {
	applets, err := busyboxApplets(BusyboxPath)
	if err != nil {
		return nil, err
	}
	return busyboxRootfsOf(bin, applets)
}

// busyboxApplets runs busybox --list.
func busyboxApplets(busybox string) ([]string, error) {
	out, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("listing busybox applets: %w", err)
	}
	applets := strings.Fields(string(out))
	sort.Strings(applets)
	return applets, nil
}

// busyboxRootfsOf makes the rootfs tar of BusyboxTar from a busybox binary
// and its applets.
func busyboxRootfsOf(bin []byte, applets []string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	add := func(h *tar.Header, body []byte) error {
		h.ModTime = epoch
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(body)
		return err
	}
	dir := func(name string, mode int64) error {
		return add(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode}, nil)
	}
	file := func(name string, mode int64, body string) error {
		return add(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(body))}, []byte(body))
	}
	steps := []func() error{
		func() error { return dir("bin/", 0o755) },
		func() error {
			return add(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755, Size: int64(len(bin))}, bin)
		},
	}
	for _, a := range applets {
		if a == "busybox" {
			continue
		}
		steps = append(steps, func() error {
			return add(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777}, nil)
		})
	}
	steps = append(steps,
		func() error { return dir("etc/", 0o755) },
		func() error {
			return file("etc/group", 0o644, "root:x:0:\ndaemon:x:1:\nwheel:x:10:root\nstaff:x:50:app\napp:x:1000:\nnogroup:x:65534:\n")
		},
		func() error {
			return file("etc/passwd", 0o644, "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
		},
		func() error { return dir("home/", 0o755) },
		func() error {
			return add(&tar.Header{Typeflag: tar.TypeDir, Name: "home/app/", Mode: 0o755, Uid: 1000, Gid: 1000}, nil)
		},
		func() error { return dir("root/", 0o700) },
		func() error { return dir("tmp/", 0o1777) },
		func() error { return dir("usr/", 0o755) },
		func() error { return dir("usr/bin/", 0o755) },
		func() error { return dir("var/", 0o755) },
	)
	for _, s := range steps {
		if err := s(); err != nil {
			return nil, fmt.Errorf("writing busybox rootfs tar: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("writing busybox rootfs tar: %w", err)
	}
	return buf.Bytes(), nil
}

// plainLayer hides the tarball layer's Descriptor method, whose empty
// annotation map does not survive a manifest round trip.
type plainLayer struct{ v1.Layer }

// NodevTmpfs mounts a nodev tmpfs for t's lifetime, outside t's temp dirs
// (which tests watch for leftover mounts), and returns its path: chroot
// mode refuses scratch dirs where device nodes could be opened. It skips t
// when the mount is refused.
func NodevTmpfs(t testing.TB) string {
	t.Helper()
	RequireRoot(t)
	dir, err := os.MkdirTemp("", "strata-nodev-")
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NODEV, "size=1g,mode=0700"); err != nil {
		os.Remove(dir)
		t.Skipf("mounting a nodev tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
		os.Remove(dir)
	})
	return dir
}

// TarNames lists the entry names of the tar at path, without "./"
// prefixes.
func TarNames(t testing.TB, path string) map[string]bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names := map[string]bool{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names
		}
		if err != nil {
			t.Fatalf("reading %s: %v", path, err)
		}
		names[strings.TrimPrefix(h.Name, "./")] = true
	}
}
