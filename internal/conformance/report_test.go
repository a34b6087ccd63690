package conformance

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// ent is one tar entry of a test layer.
type ent struct {
	name     string
	typ      byte
	mode     int64
	uid, gid int
	body     string
	link     string
	xattrs   map[string]string
}

func file(name, body string) ent { return ent{name: name, typ: tar.TypeReg, mode: 0o644, body: body} }
func dir(name string) ent        { return ent{name: name, typ: tar.TypeDir, mode: 0o755} }
func whiteout(name string) ent   { return ent{name: name, typ: tar.TypeReg, mode: 0o644} }

func layerOf(t *testing.T, ents ...ent) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Uid: e.uid, Gid: e.gid, Linkname: e.link, Size: int64(len(e.body))}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		for k, v := range e.xattrs {
			if h.PAXRecords == nil {
				h.PAXRecords = map[string]string{}
			}
			h.PAXRecords["SCHILY.xattr."+k] = v
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			if _, err := io.WriteString(tw, e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return plainLayer{l}
}

// plainLayer hides the tarball layer's Descriptor, whose empty annotations
// map makes validate.Image see a manifest that does not round-trip.
type plainLayer struct{ v1.Layer }

// imageOf makes a validated image of layers with config cfg (may be nil).
func imageOf(t *testing.T, cfg *v1.Config, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	if cfg != nil {
		cf.Config = *cfg
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatalf("validate.Image: %v", err)
	}
	return img
}

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func reportOf(t *testing.T, img v1.Image) *Report {
	t.Helper()
	r, err := FromImage(img)
	if err != nil {
		t.Fatalf("FromImage: %v", err)
	}
	return r
}

func TestFromImageFiles(t *testing.T) {
	root := File{Type: "dir", Mode: 0o755}
	d := File{Type: "dir", Mode: 0o755}
	tests := []struct {
		name   string
		layers [][]ent
		want   map[string]File
	}{{
		name: "entry kinds and metadata",
		layers: [][]ent{{
			dir("./bin/"),
			{name: "./bin/su", typ: tar.TypeReg, mode: 0o4755, uid: 0, gid: 0, body: "su"},
			{name: "./bin/sh", typ: tar.TypeSymlink, mode: 0o777, link: "busybox"},
			{name: "./home/u/", typ: tar.TypeDir, mode: 0o1770, uid: 1000, gid: 100},
			{name: "./dev/null", typ: tar.TypeChar, mode: 0o666},
			{name: "./run/p", typ: tar.TypeFifo, mode: 0o600},
		}},
		want: map[string]File{
			"/": root, "/bin": d,
			"/bin/su":   {Type: "file", Mode: 0o4755, Size: 2, SHA256: sum("su")},
			"/bin/sh":   {Type: "symlink", Mode: 0o777, Link: "busybox"},
			"/home":     d,
			"/home/u":   {Type: "dir", Mode: 0o1770, UID: 1000, GID: 100},
			"/dev":      d,
			"/dev/null": {Type: "char", Mode: 0o666, Dev: "0:0"},
			"/run":      d,
			"/run/p":    {Type: "fifo", Mode: 0o600},
		},
	}, {
		name: "whiteout removes a file and a directory tree of lower layers",
		layers: [][]ent{
			{dir("a"), file("a/x", "x"), file("a/y", "y"), dir("b"), file("b/c", "c")},
			{whiteout("a/.wh.x"), whiteout(".wh.b")},
		},
		want: map[string]File{"/": root, "/a": d, "/a/y": {Type: "file", Mode: 0o644, Size: 1, SHA256: sum("y")}},
	}, {
		name: "whiteout does not hide what its own layer adds",
		layers: [][]ent{
			{file("f", "old")},
			{file("f", "new"), whiteout(".wh.f")},
		},
		want: map[string]File{"/": root, "/f": {Type: "file", Mode: 0o644, Size: 3, SHA256: sum("new")}},
	}, {
		name: "opaque directory hides lower children, wherever the marker is",
		layers: [][]ent{
			{dir("d"), file("d/x", "x"), dir("d/sub"), file("d/sub/y", "y")},
			{dir("d"), file("d/z", "z"), whiteout("d/.wh..wh..opq")},
		},
		want: map[string]File{"/": root, "/d": d, "/d/z": {Type: "file", Mode: 0o644, Size: 1, SHA256: sum("z")}},
	}, {
		name: "file replaces a directory and its children",
		layers: [][]ent{
			{dir("d"), file("d/x", "x")},
			{file("d", "now a file")},
		},
		want: map[string]File{"/": root, "/d": {Type: "file", Mode: 0o644, Size: 10, SHA256: sum("now a file")}},
	}, {
		name: "directory replaces a file; a directory over a directory keeps children",
		layers: [][]ent{
			{file("d", "file"), dir("e"), file("e/keep", "k")},
			{{name: "d", typ: tar.TypeDir, mode: 0o700}, {name: "e", typ: tar.TypeDir, mode: 0o711, uid: 5}},
		},
		want: map[string]File{
			"/": root, "/d": {Type: "dir", Mode: 0o700},
			"/e": {Type: "dir", Mode: 0o711, UID: 5}, "/e/keep": {Type: "file", Mode: 0o644, Size: 1, SHA256: sum("k")},
		},
	}, {
		name: "hard links name their group, across layers",
		layers: [][]ent{
			{file("bin/busybox", "bb"), {name: "bin/ls", typ: tar.TypeLink, link: "bin/busybox"}},
			{{name: "sbin/init", typ: tar.TypeLink, link: "./bin/busybox"}},
		},
		want: map[string]File{
			"/": root, "/bin": d, "/sbin": d,
			"/bin/busybox": {Type: "file", Mode: 0o644, Size: 2, SHA256: sum("bb"), HardLinks: "/bin/busybox"},
			"/bin/ls":      {Type: "file", Mode: 0o644, Size: 2, SHA256: sum("bb"), HardLinks: "/bin/busybox"},
			"/sbin/init":   {Type: "file", Mode: 0o644, Size: 2, SHA256: sum("bb"), HardLinks: "/bin/busybox"},
		},
	}, {
		name: "replacing one name of a hard-linked file leaves the other",
		layers: [][]ent{
			{file("a", "one"), {name: "b", typ: tar.TypeLink, link: "a"}},
			{file("a", "two")},
		},
		want: map[string]File{
			"/":  root,
			"/a": {Type: "file", Mode: 0o644, Size: 3, SHA256: sum("two")},
			"/b": {Type: "file", Mode: 0o644, Size: 3, SHA256: sum("one")},
		},
	}, {
		name:   "xattrs are kept",
		layers: [][]ent{{{name: "ping", typ: tar.TypeReg, mode: 0o755, xattrs: map[string]string{"security.capability": "\x01"}}}},
		want:   map[string]File{"/": root, "/ping": {Type: "file", Mode: 0o755, SHA256: sum(""), Xattrs: map[string]string{"security.capability": "01"}}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var layers []v1.Layer
			for _, l := range tt.layers {
				layers = append(layers, layerOf(t, l...))
			}
			got := reportOf(t, imageOf(t, nil, layers...)).Files
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("FromImage().Files =\n%s\nwant\n%s", dump(got), dump(tt.want))
			}
		})
	}
}

