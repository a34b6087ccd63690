package testenv

import (
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
	"github.com/strata-build/strata/internal/emulate"
)

// Images for a platform other than the host's use the same recipes with
// Debian's packages for that architecture: apt must know the architecture
// (dpkg --add-architecture arm64 && apt-get update, as scripts/setup.sh
// does), and running the image's binaries needs QEMU user emulation
// (internal/emulate), which the helpers check but never set up.

// debPlatform is a platform and Debian's name for its architecture.
type debPlatform struct {
	platform v1.Platform
	arch     string
}

// debPlatformFor parses platform ("linux/arm64") into the platform the
// image config carries and Debian's architecture.
func debPlatformFor(t testing.TB, platform string) debPlatform {
	t.Helper()
	p, err := v1.ParsePlatform(platform)
	if err != nil {
		t.Fatalf("parsing platform %q: %v", platform, err)
	}
	table := []debPlatform{
		{v1.Platform{OS: "linux", Architecture: "amd64"}, "amd64"},
		// Official images carry variant v8 for arm64, in the index and the config.
		{v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, "arm64"},
		{v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, "armhf"},
		{v1.Platform{OS: "linux", Architecture: "ppc64le"}, "ppc64el"},
		{v1.Platform{OS: "linux", Architecture: "s390x"}, "s390x"},
	}
	for _, d := range table {
		if p.OS == d.platform.OS && p.Architecture == d.platform.Architecture &&
			(p.Variant == "" || p.Variant == d.platform.Variant) {
			return d
		}
	}
	t.Fatalf("no Debian architecture for platform %s", platform)
	return debPlatform{}
}

// BusyboxImageFor is BusyboxImage for platform ("linux/amd64",
// "linux/arm64"): for the host's it is BusyboxImage, for another the same
// rootfs with Debian's busybox-static for that architecture, its config
// naming the platform (arm64 with variant v8, as official images do). It
// skips t when apt does not know the package.
func BusyboxImageFor(t testing.TB, platform string) v1.Image {
	t.Helper()
	d := debPlatformFor(t, platform)
	if d.arch == "amd64" {
		return BusyboxImage(t)
	}
	return rootfsImageFor(t, busyboxTarFor(t, d), "sh", d.platform)
}

// BusyboxBinaryFor returns the path of busybox-static for platform: for
// the host's BusyboxPath, for another a cached copy of the binary from
// Debian's package for that architecture. It skips t when apt does not
// know the package.
func BusyboxBinaryFor(t testing.TB, platform string) string {
	t.Helper()
	d := debPlatformFor(t, platform)
	if d.arch == "amd64" {
		if _, err := os.Stat(BusyboxPath); err != nil {
			t.Skipf("busybox-static not installed (apt-get install busybox-static): %v", err)
		}
		return BusyboxPath
	}
	return busyboxBinary(t, d.arch)
}

