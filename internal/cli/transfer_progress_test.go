package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/internal/registry"
)

// serveRegistry starts an in-process registry on 127.0.0.1 (wrapped by
// wrap, when given) and returns its host:port.
func serveRegistry(t *testing.T, wrap ...func(http.Handler) http.Handler) string {
	t.Helper()
	h := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	for _, w := range wrap {
		h = w(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// hangUpFirstGet closes the connection half-way through the first GET of
// each layer blob (over 1kB; the CLI waits 1s before its retry).
func hangUpFirstGet(next http.Handler) http.Handler {
	var mu sync.Mutex
	seen := map[string]bool{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		first := r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") && !seen[r.URL.Path]
		if first {
			seen[r.URL.Path] = true
		}
		mu.Unlock()
		if !first {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.WriteHeader(rec.Code)
		if len(body) <= 1000 {
			w.Write(body)
			return
		}
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
	})
}

func TestPushPullProgress(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	host := serveRegistry(t, hangUpFirstGet)
	img := sizedImage(t)
	root := t.TempDir()
	h, _ := storeTagged(t, root, img, "sizes:v1")
	var ids []string
	for _, d := range layerDigestsOf(t, img) {
		ids = append(ids, d.Hex[:12])
	}

	out, errs, code := strata(t, root, nil, "push", "--progress=plain", "--jobs=2", "sizes:v1", host+"/sizes:v1")
	if code != 0 || out != host+"/sizes:v1: digest: "+h.String()+"\n" {
		t.Fatalf("push = %d, stdout %q\n%s", code, out, errs)
	}
	wantLines(t, "push", errs, ids, `pushing \S+`, `pushed \S+ in \d+\.\ds`)
	_, errs, _ = strata(t, root, nil, "push", "--progress=plain", "sizes:v1", host+"/sizes:v2")
	wantLines(t, "second push", errs, ids, `pushing \S+`, `layer already exists`)

	other := t.TempDir()
	out, errs, code = strata(t, other, nil, "pull", "--progress=plain", host+"/sizes:v1")
	if code != 0 || !strings.HasPrefix(out, "Digest: "+h.String()+"\n") {
		t.Fatalf("pull = %d, stdout %q\n%s", code, out, errs)
	}
	wantLines(t, "pull", errs, ids, `downloading \S+`, `retrying in 1s \(attempt 1 failed: unexpected EOF\)`, `pull complete \S+ in \d+\.\ds`)
	_, errs, _ = strata(t, other, nil, "pull", "--progress=plain", host+"/sizes:v2")
	wantLines(t, "second pull", errs, ids, `already exists`)
}

// wantLines checks that out has, for each id, a line "id: X" matching
// each pattern, in that order.
func wantLines(t *testing.T, what, out string, ids []string, patterns ...string) {
	t.Helper()
	for _, id := range ids {
		var got []string
		for _, l := range strings.Split(out, "\n") {
			if rest, ok := strings.CutPrefix(l, id+": "); ok {
				got = append(got, rest)
			}
		}
		ok := len(got) == len(patterns)
		for i := 0; ok && i < len(got); i++ {
			ok = regexp.MustCompile("^" + patterns[i] + "$").MatchString(got[i])
		}
		if !ok {
			t.Errorf("%s: lines of layer %s = %q, want %q\n%s", what, id, got, patterns, out)
		}
	}
}

func layerDigestsOf(t *testing.T, img v1.Image) []v1.Hash {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	var out []v1.Hash
	for _, l := range m.Layers {
		out = append(out, l.Digest)
	}
	return out
}

// fakeClock advances by step at each reading.
func fakeClock(step time.Duration) func() time.Time {
	t := time.Unix(0, 0)
	return func() time.Time { t = t.Add(step); return t }
}

func digest(c byte) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: strings.Repeat(string(c), 64)}
}

func TestPlainTransferLines(t *testing.T) {
	var b bytes.Buffer
	p := &plainTransfer{w: &b, words: pushWords, now: fakeClock(700 * time.Millisecond), start: map[v1.Hash]time.Time{}}
	a, c := digest('a'), digest('c')
	for _, e := range []registry.Event{
		{Digest: a, Kind: registry.Started, Size: 3_000_000},
		{Digest: c, Kind: registry.Started, Size: 42},
		{Digest: a, Kind: registry.Transferred, Size: 3_000_000, Bytes: 1000},
		{Digest: a, Kind: registry.Retrying, Size: 3_000_000, Attempt: 1, Err: errors.New("registry returned 503"), Wait: time.Second},
		{Digest: c, Kind: registry.Exists, Size: 42},
		{Digest: a, Kind: registry.Done, Size: 3_000_000, Bytes: 3_000_000},
	} {
		p.Update(e)
	}
	want := `aaaaaaaaaaaa: pushing 3.0MB
cccccccccccc: pushing 42B
aaaaaaaaaaaa: retrying in 1s (attempt 1 failed: registry returned 503)
cccccccccccc: layer already exists
aaaaaaaaaaaa: pushed 3.0MB in 1.4s
`
	if b.String() != want {
		t.Errorf("plain progress =\n%s\nwant\n%s", b.String(), want)
	}
}

func TestTTYTransferRedrawsInPlace(t *testing.T) {
	var b bytes.Buffer
	p := &ttyTransfer{w: &b, words: pullWords, now: fakeClock(time.Second), rows: map[v1.Hash]*transferRow{}}
	a, c := digest('a'), digest('c')
	p.Update(registry.Event{Digest: a, Kind: registry.Started, Size: 2000})
	p.Update(registry.Event{Digest: c, Kind: registry.Exists, Size: 42})
	p.Update(registry.Event{Digest: a, Kind: registry.Transferred, Size: 2000, Bytes: 1000})
	p.Close()
	p.Update(registry.Event{Digest: a, Kind: registry.Done, Size: 2000, Bytes: 2000})
	p.Close()
	p.Close()
	// A screen per change, each after moving up over the one before.
	screens := regexp.MustCompile("\x1b\\[\\d+A").Split(b.String(), -1)
	if len(screens) != 7 || screens[0] != "\r\x1b[2Kaaaaaaaaaaaa: Downloading  [>                             ] 0B/2.0kB\n" {
		t.Fatalf("tty progress = %q", b.String())
	}
	last := "\r\x1b[2Kaaaaaaaaaaaa: Downloading  [===============>              ] 1.0kB/2.0kB\n\r\x1b[2Kcccccccccccc: Already exists\n"
	if screens[3] != last {
		t.Errorf("fourth screen = %q, want %q", screens[3], last)
	}
	// The time a layer took is fixed when it is done, not at each redraw.
	done := "\r\x1b[2Kaaaaaaaaaaaa: Pull complete 2.0kB in 7.0s\n\r\x1b[2Kcccccccccccc: Already exists\n"
	if screens[5] != done || screens[6] != done {
		t.Errorf("last screens = %q, %q, want %q", screens[5], screens[6], done)
	}
}
