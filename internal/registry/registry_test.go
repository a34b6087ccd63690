package registry

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/strata-build/strata/internal/testenv"
)

// serve starts an in-process registry on 127.0.0.1 behind wrap and returns
// its host:port.
func serve(t *testing.T, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	h := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h) // listens on 127.0.0.1
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func testClient(opts Options) *Client {
	opts.RetryBackoff = 10 * time.Millisecond
	return New(opts)
}

func TestPushPullRoundTrip(t *testing.T) {
	ctx := context.Background()
	host := serve(t, nil)
	c := testClient(Options{})
	img := testenv.BusyboxImage(t)
	want, _ := img.Digest()
	ref := host + "/test/busybox:latest"
	if err := c.Push(ctx, ref, img); err != nil {
		t.Fatal(err)
	}
	got, err := c.Pull(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := got.Digest(); d != want {
		t.Errorf("Pull().Digest() = %s, want %s", d, want)
	}
	if err := validate.Image(got); err != nil {
		t.Errorf("validate.Image: %v", err)
	}
}

func TestPullPlatformFromIndex(t *testing.T) {
	ctx := context.Background()
	host := serve(t, nil)
	amd, arm := platformImage(t, "amd64"), platformImage(t, "arm64")
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
	)
	ref, _ := name.ParseReference(host + "/multi:1")
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	for plat, want := range map[string]v1.Image{"": amd, "linux/amd64": amd, "linux/arm64": arm} {
		got, err := testClient(Options{Platform: plat}).Pull(ctx, ref.String())
		if err != nil {
			t.Fatal(err)
		}
		gd, _ := got.Digest()
		wd, _ := want.Digest()
		if gd != wd {
			t.Errorf("Pull(platform %q) = %s, want %s", plat, gd, wd)
		}
	}
}

func TestMirrors(t *testing.T) {
	ctx := context.Background()
	var hits atomic.Int32
	dead := serve(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	})
	mirror := serve(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			h.ServeHTTP(w, r)
		})
	})
	img := testenv.BusyboxImage(t)
	if err := testClient(Options{}).Push(ctx, mirror+"/library/golang:1.26", img); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "registries.json")
	os.WriteFile(cfg, []byte(`{"registry-mirrors":["http://`+mirror+`/"]}`), 0o644)
	hits.Store(0)
	c := testClient(Options{Mirrors: []string{dead}, ConfigFile: cfg})
	got, err := c.Pull(ctx, "golang:1.26")
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(got); err != nil {
		t.Errorf("validate.Image: %v", err)
	}
	if hits.Load() == 0 {
		t.Error("mirror was not used")
	}
}

func TestMirrorCandidates(t *testing.T) {
	tests := []struct {
		ref  string
		want []string
	}{
		{"golang:1.26", []string{"127.0.0.1:5000/library/golang:1.26", "m.example/library/golang:1.26", "index.docker.io/library/golang:1.26"}},
		{"docker.io/me/app", []string{"127.0.0.1:5000/me/app:latest", "m.example/me/app:latest", "index.docker.io/me/app:latest"}},
		{"ghcr.io/a/b:1", []string{"ghcr.io/a/b:1"}},
	}
	opts := Options{Mirrors: []string{"127.0.0.1:5000", "https://m.example"}}
	for _, tt := range tests {
		rs, err := candidates(tt.ref, opts, RegistriesConf{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range rs {
			got = append(got, r.ref.Name())
		}
		if strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("candidates(%q) = %v, want %v", tt.ref, got, tt.want)
		}
	}
	r, _ := parse("127.1.2.3:5000/x", nil)
	if s := r.Context().Scheme(); s != "http" {
		t.Errorf("scheme of 127.1.2.3 = %s, want http", s)
	}
	r, _ = parse("reg.internal/x", []string{"reg.internal"})
	if s := r.Context().Scheme(); s != "http" {
		t.Errorf("scheme of insecure registry = %s, want http", s)
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	auth := serve(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, _, ok := r.BasicAuth(); !ok {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	down := serve(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
		})
	})
	open := serve(t, nil)
	tests := []struct {
		ref, want string
		kind      error
	}{
		{auth + "/x:1", `pulling "` + auth + `/x:1": unauthorized by ` + auth + ` (credentials: none, anonymous (strata login ` + auth + `))`, ErrUnauthorized},
		{open + "/missing:1", `pulling "` + open + `/missing:1": not found`, ErrNotFound},
		{down + "/x:1", `pulling "` + down + `/x:1": registry returned 503`, nil},
	}
	t.Setenv("DOCKER_CONFIG", t.TempDir()) // no credentials
	for _, tt := range tests {
		_, err := testClient(Options{}).Pull(ctx, tt.ref)
		if err == nil || err.Error() != tt.want {
			t.Errorf("Pull(%q) = %v, want %s", tt.ref, err, tt.want)
		}
		if tt.kind != nil && !errors.Is(err, tt.kind) {
			t.Errorf("Pull(%q) = %v, want errors.Is %v", tt.ref, err, tt.kind)
		}
	}
}

func TestRetryAfter5xx(t *testing.T) {
	ctx := context.Background()
	var fails atomic.Int32
	fails.Store(2)
	host := serve(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/manifests/") && fails.Add(-1) >= 0 {
				w.WriteHeader(http.StatusBadGateway)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	img := testenv.BusyboxImage(t)
	ref := host + "/flaky:1"
	if err := testClient(Options{}).Push(ctx, ref, img); err != nil {
		t.Fatal(err)
	}
	got, err := testClient(Options{}).Pull(ctx, ref)
	if err != nil {
		t.Fatalf("Pull after two 502s: %v", err)
	}
	if err := validate.Image(got); err != nil {
		t.Errorf("validate.Image: %v", err)
	}
	if n := fails.Load(); n >= 0 {
		t.Errorf("server failures left = %d, want the 502s consumed", n)
	}
}

func TestTimeout(t *testing.T) {
	stall := serve(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		})
	})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := testClient(Options{}).Pull(ctx, stall+"/x:1")
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("Pull(stalled) = %v, want timed out", err)
	}
}

func platformImage(t *testing.T, arch string) v1.Image {
	t.Helper()
	img, err := random.Image(100, 1)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}
