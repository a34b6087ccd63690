package examples_test

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// distrolessStatic is the final base of the Go example, in the bases
// registry.
const distrolessStatic = "distroless/static-debian12:nonroot"

// goMultiPlatform builds the Go example for linux/amd64 and linux/arm64
// into an OCI layout and checks the index: one image per platform, each
// config naming its platform, each server binary an ELF for its machine
// (cross-compiled on the build platform: nothing runs emulated). It needs
// the arm64 distroless stand-in, which scripts/bases.sh publishes where it
// can emulate arm64, and skips without it.
func goMultiPlatform(t *testing.T, s strata) {
	if err := hasPlatform(registry(), distrolessStatic, "arm64"); err != nil {
		t.Skipf("no arm64 %s stand-in in %s yet (scripts/bases.sh publishes one when it can emulate arm64): %v", distrolessStatic, registry(), err)
	}
	conf := filepath.Join(basesDir(), "registries.conf")
	if _, err := os.Stat(conf); err != nil {
		t.Skipf("no %s mapping gcr.io/distroless to %s (scripts/bases.sh writes it): %v", conf, registry(), err)
	}
	dir := filepath.Join(repoRoot(t), "examples", "go")
	out := filepath.Join(t.TempDir(), "oci")
	start := time.Now()
	cmd := s.cmd(t.Context(), "build", "--progress=plain", "--platform", "linux/amd64,linux/arm64",
		"--output", "type=oci,dest="+out, dir)
	cmd.Env = append(cmd.Env, "CONTAINERS_REGISTRIES_CONF="+conf)
	if log, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("strata build --platform linux/amd64,linux/arm64 examples/go: %v\n%s", err, tail(log, 40))
	}
	t.Logf("built examples/go for linux/amd64 and linux/arm64 in %s", time.Since(start).Round(100*time.Millisecond))
	imgs := platformImages(t, out)
	for _, want := range []struct {
		platform string
		machine  elf.Machine
	}{{"linux/amd64", elf.EM_X86_64}, {"linux/arm64", elf.EM_AARCH64}} {
		img, ok := imgs[want.platform]
		if !ok {
			t.Errorf("index has no %s image; it has %v", want.platform, keys(imgs))
			continue
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if got := cf.OS + "/" + cf.Architecture; got != want.platform {
			t.Errorf("%s image config platform = %s", want.platform, got)
		}
		bin := fileIn(t, img, "usr/local/bin/server")
		f, err := elf.NewFile(bytes.NewReader(bin))
		if err != nil {
			t.Errorf("%s /usr/local/bin/server is not an ELF: %v", want.platform, err)
			continue
		}
		if f.Machine != want.machine {
			t.Errorf("%s /usr/local/bin/server is an ELF for %v, want %v", want.platform, f.Machine, want.machine)
		}
	}
}

// basesDir is where scripts/bases.sh keeps its state.
func basesDir() string {
	if d := os.Getenv("BASES_DIR"); d != "" {
		return d
	}
	return "/var/tmp/strata-bases"
}

// hasPlatform checks that ref in reg is an index with an entry for arch
// (linux).
func hasPlatform(reg, ref, arch string) error {
	repo, tag, _ := strings.Cut(ref, ":")
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://%s/v2/%s/manifests/%s", reg, repo, tag), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json")
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %s", resp.Status)
	}
	var idx v1.IndexManifest
	if err := json.NewDecoder(resp.Body).Decode(&idx); err != nil {
		return fmt.Errorf("decoding manifest: %w", err)
	}
	for _, d := range idx.Manifests {
		if d.Platform != nil && d.Platform.OS == "linux" && d.Platform.Architecture == arch {
			return nil
		}
	}
	return fmt.Errorf("%s is not an index with linux/%s", ref, arch)
}

// platformImages are the images of the multi-platform OCI layout at dir by
// "os/arch": its index.json names one image index, the build's.
func platformImages(t *testing.T, dir string) map[string]v1.Image {
	t.Helper()
	lp, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 || !m.Manifests[0].MediaType.IsIndex() {
		t.Fatalf("OCI layout index.json = %+v, want one image index", m.Manifests)
	}
	if idx, err = idx.ImageIndex(m.Manifests[0].Digest); err != nil {
		t.Fatal(err)
	}
	if m, err = idx.IndexManifest(); err != nil {
		t.Fatal(err)
	}
	out := map[string]v1.Image{}
	for _, d := range m.Manifests {
		if d.Platform == nil {
			t.Errorf("index entry %s has no platform", d.Digest)
			continue
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		out[d.Platform.OS+"/"+d.Platform.Architecture] = img
	}
	return out
}

// fileIn is the content of name (no leading slash) in img's filesystem.
func fileIn(t *testing.T, img v1.Image, name string) []byte {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatalf("image has no /%s", name)
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimPrefix(h.Name, "./") == name || strings.TrimPrefix(h.Name, "/") == name {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
}

func keys(m map[string]v1.Image) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
