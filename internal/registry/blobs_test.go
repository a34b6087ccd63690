package registry

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// mounting answers cross-repository mount requests (POST ?mount=&from=)
// with 201 when the blob is there, as Docker's registry does (ggcr's test
// registry ignores mount and opens an upload), and counts requests.
type mounting struct {
	next http.Handler
	mu   sync.Mutex
	reqs []string // "METHOD path?query"
}

func (m *mounting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	m.reqs = append(m.reqs, r.Method+" "+r.URL.RequestURI())
	m.mu.Unlock()
	if d := r.URL.Query().Get("mount"); r.Method == http.MethodPost && d != "" {
		head, _ := http.NewRequest(http.MethodHead, "/v2/"+r.URL.Query().Get("from")+"/blobs/"+d, nil)
		rec := &statusRecorder{header: http.Header{}}
		m.next.ServeHTTP(rec, head)
		if rec.code == http.StatusOK {
			w.Header().Set("Docker-Content-Digest", d)
			w.WriteHeader(http.StatusCreated)
			return
		}
	}
	m.next.ServeHTTP(w, r)
}

type statusRecorder struct {
	header http.Header
	code   int
}

func (s *statusRecorder) Header() http.Header         { return s.header }
func (s *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (s *statusRecorder) WriteHeader(code int)        { s.code = code }

func TestRepositoryBlobs(t *testing.T) {
	ctx := context.Background()
	m := &mounting{}
	host := serve(t, func(h http.Handler) http.Handler { m.next = h; return m })
	c := testClient(Options{})
	blob := []byte("a layer blob")
	d, size, _ := v1.SHA256(bytes.NewReader(blob))
	open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(blob)), nil }

	src, err := c.Repository(ctx, host+"/src/app:cache", nil)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := src.HasBlob(ctx, d); ok || err != nil {
		t.Fatalf("HasBlob(new blob) = %v, %v; want false, nil", ok, err)
	}
	if mounted, err := src.PushBlob(ctx, d, size, "", open); mounted || err != nil {
		t.Fatalf("PushBlob() = %v, %v; want an upload", mounted, err)
	}
	if ok, err := src.HasBlob(ctx, d); !ok || err != nil {
		t.Fatalf("HasBlob(pushed blob) = %v, %v; want true, nil", ok, err)
	}

	dst, err := c.Repository(ctx, host+"/dst/app:cache", []string{host + "/src/app"})
	if err != nil {
		t.Fatal(err)
	}
	m.reqs = nil
	opened := false
	mounted, err := dst.PushBlob(ctx, d, size, host+"/src/app", func() (io.ReadCloser, error) { opened = true; return open() })
	if !mounted || err != nil || opened {
		t.Errorf("PushBlob(from src) = %v, %v (blob read: %v); want mounted without reading it", mounted, err, opened)
	}
	want := "POST /v2/dst/app/blobs/uploads/?from=src%2Fapp&mount=" + url.QueryEscape(d.String())
	if len(m.reqs) != 1 || m.reqs[0] != want {
		t.Errorf("mount requests = %q, want [%q]", m.reqs, want)
	}

	if _, _, err := dst.Manifest(ctx); !errors.Is(err, ErrNotFound) {
		t.Errorf("Manifest() of an empty tag = %v, want ErrNotFound", err)
	}
	cfg := []byte(`{}`)
	cd, cs, _ := v1.SHA256(bytes.NewReader(cfg))
	if _, err := dst.PushBlob(ctx, cd, cs, "", func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(cfg)), nil }); err != nil {
		t.Fatal(err)
	}
	manifest := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":` +
		strconv.FormatInt(cs, 10) + `,"digest":"` + cd.String() + `"},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","size":` + strconv.FormatInt(size, 10) + `,"digest":"` + d.String() + `"}]}`)
	if err := dst.PutManifest(ctx, manifest, types.OCIManifestSchema1); err != nil {
		t.Fatal(err)
	}
	got, mt, err := dst.Manifest(ctx)
	if err != nil || !bytes.Equal(got, manifest) || mt != types.OCIManifestSchema1 {
		t.Errorf("Manifest() = %s, %s, %v; want what was put", got, mt, err)
	}
	if b, err := dst.Blob(ctx, cd); err != nil || !bytes.Equal(b, cfg) {
		t.Errorf("Blob(config) = %q, %v; want %q", b, err, cfg)
	}
}
