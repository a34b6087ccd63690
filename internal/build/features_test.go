package build

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/strata-build/strata/internal/dockerfile"
	"github.com/strata-build/strata/internal/registry"
	"github.com/strata-build/strata/internal/testenv"
)

func TestCopyHeredoc(t *testing.T) {
	f := newFixture(t)
	df := "FROM scratch\nARG WHO=world\nCOPY <<EOT /hello.txt\nhello ${WHO}\nEOT\nCOPY <<-\"EOT\" /raw.txt\n\tkeep ${WHO}\n\tEOT\n"
	res := f.mustBuild(buildCase{dockerfile: df})
	fs := flatten(t, res.Image)
	if got := fs["/hello.txt"].body; got != "hello world\n" {
		t.Errorf("/hello.txt = %q, want expanded %q", got, "hello world\n")
	}
	if got := fs["/raw.txt"].body; got != "keep ${WHO}\n" {
		t.Errorf("/raw.txt = %q, want the quoted heredoc unexpanded and tabs stripped", got)
	}
}

func TestAddLocalArchiveAndURL(t *testing.T) {
	f := newFixture(t)
	archive := tarGz(t, map[string]string{"pkg/a.txt": "from tar"})
	payload := "remote payload\n"
	sum := sha256.Sum256([]byte(payload))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
		if strings.HasSuffix(r.URL.Path, ".tgz") {
			w.Write(archive)
			return
		}
		io.WriteString(w, payload)
	}))
	defer srv.Close()
	df := "FROM scratch\n" +
		"ADD app.tgz /opt/\n" +
		"COPY app.tgz /copied/\n" +
		"ADD --checksum=sha256:" + hex.EncodeToString(sum[:]) + " " + srv.URL + "/dl/file.txt /downloads/\n" +
		"ADD " + srv.URL + "/dl/remote.tgz /remote/\n"
	res := f.mustBuild(buildCase{dockerfile: df, files: map[string]string{"app.tgz": string(archive)}})
	fs := flatten(t, res.Image)
	if got := fs["/opt/pkg/a.txt"].body; got != "from tar" {
		t.Errorf("/opt/pkg/a.txt = %q, want the archive extracted by ADD", got)
	}
	if _, ok := fs["/copied/app.tgz"]; !ok {
		t.Errorf("/copied/app.tgz missing: COPY must not extract archives")
	}
	if e := fs["/downloads/file.txt"]; e.body != payload || e.mode != 0o600 {
		t.Errorf("/downloads/file.txt = %q mode %o, want the payload with mode 600", e.body, e.mode)
	}
	if e, ok := fs["/remote/remote.tgz"]; !ok || e.body != string(archive) {
		t.Errorf("/remote/remote.tgz missing or changed: ADD of a URL never extracts")
	}
	bad := "FROM scratch\nADD --checksum=sha256:" + strings.Repeat("0", 64) + " " + srv.URL + "/x /x\n"
	if _, err := f.build(buildCase{dockerfile: bad}); err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Errorf("ADD with a wrong --checksum = %v, want a checksum mismatch", err)
	}
}

func TestNamedBuildContexts(t *testing.T) {
	f := newFixture(t)
	extra := t.TempDir()
	if err := os.WriteFile(filepath.Join(extra, "e.txt"), []byte("extra"), 0o644); err != nil {
		t.Fatal(err)
	}
	oci := filepath.Join(t.TempDir(), "oci")
	p, err := layout.Write(oci, emptyIndex())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(testenv.BusyboxImage(t)); err != nil {
		t.Fatal(err)
	}
	file, err := dockerfile.Parse("Dockerfile", []byte("FROM base\nCOPY --from=extra e.txt /e.txt\nCOPY --from=tools /etc/group /tools-group\n"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.b.Build(context.Background(), Options{File: file, ContextDir: t.TempDir(), Contexts: map[string]Context{
		"base":  {Layout: oci},
		"extra": {Dir: extra},
		"tools": {Image: "busybox:latest"},
	}})
	if err != nil {
		t.Fatalf("Build() = %v", err)
	}
	fs := flatten(t, res.Image)
	if fs["/e.txt"].body != "extra" || !strings.Contains(fs["/tools-group"].body, "root") || fs["/bin/busybox"].typ != tar.TypeReg {
		t.Errorf("named contexts: /e.txt %q, /tools-group %q, /bin/busybox %v", fs["/e.txt"].body, fs["/tools-group"].body, fs["/bin/busybox"])
	}
}

func TestBaseFromRegistryMirror(t *testing.T) {
	testenv.RequireRoot(t)
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	ref, err := name.ParseReference(host + "/library/busybox:1.36")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, testenv.BusyboxImage(t)); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t)
	f.b.registry = registry.New(registry.Options{Mirrors: []string{host}})
	res := f.mustBuild(buildCase{dockerfile: "FROM busybox:1.36\nRUN echo pulled > /p\n"})
	if got := flatten(t, res.Image)["/p"].body; got != "pulled\n" {
		t.Errorf("/p = %q, want pulled", got)
	}
	if _, err := f.store.Resolve(context.Background(), "busybox:1.36"); err != nil {
		t.Errorf("the pulled base is not in the store: %v", err)
	}
}

func tarGz(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for n, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, body)
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func emptyIndex() v1.ImageIndex { return empty.Index }
