package registry

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// recorder is a Progress that keeps every event but byte counts.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) Update(e Event) {
	if e.Kind == Transferred {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// kinds lists the kinds of d's events in order.
func (r *recorder) kinds(d v1.Hash) []EventKind {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []EventKind
	for _, e := range r.events {
		if e.Digest == d {
			out = append(out, e.Kind)
		}
	}
	return out
}

func (r *recorder) retries() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Event
	for _, e := range r.events {
		if e.Kind == Retrying {
			out = append(out, e)
		}
	}
	return out
}

// faults wraps a registry so that the first attempt at each blob fails:
// a PATCH has its connection closed half-way through its body, a PUT
// (the commit) gets 503, a GET has its connection closed half-way
// through the response body.
type faults struct {
	mu     sync.Mutex
	seen   map[string]bool
	ranges map[string]string // blob path: the Range of its last GET
}

func (f *faults) first(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.seen == nil {
		f.seen = map[string]bool{}
	}
	if f.seen[key] {
		return false
	}
	f.seen[key] = true
	return true
}

func (f *faults) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		isBlob := strings.Contains(r.URL.Path, "/blobs/")
		if rng := r.Header.Get("Range"); rng != "" && r.Method == http.MethodGet {
			f.mu.Lock()
			if f.ranges == nil {
				f.ranges = map[string]string{}
			}
			f.ranges[r.URL.Path] = rng
			f.mu.Unlock()
		}
		switch {
		case r.Method == http.MethodPatch && isBlob:
			half := make([]byte, r.ContentLength/2+1)
			n, _ := io.ReadFull(r.Body, half)
			if f.first(fmt.Sprintf("PATCH %x", half[:min(n, 64)])) {
				hangUp(w)
				return
			}
			r.Body = struct {
				io.Reader
				io.Closer
			}{io.MultiReader(bytes.NewReader(half[:n]), r.Body), r.Body}
		case r.Method == http.MethodPut && isBlob && f.first("PUT "+r.URL.Query().Get("digest")):
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		case r.Method == http.MethodGet && isBlob && f.first("GET "+r.URL.Path):
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.Header().Set("Content-Length", fmt.Sprint(len(body)))
			w.WriteHeader(rec.Code)
			w.Write(body[:len(body)/2])
			w.(http.Flusher).Flush()
			hangUp(w)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// hangUp closes the connection under w.
func hangUp(w http.ResponseWriter) {
	conn, buf, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	buf.Flush()
	conn.Close()
}

func layerDigests(t *testing.T, img v1.Image) []v1.Hash {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var out []v1.Hash
	for _, l := range ls {
		d, _ := l.Digest()
		out = append(out, d)
	}
	return out
}

func TestPushPullRetriedAndReported(t *testing.T) {
	ctx := context.Background()
	f := &faults{}
	host := serve(t, f.wrap)
	img, err := random.Image(100_000, 3)
	if err != nil {
		t.Fatal(err)
	}
	ref := host + "/retry/img:1"
	push := &recorder{}
	if err := testClient(Options{Progress: push}).Push(ctx, ref, img); err != nil {
		t.Fatalf("Push() = %v", err)
	}
	// Each layer: its PATCH hung up on, then its commit refused.
	want := []EventKind{Started, Retrying, Retrying, Done}
	for _, d := range layerDigests(t, img) {
		if got := push.kinds(d); !slices.Equal(got, want) {
			t.Errorf("push events of %s = %v, want %v", d, got, want)
		}
	}
	for _, e := range push.retries() {
		if e.Err == nil || e.Wait != 10*time.Millisecond*time.Duration(1+2*(e.Attempt-1)) || e.Size == 0 {
			t.Errorf("retry event %+v: want an error, a size and the backoff (10ms, then 30ms)", e)
		}
	}

	pull := &recorder{}
	got, err := testClient(Options{Progress: pull}).Pull(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(got); err != nil { // reads and verifies every blob
		t.Fatalf("validate.Image(pulled) = %v", err)
	}
	for _, d := range layerDigests(t, img) {
		ks := pull.kinds(d)
		if len(ks) < 3 || ks[0] != Started || ks[1] != Retrying || ks[len(ks)-1] != Done {
			t.Errorf("pull events of %s = %v, want started, retrying, ..., done", d, ks)
		}
		// The retry asked for the rest only.
		l, _ := img.LayerByDigest(d)
		size, _ := l.Size()
		var start, end int64
		rng := f.ranges["/v2/retry/img/blobs/"+d.String()]
		if _, err := fmt.Sscanf(rng, "bytes=%d-%d", &start, &end); err != nil || start == 0 || end != size-1 {
			t.Errorf("retried GET of %s: Range %q, want bytes=N-%d, N > 0", d, rng, size-1)
		}
	}
}

func TestPushTwiceReportsExisting(t *testing.T) {
	ctx := context.Background()
	host := serve(t, nil)
	img, err := random.Image(10_000, 4)
	if err != nil {
		t.Fatal(err)
	}
	ref := host + "/twice/img:1"
	first := &recorder{}
	if err := testClient(Options{Progress: first}).Push(ctx, ref, img); err != nil {
		t.Fatal(err)
	}
	second := &recorder{}
	if err := testClient(Options{Progress: second}).Push(ctx, host+"/twice/img:2", img); err != nil {
		t.Fatal(err)
	}
	for _, d := range layerDigests(t, img) {
		if got, want := first.kinds(d), []EventKind{Started, Done}; !slices.Equal(got, want) {
			t.Errorf("first push of %s: %v, want %v", d, got, want)
		}
		if got, want := second.kinds(d), []EventKind{Started, Exists}; !slices.Equal(got, want) {
			t.Errorf("second push of %s: %v, want %v", d, got, want)
		}
	}
}

// TestPushParallel holds every upload until jobs of them are in flight: the
// push completes only if it runs them at once, and never more.
func TestPushParallel(t *testing.T) {
	ctx := context.Background()
	const jobs = 3
	var mu sync.Mutex
	inFlight, peak := 0, 0
	all := make(chan struct{})
	var release sync.Once
	host := serve(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPatch {
				next.ServeHTTP(w, r)
				return
			}
			mu.Lock()
			inFlight++
			peak = max(peak, inFlight)
			if inFlight == jobs {
				release.Do(func() { close(all) })
			}
			mu.Unlock()
			select {
			case <-all:
			case <-time.After(20 * time.Second): // a failure, not a hang
			}
			next.ServeHTTP(w, r)
			mu.Lock()
			inFlight--
			mu.Unlock()
		})
	})
	// Layers only: the config is uploaded with them and must not count.
	img, err := random.Image(50_000, 6)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	if err := testClient(Options{Progress: rec, Jobs: jobs}).Push(ctx, host+"/par/img:1", img); err != nil {
		t.Fatal(err)
	}
	if peak != jobs {
		t.Errorf("peak uploads in flight = %d, want %d", peak, jobs)
	}
	for _, d := range layerDigests(t, img) {
		if got := rec.kinds(d); !slices.Equal(got, []EventKind{Started, Done}) {
			t.Errorf("events of %s = %v, want started, done", d, got)
		}
	}
}

