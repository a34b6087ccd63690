package cli

import (
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TestMultiPlatformSkopeo: skopeo reads the OCI layout of a two-platform
// build as an index, picks each platform, and copies the whole index to a
// registry, from which strata pulls each platform back.
func TestMultiPlatformSkopeo(t *testing.T) {
	skopeo, err := exec.LookPath("skopeo")
	if err != nil {
		t.Skip("skopeo not installed (scripts/setup.sh installs it)")
	}
	out := t.TempDir()
	oci := filepath.Join(out, "oci")
	buildMulti(t, "linux/amd64,linux/arm64", "-t", "sk:1", "--output", "type=oci,dest="+oci)
	raw, err := exec.Command(skopeo, "inspect", "--raw", "oci:"+oci+":1").CombinedOutput()
	if err != nil {
		t.Fatalf("skopeo inspect --raw: %v\n%s", err, raw)
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(raw, &idx); err != nil || idx.MediaType != types.OCIImageIndex || len(idx.Manifests) != 2 {
		t.Fatalf("skopeo reads %s (%v); want an OCI index of two images", raw, err)
	}
	for _, arch := range []string{"amd64", "arm64"} {
		b, err := exec.Command(skopeo, "inspect", "--override-os", "linux", "--override-arch", arch, "oci:"+oci+":1").CombinedOutput()
		if err != nil {
			t.Fatalf("skopeo inspect --override-arch %s: %v\n%s", arch, err, b)
		}
		var info struct{ Architecture, Os string }
		if err := json.Unmarshal(b, &info); err != nil || info.Architecture != arch || info.Os != "linux" {
			t.Errorf("skopeo inspect --override-arch %s = %s/%s (%v)", arch, info.Os, info.Architecture, err)
		}
	}
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	ref := strings.TrimPrefix(srv.URL, "http://") + "/me/sk:1"
	if b, err := exec.Command(skopeo, "copy", "--all", "--dest-tls-verify=false", "oci:"+oci+":1", "docker://"+ref).CombinedOutput(); err != nil {
		t.Fatalf("skopeo copy --all to the registry: %v\n%s", err, b)
	}
	b, err := exec.Command(skopeo, "inspect", "--raw", "--tls-verify=false", "docker://"+ref).CombinedOutput()
	if err != nil || !slices.Equal(b, raw) {
		t.Errorf("the registry's index (%v):\n%s\nwant the layout's:\n%s", err, b, raw)
	}
	other := t.TempDir()
	for _, arch := range []string{"arm64", "amd64"} {
		mustStrata(t, other, nil, "pull", "--platform", "linux/"+arch, ref)
		if got := mustStrata(t, other, nil, "inspect", "--platform", "linux/"+arch, "-f", "{{.Architecture}}", ref); got != arch+"\n" {
			t.Errorf("pulled linux/%s: inspect Architecture = %q", arch, got)
		}
	}
}