func TestFromImageHardLinkToMissing(t *testing.T) {
	img := imageOf(t, nil, layerOf(t, ent{name: "b", typ: tar.TypeLink, link: "nope"}))
	if _, err := FromImage(img); err == nil || !strings.Contains(err.Error(), "hard link /b to /nope") {
		t.Errorf("FromImage(link to missing) error = %v, want hard link error", err)
	}
}

func dump(m map[string]File) string {
	b, _ := json.MarshalIndent(m, "", " ")
	return string(b)
}

func TestFromImageConfig(t *testing.T) {
	cfg := &v1.Config{
		Env:          []string{"PATH=/bin", "A=1"},
		Cmd:          []string{"sh"},
		User:         "1000:1000",
		WorkingDir:   "/app",
		Labels:       map[string]string{"b": "2", "a": "1"},
		Hostname:     "volatile",
		ExposedPorts: map[string]struct{}{"80/tcp": {}},
	}
	got := reportOf(t, imageOf(t, cfg, layerOf(t))).Config
	want := map[string]string{
		"os": `"linux"`, "architecture": `"amd64"`,
		"Env": `["PATH=/bin","A=1"]`, "Cmd": `["sh"]`, "User": `"1000:1000"`, "WorkingDir": `"/app"`,
		"Labels": `{"a":"1","b":"2"}`, "ExposedPorts": `{"80/tcp":{}}`,
	}
	gotS := map[string]string{}
	for k, v := range got {
		gotS[k] = string(v)
	}
	if !reflect.DeepEqual(gotS, want) {
		t.Errorf("FromImage().Config = %v, want %v", gotS, want)
	}
}

func TestConfigReportNullIsAbsent(t *testing.T) {
	got, err := configReport([]byte(`{"os":"linux","config":{"Cmd":null,"Entrypoint":[],"OnBuild":null,"Image":"sha256:x"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || string(got["Entrypoint"]) != "[]" || string(got["os"]) != `"linux"` {
		t.Errorf("configReport() = %v, want os and Entrypoint [] only", got)
	}
}

func TestLoadImageLayoutAndDockerArchive(t *testing.T) {
	img := imageOf(t, &v1.Config{Cmd: []string{"sh"}}, layerOf(t, dir("etc"), file("etc/hostname", "h\n")))
	want := reportOf(t, img)

	dir := t.TempDir()
	lp, err := layout.Write(filepath.Join(dir, "oci"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag("conformance/test:latest")
	if err != nil {
		t.Fatal(err)
	}
	if err := tarball.WriteToFile(filepath.Join(dir, "save.tar"), tag, img); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"oci", "save.tar"} {
		got, err := ReadReport(filepath.Join(dir, p))
		if err != nil {
			t.Fatalf("ReadReport(%s): %v", p, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ReadReport(%s) = %+v, want %+v", p, got, want)
		}
	}
	if _, err := ReadReport(filepath.Join(dir, "missing")); err == nil {
		t.Error("ReadReport(missing) succeeded")
	}
}

func TestReportFileRoundTrip(t *testing.T) {
	r := reportOf(t, imageOf(t, &v1.Config{Env: []string{"A=1"}}, layerOf(t, file("a", "x"), ent{name: "b", typ: tar.TypeLink, link: "a"})))
	f := filepath.Join(t.TempDir(), "r.json")
	if err := r.WriteFile(f); err != nil {
		t.Fatal(err)
	}
	got, err := ReadReportFile(f)
	if err != nil {
		t.Fatal(err)
	}
	if d := Diff(r, got, "written", "read"); len(d) != 0 {
		t.Errorf("report changed through a file: %v", d)
	}
}
