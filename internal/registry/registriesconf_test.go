package registry

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/strata-build/strata/internal/testenv"
)

// writeConf writes a registries.conf and returns its path.
func writeConf(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const prefixConf = `
unqualified-search-registries = ["docker.io"]  # not used by strata

[[registry]]
location = "quay.io"
[[registry.mirror]]
location = "m1.internal/quay"
[[registry.mirror]]
location = "m2.internal:5000/quay"
insecure = true

[[registry]]
prefix = "quay.io/team"
location = "team.internal/q"

[[registry]]
prefix = "quay.io/team"         # the same prefix again: the first wins
location = "ignored.internal"

[[registry]]
prefix = "*.example.com"
[[registry.mirror]]
location = "cache.internal/example"

[[registry]]
location = "docker.io"
[[registry.mirror]]
location = "mirror.gcr.io"

[[registry]]
location = "ghcr.io"
blocked = true

[aliases]
"busybox" = "docker.io/library/busybox"
`

// TestRegistriesConfSources: which sources a pull tries, in order, per
// containers-registries.conf(5): longest prefix, mirrors then location,
// the prefix replaced by each location.
func TestRegistriesConfSources(t *testing.T) {
	conf, err := LoadRegistriesConf([]string{writeConf(t, t.TempDir(), "registries.conf", prefixConf)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		ref, want string
	}{
		{"quay.io/x/y:1", "m1.internal/quay/x/y:1 m2.internal:5000/quay/x/y:1 (http) quay.io/x/y:1"},
		{"quay.io/team/app@sha256:" + strings.Repeat("a", 64), "team.internal/q/app@sha256:" + strings.Repeat("a", 64)},
		{"quay.io/teamx/app:1", "m1.internal/quay/teamx/app:1 m2.internal:5000/quay/teamx/app:1 (http) quay.io/teamx/app:1"},
		{"busybox", "mirror.gcr.io/library/busybox:latest index.docker.io/library/busybox:latest"},
		{"eu.example.com/a/b:2", "cache.internal/example/a/b:2 eu.example.com/a/b:2"},
		{"a.b.example.com/c/a:2", "cache.internal/example/c/a:2 a.b.example.com/c/a:2"},
		{"example.com/a:2", "example.com/a:2"},
		{"notexample.com/a:2", "notexample.com/a:2"},
		{"gcr.io/p/i:3", "gcr.io/p/i:3"},
		{"ghcr.io/o/i:1", `error: registry "ghcr.io" is blocked in registries.conf`},
	} {
		srcs, err := candidates(tt.ref, Options{}, conf)
		got := ""
		if err != nil {
			got = "error: " + err.Error()
		}
		for i, s := range srcs {
			if i > 0 {
				got += " "
			}
			got += s.ref.Name()
			if s.ref.Context().Scheme() == "http" {
				got += " (http)"
			}
		}
		if got != tt.want {
			t.Errorf("candidates(%q) = %s, want %s", tt.ref, got, tt.want)
		}
	}
}

// TestRegistriesConfDropIns: a later file's table replaces an earlier one
// with the same prefix; invalid tables are refused.
func TestRegistriesConfDropIns(t *testing.T) {
	dir := t.TempDir()
	main := writeConf(t, dir, "registries.conf", "[[registry]]\nlocation = \"quay.io\"\nblocked = true\n[[registry]]\nlocation = \"gcr.io\"\nblocked = true\n")
	drop := writeConf(t, dir, "registries.conf.d/10-quay.conf", "[[registry]]\nprefix = \"quay.io\"\nlocation = \"quay.internal\"\n")
	conf, err := LoadRegistriesConf([]string{main, drop, filepath.Join(dir, "missing.conf")})
	if err != nil {
		t.Fatal(err)
	}
	if r := conf.find("quay.io/a:1"); r == nil || r.Blocked || r.Location != "quay.internal" {
		t.Errorf("find(quay.io/a:1) = %+v, want the drop-in's table", r)
	}
	if r := conf.find("gcr.io/a:1"); r == nil || !r.Blocked {
		t.Errorf("find(gcr.io/a:1) = %+v, want the main file's blocked table", r)
	}
	for _, bad := range []string{
		"[[registry]]\nlocation = \"https://quay.io\"\n",
		"[[registry]]\nprefix = \"quay.io\"\n",
		"[[registry]]\nblocked = true\n",
		"[[registry]]\nprefix = \"*.example.com/x\"\n",
		"[[registry]]\nlocation = \"quay.io\"\n[[registry.mirror]]\ninsecure = true\n",
		"[[registry]\n",
	} {
		if _, err := LoadRegistriesConf([]string{writeConf(t, dir, "bad.conf", bad)}); err == nil {
			t.Errorf("LoadRegistriesConf(%q) = nil error, want one", bad)
		}
	}
}

// TestRegistriesConfFiles: the files podman reads, in order.
func TestRegistriesConfFiles(t *testing.T) {
	home := t.TempDir()
	env := map[string]string{"HOME": home}
	getenv := func(k string) string { return env[k] }
	sys := dropIns("/etc/containers/registries.conf.d")
	want := append([]string{"/etc/containers/registries.conf"}, sys...)
	userDrop := writeConf(t, home, ".config/containers/registries.conf.d/50-x.conf", "")
	writeConf(t, home, ".config/containers/registries.conf.d/not-a-conf.txt", "")
	want = append(want, userDrop)
	if got := RegistriesConfFiles(getenv); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("RegistriesConfFiles(no user file) = %q, want %q", got, want)
	}
	env["CONTAINERS_REGISTRIES_CONF"] = "/srv/r.conf"
	want[0] = "/srv/r.conf"
	if got := RegistriesConfFiles(getenv); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("RegistriesConfFiles(CONTAINERS_REGISTRIES_CONF) = %q, want %q", got, want)
	}
	delete(env, "CONTAINERS_REGISTRIES_CONF")
	podman := writeConf(t, home, ".config/containers/registries.conf", "")
	if got, want := RegistriesConfFiles(getenv), []string{podman, userDrop}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("RegistriesConfFiles(podman user file) = %q, want %q", got, want)
	}
	env["XDG_CONFIG_HOME"] = filepath.Join(home, "xdg")
	strata := writeConf(t, home, "xdg/strata/registries.conf", "")
	strataDrop := writeConf(t, home, "xdg/strata/registries.conf.d/a.conf", "")
	if got, want := RegistriesConfFiles(getenv), []string{strata, strataDrop}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("RegistriesConfFiles(strata user file) = %q, want %q", got, want)
	}
}

