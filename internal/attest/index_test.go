package attest_test

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/strata-build/strata/internal/attest"
	"github.com/strata-build/strata/internal/registry"
	"github.com/strata-build/strata/internal/store"
)

var (
	amd64 = v1.Platform{OS: "linux", Architecture: "amd64"}
	arm64 = v1.Platform{OS: "linux", Architecture: "arm64"}
)

// testImage is a deterministic one-layer OCI image holding /file = content.
func testImage(t *testing.T, content string) v1.Image {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "file", Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte(content))
	tw.Close()
	raw := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{OS: "linux", Architecture: "amd64", RootFS: v1.RootFS{Type: "layers"}})
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.AppendLayers(img, l)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// formImage is testImage with Docker media types for FormDocker.
func formImage(t *testing.T, content string, form attest.Form) v1.Image {
	t.Helper()
	img := testImage(t, content)
	if form != attest.FormDocker {
		return img
	}
	img, err := registry.DockerImage(img)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestFormFor(t *testing.T) {
	for _, tt := range []struct {
		art, oci string
		want     attest.Form
		err      bool
	}{
		{"", "", attest.FormArtifact, false},
		{"true", "true", attest.FormArtifact, false},
		{"false", "", attest.FormImage, false},
		{"", "false", attest.FormDocker, false},
		{"false", "false", attest.FormDocker, false},
		{"true", "false", 0, true},
		{"yes", "", 0, true},
	} {
		got, err := attest.FormFor(tt.art, tt.oci)
		if (err != nil) != tt.err || err == nil && got != tt.want {
			t.Errorf("FormFor(%q, %q) = %v, %v; want %v (error %v)", tt.art, tt.oci, got, err, tt.want, tt.err)
		}
	}
}

func spdx(name string) attest.Predicate {
	return attest.Predicate{Type: attest.PredicateSPDX, Data: []byte(`{"spdxVersion":"SPDX-2.3","name":"` + name + `"}`)}
}

// TestIndexGolden holds the index, attestation manifests and statements to
// BuildKit's layout, for both forms.
func TestIndexGolden(t *testing.T) {
	for _, tt := range []struct {
		name string
		form attest.Form
	}{{"artifact", attest.FormArtifact}, {"image", attest.FormImage}, {"docker", attest.FormDocker}} {
		t.Run(tt.name, func(t *testing.T) {
			a, b := formImage(t, "amd64", tt.form), formImage(t, "arm64", tt.form)
			idx, err := attest.Index([]attest.Entry{
				{Image: a, Platform: amd64, Names: []string{"example.com/app:1.0"}, Predicates: []attest.Predicate{spdx("amd64")}},
				{Image: b, Platform: arm64},
			}, tt.form)
			if err != nil {
				t.Fatal(err)
			}
			m, err := idx.IndexManifest()
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Manifests) != 3 {
				t.Fatalf("index has %d entries, want 2 images and 1 attestation manifest", len(m.Manifests))
			}
			att, err := idx.Image(m.Manifests[2].Digest)
			if err != nil {
				t.Fatal(err)
			}
			attRaw, _ := att.RawManifest()
			cfg, _ := att.RawConfigFile()
			layers, _ := att.Layers()
			stmt, _ := layers[0].Compressed()
			stmtRaw, _ := io.ReadAll(stmt)
			idxRaw, _ := idx.RawManifest()
			var got bytes.Buffer
			for _, part := range []struct {
				title string
				raw   []byte
			}{{"index", idxRaw}, {"attestation manifest", attRaw}, {"attestation config", cfg}, {"statement", stmtRaw}} {
				got.WriteString("== " + part.title + "\n")
				got.Write(part.raw)
				got.WriteString("\n")
			}
			golden := filepath.Join("testdata", "index-"+tt.name+".txt")
			if *update {
				if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("Index(%s) =\n%s\nwant (%s)\n%s", tt.name, got.Bytes(), golden, want)
			}
		})
	}
}

// TestIndexWithoutPredicatesIsStoreIndex holds Index to store.NewIndex's
// bytes when nothing is attested, so turning attestations off changes
// nothing.
func TestIndexWithoutPredicatesIsStoreIndex(t *testing.T) {
	a, b := testImage(t, "amd64"), testImage(t, "arm64")
	got, err := attest.Index([]attest.Entry{{Image: a, Platform: amd64}, {Image: b, Platform: arm64}}, attest.FormArtifact)
	if err != nil {
		t.Fatal(err)
	}
	want, err := store.NewIndex([]store.IndexEntry{{Image: a, Platform: amd64}, {Image: b, Platform: arm64}})
	if err != nil {
		t.Fatal(err)
	}
	g, _ := got.RawManifest()
	w, _ := want.RawManifest()
	if !bytes.Equal(g, w) {
		t.Errorf("Index(no predicates) =\n%s\nwant store.NewIndex's\n%s", g, w)
	}
}

func TestImagesAndFind(t *testing.T) {
	a, b := testImage(t, "amd64"), testImage(t, "arm64")
	idx, err := attest.Index([]attest.Entry{
		{Image: a, Platform: amd64, Predicates: []attest.Predicate{spdx("a")}},
		{Image: b, Platform: arm64, Predicates: []attest.Predicate{spdx("b")}},
	}, attest.FormArtifact)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := attest.Images(idx)
	if err != nil {
		t.Fatal(err)
	}
	ha, _ := a.Digest()
	hb, _ := b.Digest()
	if len(ds) != 2 || ds[0].Digest != ha || ds[1].Digest != hb {
		t.Errorf("Images = %v, want [%s %s]", ds, ha, hb)
	}
	for _, tt := range []struct {
		h    v1.Hash
		name string
	}{{ha, "a"}, {hb, "b"}} {
		stmts, err := attest.Find(idx, tt.h)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct{ Name string }
		if len(stmts) != 1 || json.Unmarshal(stmts[0].Predicate, &doc) != nil || doc.Name != tt.name {
			t.Errorf("Find(%s) = %v, want the SPDX document %q", tt.h, stmts, tt.name)
		}
		if stmts[0].Subject[0].Digest["sha256"] != tt.h.Hex {
			t.Errorf("Find(%s) subject = %v, want the image digest", tt.h, stmts[0].Subject)
		}
	}
	plain := testImage(t, "other")
	hp, _ := plain.Digest()
	if _, err := attest.Find(idx, hp); !errors.Is(err, attest.ErrNone) {
		t.Errorf("Find(image without attestations) = %v, want ErrNone", err)
	}
}