func TestPushIndexReportsEveryPlatformsLayers(t *testing.T) {
	ctx := context.Background()
	f := &faults{}
	host := serve(t, f.wrap)
	amd, arm := platformImage(t, "amd64"), platformImage(t, "arm64")
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
	)
	rec := &recorder{}
	if err := testClient(Options{Progress: rec}).PushIndex(ctx, host+"/multi/img:1", idx); err != nil {
		t.Fatal(err)
	}
	for _, img := range []v1.Image{amd, arm} {
		for _, d := range layerDigests(t, img) {
			if ks := rec.kinds(d); len(ks) == 0 || ks[len(ks)-1] != Done || !slices.Contains(ks, Retrying) {
				t.Errorf("events of %s = %v, want retries then done", d, ks)
			}
		}
	}
	pulled := &recorder{}
	got, err := testClient(Options{Progress: pulled, Platform: "linux/arm64"}).PullIndex(ctx, host+"/multi/img:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(got); err != nil {
		t.Fatalf("validate.Index(pulled) = %v", err)
	}
	for _, d := range layerDigests(t, arm) {
		if ks := pulled.kinds(d); len(ks) == 0 || ks[len(ks)-1] != Done {
			t.Errorf("pull events of %s = %v, want ... done", d, ks)
		}
	}
}

func TestPullCorruptBlobFails(t *testing.T) {
	ctx := context.Background()
	host := serve(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/") {
				next.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			if len(body) > 1000 { // a layer, not the config
				body[len(body)/2] ^= 0xff
			}
			w.WriteHeader(rec.Code)
			w.Write(body)
		})
	})
	img, err := random.Image(5_000, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref := host + "/corrupt/img:1"
	if err := testClient(Options{}).Push(ctx, ref, img); err != nil {
		t.Fatal(err)
	}
	got, err := testClient(Options{}).Pull(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	ls, _ := got.Layers()
	rc, err := ls[0].Compressed()
	if err == nil {
		_, err = io.Copy(io.Discard, bufio.NewReader(rc))
		rc.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Errorf("reading a corrupted layer: err = %v, want a digest mismatch", err)
	}
}

// TestPullResumesWithoutRanges: a registry that ignores Range sends the
// whole blob again; its start is dropped and the layer still verifies.
func TestPullResumesWithoutRanges(t *testing.T) {
	ctx := context.Background()
	f := &faults{}
	host := serve(t, func(next http.Handler) http.Handler {
		inner := f.wrap(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Header.Del("Range")
			inner.ServeHTTP(w, r)
		})
	})
	img, err := random.Image(50_000, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref := host + "/norange/img:1"
	if err := testClient(Options{}).Push(ctx, ref, img); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	got, err := testClient(Options{Progress: rec}).Pull(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(got); err != nil {
		t.Fatalf("validate.Image(pulled) = %v", err)
	}
	if n := len(rec.retries()); n != 2 {
		t.Errorf("%d retries reported, want 2 (one per layer)", n)
	}
}
