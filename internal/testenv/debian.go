package testenv

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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

// DebianSuite is the Debian release DebianTar bootstraps.
const DebianSuite = "bookworm"

// debianRecipe is the version of the recipe below (debootstrap options,
// slimming, apt configuration). Bump it whenever the recipe changes, so that
// cached tars made by an older recipe are rebuilt.
const debianRecipe = 1

// debianSources is the source list we read the host's mirrors from.
const debianSources = "/etc/apt/sources.list.d/debian.sources"

// DebianTar returns the path of a Debian bookworm rootfs tar made with
// `debootstrap --variant=minbase` from the mirror the host's apt uses, then
// slimmed like the official -slim images (no apt lists, no docs, man pages or
// locales). apt in the image ignores Valid-Until: the mirror may be a dated
// snapshot. The tar is cached under CacheDir, keyed by suite, mirrors and the
// recipe version, and made once: a concurrent test process waits on a lock.
// It skips t unless debootstrap is installed and the test runs as root.
func DebianTar(t testing.TB) string {
	t.Helper()
	return debianTar(t, "")
}

// debianTar is DebianTar for the Debian architecture debArch ("" for the
// host's).
func debianTar(t testing.TB, debArch string) string {
	t.Helper()
	if _, err := exec.LookPath("debootstrap"); err != nil {
		t.Skipf("debootstrap not installed (apt-get install debootstrap): %v", err)
	}
	RequireRoot(t)
	mirror, security := aptMirrors(debianSources)
	key := fmt.Sprintf("recipe=%d suite=%s mirror=%s security=%s", debianRecipe, DebianSuite, mirror, security)
	name := "debian-" + DebianSuite
	if debArch != "" {
		key += " arch=" + debArch
		name += "-" + debArch
	}
	sum := sha256.Sum256([]byte(key))
	path := filepath.Join(CacheDir(t), name+"-"+hex.EncodeToString(sum[:8])+".tar")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	unlock, err := lockFile(path + ".lock")
	if err != nil {
		t.Fatalf("making debian rootfs: %v", err)
	}
	defer unlock()
	if _, err := os.Stat(path); err == nil {
		return path // made by another process while we waited
	}
	// Holding the lock, any work dir left is from a process that died.
	work := "debian-build-host-"
	if debArch != "" {
		work = "debian-build-" + debArch + "-"
	}
	if old, _ := filepath.Glob(filepath.Join(filepath.Dir(path), work+"*")); len(old) > 0 {
		for _, dir := range old {
			os.RemoveAll(dir)
		}
	}
	start := time.Now()
	if err := makeDebianTar(path, work, mirror, security, debArch); err != nil {
		t.Fatalf("making debian rootfs: %v", err)
	}
	t.Logf("made %s in %v (debootstrap %s %s from %s)", path, time.Since(start).Round(time.Second), DebianSuite, debArch, mirror)
	return path
}

// DebianImage returns a one-layer Debian image (uncompressed layer from
// DebianTar, config with PATH and Cmd ["bash"], created at the epoch).
func DebianImage(t testing.TB) v1.Image {
	t.Helper()
	return rootfsImage(t, DebianTar(t), "bash")
}

// rootfsImage makes a one-layer linux/amd64 image from a rootfs tar.
func rootfsImage(t testing.TB, path, cmd string) v1.Image {
	t.Helper()
	return rootfsImageFor(t, path, cmd, v1.Platform{OS: "linux", Architecture: "amd64"})
}

// rootfsImageFor makes a one-layer image for p from a rootfs tar.
func rootfsImageFor(t testing.TB, path, cmd string, p v1.Platform) v1.Image {
	t.Helper()
	l, err := tarball.LayerFromFile(path, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatalf("reading layer %s: %v", path, err)
	}
	img, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1), mutate.Addendum{Layer: plainLayer{l}, MediaType: types.OCILayer})
	if err != nil {
		t.Fatalf("making image from %s: %v", path, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatalf("making image from %s: %v", path, err)
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS, cf.Variant = p.Architecture, p.OS, p.Variant
	cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cf.Config.Cmd = []string{cmd}
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	img, err = mutate.ConfigFile(mutate.ConfigMediaType(img, types.OCIConfigJSON), cf)
	if err != nil {
		t.Fatalf("making image from %s: %v", path, err)
	}
	return img
}

// aptMirrors returns the host's Debian mirror and security mirror from a
// deb822 sources file, defaulting to deb.debian.org.
func aptMirrors(sources string) (mirror, security string) {
	if f, err := os.Open(sources); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
			if !ok || k != "URIs" {
				continue
			}
			for _, u := range strings.Fields(v) {
				switch {
				case strings.Contains(u, "-security"):
					if security == "" {
						security = u
					}
				case mirror == "":
					mirror = u
				}
			}
		}
	}
	if mirror == "" {
		mirror = "http://deb.debian.org/debian"
	}
	if security == "" {
		security = strings.TrimSuffix(mirror, "/debian") + "/debian-security"
	}
	return mirror, security
}

