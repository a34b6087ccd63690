package cli

import (
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
)

// TestPullRegistriesConf: strata pull reads registries.conf from
// $CONTAINERS_REGISTRIES_CONF, pulls quay.io through its mirrors and says
// which mirror failed.
func TestPullRegistriesConf(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	gone := httptest.NewServer(nil)
	down := strings.TrimPrefix(gone.URL, "http://")
	gone.Close()
	root := t.TempDir()
	importBusybox(t, root)
	id := manifestDigest(t, root, "busybox:test")
	mustStrata(t, root, nil, "push", "busybox:test", host+"/cache/quay/team/busybox:1")

	conf := filepath.Join(t.TempDir(), "registries.conf")
	os.WriteFile(conf, []byte(`
[[registry]]
location = "quay.io"
[[registry.mirror]]
location = "`+down+`/cache/quay"
[[registry.mirror]]
location = "`+host+`/cache/quay"
`), 0o644)
	t.Setenv("CONTAINERS_REGISTRIES_CONF", conf)
	out, errs, code := strata(t, t.TempDir(), nil, "pull", "quay.io/team/busybox:1")
	if code != 0 || !strings.Contains(out, id) {
		t.Fatalf("pull through the mirror = exit %d, %q %q, want digest %s", code, out, errs, id)
	}
	if want := "warning: pulling quay.io/team/busybox:1 from mirror " + down + "/cache/quay: "; !strings.Contains(errs, want) {
		t.Errorf("pull stderr = %q, want %q", errs, want)
	}

	os.WriteFile(conf, []byte("[[registry]]\nprefix = \"quay.io/team\"\nlocation = \"quay.io/team\"\nblocked = true\n"), 0o644)
	if _, errs, code := strata(t, t.TempDir(), nil, "pull", "quay.io/team/busybox:1"); code != 1 || !strings.Contains(errs, `registry "quay.io/team" is blocked`) {
		t.Errorf("pull blocked = exit %d %q, want 1 and blocked", code, errs)
	}
}
