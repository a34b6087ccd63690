package userns

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/strata-build/strata/internal/testenv"
)

// platformDockerfile makes each platform's root from its own busybox tar,
// then runs a step there: emulated for arm64.
const platformDockerfile = `FROM scratch
ARG TARGETARCH
ADD rootfs-${TARGETARCH}.tar /
RUN uname -m > /m && chown 4242 /m
`

// TestEmulatedRunRootless: an ordinary user builds a two-platform image
// whose arm64 step runs under QEMU (the host's binfmt_misc handler serves
// the user's namespaces), to the same index digest as root.
func TestEmulatedRunRootless(t *testing.T) {
	u := ensureUser(t, "strata-rootless", true)
	bin := strataBinary(t)
	work := sharedDir(t)
	ctx := filepath.Join(work, "ctx")
	if err := os.Mkdir(ctx, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(platformDockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	copyFile(t, testenv.BusyboxTar(t), filepath.Join(ctx, "rootfs-amd64.tar"))
	writeRootfs(t, filepath.Join(ctx, "rootfs-arm64.tar"), "linux/arm64")
	ids := map[string]string{}
	for _, who := range []struct {
		name string
		user *testUser
	}{{"root", nil}, {"user", &u}} {
		r := runner{t: t, bin: bin, user: who.user, env: []string{"STRATA_ROOT=" + filepath.Join(work, "store-"+who.name)}}
		iid := filepath.Join(work, who.name+".iid")
		r.must(ctx, "build", "--progress=quiet", "--platform", "linux/amd64,linux/arm64", "-t", "multi:1", "--iidfile", iid, ".")
		b, err := os.ReadFile(iid)
		if err != nil {
			t.Fatal(err)
		}
		ids[who.name] = strings.TrimSpace(string(b))
		if who.user == nil {
			continue
		}
		out := filepath.Join(work, "arm64.tar")
		r.must(ctx, "build", "--progress=quiet", "--platform", "linux/arm64", "-o", "type=tar,dest="+out, ".")
		if got := tarFile(t, out, "m"); got != "aarch64\n" {
			t.Errorf("as %s, the arm64 step's uname -m = %q, want aarch64", who.name, got)
		}
	}
	if ids["root"] == "" || ids["root"] != ids["user"] {
		t.Errorf("two-platform index as root = %s, as an ordinary user = %s; want one digest", ids["root"], ids["user"])
	}
}

// writeRootfs writes the filesystem of testenv's busybox for platform as a tar.
func writeRootfs(t *testing.T, path, platform string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rc := mutate.Extract(testenv.BusyboxImageFor(t, platform))
	defer rc.Close()
	if _, err := io.Copy(f, rc); err != nil {
		t.Fatal(err)
	}
	if err := f.Chmod(0o644); err != nil {
		t.Fatal(err)
	}
}

// tarFile is the content of name in the tar at path.
func tarFile(t *testing.T, path, name string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s not in %s: %v", name, path, err)
		}
		if strings.TrimPrefix(h.Name, "./") == name {
			b, _ := io.ReadAll(tr)
			return string(b)
		}
	}
}