// warnings collects Options.Warn messages.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) warn(m string) { w.mu.Lock(); w.msgs = append(w.msgs, m); w.mu.Unlock() }

// TestRegistriesConfPull pulls through real registries on 127.0.0.1: an
// image only on quay.io's mirror; a down mirror, then the location; a
// blocked registry.
func TestRegistriesConfPull(t *testing.T) {
	ctx := context.Background()
	img := testenv.BusyboxImage(t)
	mirror := serve(t, nil)
	location := serve(t, nil)
	down := serve(t, func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	})
	for _, ref := range []string{mirror + "/cache/x/y:1", location + "/z/w:2"} {
		if err := testClient(Options{}).Push(ctx, ref, img); err != nil {
			t.Fatal(err)
		}
	}
	conf := writeConf(t, t.TempDir(), "registries.conf", `
[[registry]]
location = "quay.io"
[[registry.mirror]]
location = "`+mirror+`/cache"

[[registry]]
prefix = "registry.example.com"
location = "`+location+`"
[[registry.mirror]]
location = "`+down+`"

[[registry]]
location = "ghcr.io"
blocked = true
`)
	var w warnings
	c := testClient(Options{RegistriesConf: []string{conf}, Warn: w.warn})

	got, err := c.Pull(ctx, "quay.io/x/y:1")
	if err != nil {
		t.Fatalf("Pull(quay.io/x/y:1) through the mirror: %v", err)
	}
	if err := validate.Image(got); err != nil {
		t.Errorf("validate.Image: %v", err)
	}
	if len(w.msgs) != 0 {
		t.Errorf("warnings = %q, want none", w.msgs)
	}

	got, err = c.Pull(ctx, "registry.example.com/z/w:2")
	if err != nil {
		t.Fatalf("Pull(registry.example.com/z/w:2) past a down mirror: %v", err)
	}
	if err := validate.Image(got); err != nil {
		t.Errorf("validate.Image: %v", err)
	}
	if len(w.msgs) != 1 || !strings.Contains(w.msgs[0], "mirror "+down+":") || !strings.Contains(w.msgs[0], "registry returned 503") || !strings.Contains(w.msgs[0], "trying "+location) {
		t.Errorf("warnings = %q, want one naming mirror %s, its 503 and %s next", w.msgs, down, location)
	}

	if _, err := c.Pull(ctx, "ghcr.io/o/i:1"); err == nil || !strings.Contains(err.Error(), `registry "ghcr.io" is blocked`) {
		t.Errorf("Pull(blocked) error = %v, want blocked", err)
	}
}
