package registry

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// ociIndex is a two-platform OCI index of OCI images.
func ociIndex(t *testing.T) v1.ImageIndex {
	t.Helper()
	oci := func(arch string) v1.Image {
		return mutate.ConfigMediaType(mutate.MediaType(platformImage(t, arch), types.OCIManifestSchema1), types.OCIConfigJSON)
	}
	return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: oci("amd64"), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: oci("arm64"), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}})
}

// TestPushIndexFallsBackToManifestList: a registry that refuses OCI
// manifests gets a Docker manifest list of schema 2 manifests, with a
// warning; each platform pulls back with the same config.
func TestPushIndexFallsBackToManifestList(t *testing.T) {
	ctx := context.Background()
	host := serve(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") &&
				strings.HasPrefix(r.Header.Get("Content-Type"), "application/vnd.oci.") {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				w.Write([]byte(`{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid","detail":"unsupported media type"}]}`))
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	var warns []string
	c := testClient(Options{Warn: func(m string) { warns = append(warns, m) }})
	idx := ociIndex(t)
	ref := host + "/app:multi"
	if err := c.PushIndex(ctx, ref, idx); err != nil {
		t.Fatalf("PushIndex to a registry without OCI = %v", err)
	}
	if len(warns) != 1 || !strings.Contains(warns[0], "refused an OCI image index") {
		t.Errorf("warnings = %q, want one saying a manifest list was pushed instead", warns)
	}
	r, _ := name.ParseReference(ref)
	got, err := remote.Index(r)
	if err != nil {
		t.Fatal(err)
	}
	if mt, _ := got.MediaType(); mt != types.DockerManifestList {
		t.Errorf("pushed index media type = %s, want %s", mt, types.DockerManifestList)
	}
	if err := validate.Index(got); err != nil {
		t.Errorf("validate.Index: %v", err)
	}
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := c.PullPlatform(ctx, ref, "linux/"+arch)
		if err != nil {
			t.Fatal(err)
		}
		if mt, _ := img.MediaType(); mt != types.DockerManifestSchema2 {
			t.Errorf("%s: manifest media type %s", arch, mt)
		}
		cf, err := img.ConfigFile()
		if err != nil || cf.Architecture != arch {
			t.Errorf("%s: config %v, %v", arch, cf, err)
		}
	}
	// A registry that takes OCI gets the index as it is.
	plain := serve(t, nil)
	if err := c.PushIndex(ctx, plain+"/app:multi", idx); err != nil {
		t.Fatal(err)
	}
	pr, _ := name.ParseReference(plain + "/app:multi")
	d, err := remote.Head(pr)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := idx.Digest(); d.Digest != want || d.MediaType != types.OCIImageIndex {
		t.Errorf("OCI registry has %s %s, want the index %s unchanged", d.MediaType, d.Digest, want)
	}
}

// TestDockerImageLayerTypes: Docker media types for each compression, as
// BuildKit's oci-mediatypes=false writes them (zstd as containerd's
// Docker-style zstd type); blobs and diff IDs stay.
func TestDockerImageLayerTypes(t *testing.T) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	for _, mt := range []types.MediaType{types.OCILayer, types.OCILayerZStd, types.OCIUncompressedLayer} {
		l, err := random.Layer(64, mt)
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.Append(img, mutate.Addendum{Layer: l, MediaType: mt}); err != nil {
			t.Fatal(err)
		}
	}
	d, err := DockerImage(img)
	if err != nil {
		t.Fatal(err)
	}
	m, err := d.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	want := []types.MediaType{types.DockerLayer, DockerZstdLayer, types.DockerUncompressedLayer}
	src, _ := img.Manifest()
	for i, l := range m.Layers {
		if l.MediaType != want[i] || l.Digest != src.Layers[i].Digest {
			t.Errorf("layer %d = %s %s, want %s %s", i, l.MediaType, l.Digest, want[i], src.Layers[i].Digest)
		}
	}
	if m.MediaType != types.DockerManifestSchema2 {
		t.Errorf("manifest media type = %s, want %s", m.MediaType, types.DockerManifestSchema2)
	}
}