// lockFile takes an exclusive flock on path, blocking until it is free.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// makeDebianTar bootstraps, slims and tars a rootfs for debArch ("" for
// the host's) to path, atomically, working in a dir named work*.
func makeDebianTar(path, work, mirror, security, debArch string) error {
	work, err := os.MkdirTemp(filepath.Dir(path), work)
	if err != nil {
		return fmt.Errorf("creating work dir: %w", err)
	}
	defer os.RemoveAll(work)
	root := filepath.Join(work, "rootfs")
	args := []string{"--variant=minbase"}
	if debArch != "" {
		args = append(args, "--arch="+debArch)
	}
	out, err := exec.Command("debootstrap", append(args, DebianSuite, root, mirror)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("running debootstrap: %w\n%s", err, tail(out, 20))
	}
	if err := slimDebian(root, mirror, security); err != nil {
		return err
	}
	tmp := filepath.Join(work, "rootfs.tar")
	out, err = exec.Command("tar", "-C", root, "--numeric-owner", "--xattrs", "--sort=name",
		"--exclude=./dev/*", "--exclude=./proc/*", "--exclude=./sys/*", "-cf", tmp, ".").CombinedOutput()
	if err != nil {
		return fmt.Errorf("taring rootfs: %w\n%s", err, tail(out, 20))
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("storing rootfs tar: %w", err)
	}
	return nil
}

// debianConfig are files written into the rootfs, as the official -slim
// images (debuerreotype) and peers/bases.sh do.
func debianConfig(mirror, security string) map[string]string {
	return map[string]string{
		"etc/dpkg/dpkg.cfg.d/docker-slim": "path-exclude /usr/share/doc/*\npath-include /usr/share/doc/*/copyright\n" +
			"path-exclude /usr/share/man/*\npath-exclude /usr/share/groff/*\npath-exclude /usr/share/info/*\n" +
			"path-exclude /usr/share/locale/*\npath-include /usr/share/locale/locale.alias\n" +
			"path-exclude /usr/share/lintian/*\npath-exclude /usr/share/linda/*\n",
		"etc/dpkg/dpkg.cfg.d/docker-apt-speedup": "force-unsafe-io\n",
		"etc/apt/apt.conf.d/docker-clean": "DPkg::Post-Invoke { \"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true\"; };\n" +
			"APT::Update::Post-Invoke { \"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true\"; };\n" +
			"Dir::Cache::pkgcache \"\";\nDir::Cache::srcpkgcache \"\";\n",
		"etc/apt/apt.conf.d/docker-gzip-indexes":    "Acquire::GzipIndexes \"true\";\n",
		"etc/apt/apt.conf.d/docker-no-languages":    "Acquire::Languages \"none\";\n",
		"etc/apt/apt.conf.d/99no-check-valid-until": "Acquire::Check-Valid-Until \"false\";\nAcquire::Check-Date \"false\";\n",
		"etc/apt/sources.list.d/debian.sources": fmt.Sprintf("Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\n"+
			"Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"+
			"Types: deb\nURIs: %s\nSuites: %s-security\nComponents: main\n"+
			"Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n", mirror, DebianSuite, DebianSuite, security, DebianSuite),
	}
}

// slimScript removes what the -slim images leave out; it runs in the rootfs.
const slimScript = `set -e
rm -f etc/apt/sources.list
find usr/share/doc -mindepth 1 -not -type d -not -name copyright -delete
find usr/share/doc -mindepth 1 -type d -empty -delete
rm -rf usr/share/man/* usr/share/groff/* usr/share/info/* usr/share/lintian/* usr/share/linda/*
find usr/share/locale -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
rm -rf var/cache/apt/archives/*.deb var/cache/apt/*.bin var/lib/apt/lists/* var/log/apt/* var/cache/debconf/*-old
find var/log -type f -name '*.log' -delete
`

func slimDebian(root, mirror, security string) error {
	for name, body := range debianConfig(mirror, security) {
		if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o644); err != nil {
			return fmt.Errorf("slimming rootfs: %w", err)
		}
	}
	cmd := exec.Command("sh", "-c", slimScript)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("slimming rootfs: %w\n%s", err, out)
	}
	return nil
}

// tail returns the last n lines of out.
func tail(out []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