// busyboxTarFor is BusyboxTar for a foreign architecture, cached under
// CacheDir keyed by the binary. The applets are listed by running the
// binary under emulation, or, where it cannot run, by the host's
// busybox-static of the same Debian version (its build config is the
// same on every architecture).
func busyboxTarFor(t testing.TB, d debPlatform) string {
	t.Helper()
	binPath := busyboxBinary(t, d.arch)
	bin, err := os.ReadFile(binPath)
	if err != nil {
		t.Fatalf("reading busybox: %v", err)
	}
	sum := sha256.Sum256(bin)
	path := filepath.Join(CacheDir(t), "busybox-"+d.arch+"-"+hex.EncodeToString(sum[:8])+".tar")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	applets, err := busyboxApplets(binPath)
	if err != nil {
		if debVersion(t, "busybox-static:"+d.arch) != debVersion(t, "busybox-static") {
			t.Skipf("cannot list the applets of busybox-static:%s (%v): %v", d.arch, err, emulate.Check(d.platform))
		}
		if applets, err = busyboxApplets(BusyboxPath); err != nil {
			t.Fatalf("making busybox rootfs: %v", err)
		}
	}
	data, err := busyboxRootfsOf(bin, applets)
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

// aptLists is where apt keeps its package lists.
const aptLists = "/var/lib/apt/lists"

// debVersion returns the candidate version apt has of pkg, or "".
func debVersion(t testing.TB, pkg string) string {
	t.Helper()
	out, err := exec.Command("apt-cache", "show", "--no-all-versions", pkg).Output()
	if err != nil {
		return ""
	}
	return debField(out, "Version")
}

// debField returns the first value of field in apt-cache show's output.
func debField(out []byte, field string) string {
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, field+": "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// busyboxBinary returns the path of the busybox binary of Debian's
// busybox-static for debArch, fetched with apt-get download once and
// cached under CacheDir keyed by apt's package lists for debArch (asking
// apt-cache for the package's sha256 takes a second on a host whose apt
// keeps no package cache, as Docker images do).
func busyboxBinary(t testing.TB, debArch string) string {
	t.Helper()
	pkg := "busybox-static:" + debArch
	lists, _ := filepath.Glob(filepath.Join(aptLists, "*_binary-"+debArch+"_Packages*"))
	if len(lists) == 0 {
		t.Skipf("apt has no package lists for %s (as root: dpkg --add-architecture %s && apt-get update)", debArch, debArch)
	}
	h := sha256.New()
	for _, l := range lists {
		fi, err := os.Stat(l)
		if err != nil {
			t.Fatalf("fetching %s: %v", pkg, err)
		}
		fmt.Fprintf(h, "%s %d %d\n", filepath.Base(l), fi.Size(), fi.ModTime().UnixNano())
	}
	path := filepath.Join(CacheDir(t), "busybox-static-"+debArch+"-"+hex.EncodeToString(h.Sum(nil)[:8]))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	start := time.Now()
	work, err := os.MkdirTemp(CacheDir(t), "busybox-fetch-")
	if err != nil {
		t.Fatalf("fetching %s: %v", pkg, err)
	}
	defer os.RemoveAll(work)
	// As root apt-get download warns that it cannot drop to _apt in a
	// private dir; it is harmless.
	cmd := exec.Command("apt-get", "download", "-q", pkg)
	cmd.Dir = work
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("fetching %s (apt-get download): %v\n%s", pkg, err, tail(out, 10))
	}
	debs, _ := filepath.Glob(filepath.Join(work, "*.deb"))
	if len(debs) != 1 {
		t.Fatalf("fetching %s: apt-get download left %d .deb files", pkg, len(debs))
	}
	if out, err := exec.Command("dpkg-deb", "-x", debs[0], filepath.Join(work, "x")).CombinedOutput(); err != nil {
		t.Fatalf("extracting %s: %v\n%s", debs[0], err, out)
	}
	tmp := filepath.Join(work, "busybox")
	if err := os.Rename(filepath.Join(work, "x", "bin", "busybox"), tmp); err != nil {
		t.Fatalf("extracting %s: %v", debs[0], err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatalf("storing busybox: %v", err)
	}
	t.Logf("fetched %s in %v", pkg, time.Since(start).Round(time.Millisecond))
	return path
}

// DebianTarFor is DebianTar for platform ("linux/amd64", "linux/arm64"):
// for the host's it is DebianTar, for another a tree debootstrapped with
// --arch, whose second stage runs under QEMU emulation. It skips t when
// the host cannot run the platform's binaries (see internal/emulate).
func DebianTarFor(t testing.TB, platform string) string {
	t.Helper()
	d := debPlatformFor(t, platform)
	if d.arch == "amd64" {
		return DebianTar(t)
	}
	if err := emulate.Check(d.platform); err != nil {
		t.Skipf("debootstrapping %s: %v", platform, err)
	}
	return debianTar(t, d.arch)
}

// DebianImageFor is DebianImage for platform: a one-layer image of
// DebianTarFor with the platform in its config.
func DebianImageFor(t testing.TB, platform string) v1.Image {
	t.Helper()
	d := debPlatformFor(t, platform)
	if d.arch == "amd64" {
		return DebianImage(t)
	}
	return rootfsImageFor(t, DebianTarFor(t, platform), "bash", d.platform)
}
