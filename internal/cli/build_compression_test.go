package cli

import (
	"bytes"
	"context"
	"fmt"
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
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/strata-build/strata/internal/layer"
	"github.com/strata-build/strata/internal/store"
)

// checkLayers checks what validate.Image checks of layers, for any
// compression (validate reads gzip only): each blob has its digest and
// size, and its tar the diff ID the config lists.
func checkLayers(t *testing.T, img v1.Image) error {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	if len(cf.RootFS.DiffIDs) != len(m.Layers) {
		return fmt.Errorf("%d diff IDs for %d layers", len(cf.RootFS.DiffIDs), len(m.Layers))
	}
	for i, d := range m.Layers {
		l, err := img.LayerByDigest(d.Digest)
		if err != nil {
			return err
		}
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		blob, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		if h, n, _ := v1.SHA256(bytes.NewReader(blob)); h != d.Digest || n != d.Size {
			return fmt.Errorf("layer %d: blob %s/%d, manifest says %s/%d", i, h, n, d.Digest, d.Size)
		}
		tr, err := layer.Decompress(bytes.NewReader(blob))
		if err != nil {
			return err
		}
		h, _, err := v1.SHA256(tr)
		if err != nil {
			return fmt.Errorf("layer %d (%s): %w", i, d.MediaType, err)
		}
		if h != cf.RootFS.DiffIDs[i] {
			return fmt.Errorf("layer %d (%s): tar %s, config says %s", i, d.MediaType, h, cf.RootFS.DiffIDs[i])
		}
	}
	return nil
}

// compressionContext is a build context whose one RUN step makes a layer
// of random and text bytes, echoing a marker when it runs.
func compressionContext(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	df := "FROM busybox\nRUN echo step-$((40+2)) && head -c 300000 /dev/urandom > /random && seq 1 100000 > /text\nCMD [\"cat\", \"/text\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// tagImage is ref's image in the store at root.
func tagImage(t *testing.T, root, ref string) v1.Image {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h, err := st.Resolve(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := st.Image(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// layerTypes lists img's layer media types, bottom first.
func layerTypes(t *testing.T, img v1.Image) []types.MediaType {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	var out []types.MediaType
	for _, l := range m.Layers {
		out = append(out, l.MediaType)
	}
	return out
}

func sameTypes(got []types.MediaType, want ...types.MediaType) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

// TestBuildCompressionZstd: --compression zstd gives the step's layer zstd
// (the base keeps gzip); the image runs, saves and loads back; a rebuild
// in gzip runs no step and keeps the layers as they are; force-compression
// converts the base layer too, keeping every diff ID.
func TestBuildCompressionZstd(t *testing.T) {
	root := buildRoot(t)
	dir := compressionContext(t)
	_, stderr, code := strata(t, root, nil, "build", "--progress=plain", "--compression", "zstd", "-t", "app:zstd", dir)
	if code != 0 || !strings.Contains(stderr, "step-42") {
		t.Fatalf("zstd build = exit %d\n%s", code, stderr)
	}
	img := tagImage(t, root, "app:zstd")
	if got := layerTypes(t, img); !sameTypes(got, types.OCILayer, types.OCILayerZStd) {
		t.Errorf("zstd build layer types = %v, want the base's gzip and the step's zstd", got)
	}
	if err := checkLayers(t, img); err != nil {
		t.Errorf("checkLayers(t, zstd build) = %v", err)
	}
	if out, errs, code := strata(t, root, nil, "run", "app:zstd"); code != 0 || !strings.HasSuffix(out, "99999\n100000\n") {
		t.Errorf("strata run app:zstd = exit %d, %d bytes\n%s", code, len(out), errs)
	}

	// save, then load into another store: in OCI format the image is the
	// same, in Docker's its layers are.
	for _, format := range []string{"oci", "docker"} {
		archive := filepath.Join(t.TempDir(), "app.tar")
		mustStrata(t, root, nil, "save", "--format", format, "-o", archive, "app:zstd")
		other := buildRoot(t)
		mustStrata(t, other, nil, "load", "-i", archive)
		loaded := tagImage(t, other, "app:zstd")
		if got, want := mustDigest(t, loaded), mustDigest(t, img); format == "oci" && got != want {
			t.Errorf("image loaded from an OCI archive = %s, want %s", got, want)
		}
		if got, want := diffIDs(t, loaded), diffIDs(t, img); got != want {
			t.Errorf("image loaded from a %s archive has diff IDs %s, want %s", format, got, want)
		}
		if err := checkLayers(t, loaded); err != nil {
			t.Errorf("image loaded from a %s archive: %v", format, err)
		}
		if out, errs, code := strata(t, other, nil, "run", "app:zstd"); code != 0 || !strings.HasSuffix(out, "100000\n") {
			t.Errorf("strata run of app:zstd loaded from a %s archive = exit %d\n%s", format, code, errs)
		}
	}

	// The same build in gzip: no step runs, the cached zstd layer stays.
	_, stderr, code = strata(t, root, nil, "build", "--progress=plain", "-t", "app:gzip", dir)
	if code != 0 || strings.Contains(stderr, "step-42") {
		t.Errorf("gzip rebuild = exit %d, want no step run\n%s", code, stderr)
	}
	if got := layerTypes(t, tagImage(t, root, "app:gzip")); !sameTypes(got, types.OCILayer, types.OCILayerZStd) {
		t.Errorf("gzip rebuild layer types = %v, want the layers kept as they were", got)
	}

	// force-compression converts every layer; diff IDs stay.
	_, stderr, code = strata(t, root, nil, "build", "--progress=plain", "-t", "app:forced",
		"--output", "type=image,compression=gzip,force-compression=true", dir)
	if code != 0 || strings.Contains(stderr, "step-42") {
		t.Errorf("forced gzip build = exit %d, want no step run\n%s", code, stderr)
	}
	forced := tagImage(t, root, "app:forced")
	if got := layerTypes(t, forced); !sameTypes(got, types.OCILayer, types.OCILayer) {
		t.Errorf("forced gzip layer types = %v, want gzip twice", got)
	}
	_, stderr, code = strata(t, root, nil, "build", "--progress=plain", "-t", "app:allzstd",
		"--output", "type=image,compression=zstd,force-compression=true", dir)
	if code != 0 {
		t.Fatalf("forced zstd build = exit %d\n%s", code, stderr)
	}
	all := tagImage(t, root, "app:allzstd")
	if got := layerTypes(t, all); !sameTypes(got, types.OCILayerZStd, types.OCILayerZStd) {
		t.Errorf("forced zstd layer types = %v, want zstd twice", got)
	}
	if err := checkLayers(t, all); err != nil {
		t.Errorf("checkLayers(t, forced zstd) = %v", err)
	}
	for _, i := range []v1.Image{forced, all} {
		if a, b := diffIDs(t, i), diffIDs(t, img); a != b {
			t.Errorf("diff IDs after conversion = %s, want %s", a, b)
		}
	}
}

func mustDigest(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	h, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func diffIDs(t *testing.T, img v1.Image) string {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, d := range cf.RootFS.DiffIDs {
		s = append(s, d.String())
	}
	return strings.Join(s, ",")
}

// TestBuildCompressionOutputs: each output gets its own compression: an
// OCI layout and a docker archive in zstd, a push in zstd with OCI media
// types, and with oci-mediatypes=false BuildKit's Docker zstd type; all
// read back.
func TestBuildCompressionOutputs(t *testing.T) {
	root := buildRoot(t)
	dir := compressionContext(t)
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	ref := strings.TrimPrefix(srv.URL, "http://") + "/strata/zstd:1"
	out := t.TempDir()
	oci := filepath.Join(out, "oci")
	docker := filepath.Join(out, "img.tar")
	mustStrata(t, root, nil, "build", "--progress=quiet", "-t", ref,
		"--output", "type=image",
		"--output", "type=registry,compression=zstd,force-compression=true",
		"--output", "type=oci,dest="+oci+",compression=zstd",
		"--output", "type=docker,dest="+docker+",compression=zstd", dir)

	if got := layerTypes(t, tagImage(t, root, ref)); !sameTypes(got, types.OCILayer, types.OCILayer) {
		t.Errorf("type=image layer types = %v, want gzip (the default)", got)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	pushed, err := remote.Image(r, remote.WithTransport(http.DefaultTransport))
	if err != nil {
		t.Fatalf("pulling the pushed image: %v", err)
	}
	if mt, _ := pushed.MediaType(); mt != types.OCIManifestSchema1 {
		t.Errorf("pushed manifest = %s, want %s", mt, types.OCIManifestSchema1)
	}
	if got := layerTypes(t, pushed); !sameTypes(got, types.OCILayerZStd, types.OCILayerZStd) {
		t.Errorf("pushed layer types = %v, want zstd twice (force-compression)", got)
	}
	if err := checkLayers(t, pushed); err != nil {
		t.Errorf("checkLayers(t, pushed zstd) = %v", err)
	}
	// A fresh store pulls it and runs it: its zstd layers extract.
	fresh := t.TempDir()
	mustStrata(t, fresh, nil, "pull", ref)
	if out, errs, code := strata(t, fresh, nil, "run", ref); code != 0 || !strings.HasSuffix(out, "100000\n") {
		t.Errorf("strata run of the pulled zstd image = exit %d\n%s", code, errs)
	}

	idx, d := onlyLayoutEntry(t, oci)
	ociImg, err := idx.Image(d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	// The push converted the base layer: the OCI output reuses that
	// variant, where it would have kept the base layer's gzip.
	if got := layerTypes(t, ociImg); !sameTypes(got, types.OCILayerZStd, types.OCILayerZStd) {
		t.Errorf("OCI layout layer types = %v, want zstd twice (the step's, and the base's stored variant)", got)
	}
	if err := checkLayers(t, ociImg); err != nil {
		t.Errorf("checkLayers(t, OCI layout) = %v", err)
	}
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	dimg, err := tarball.ImageFromPath(docker, &tag)
	if err != nil {
		t.Fatalf("reading the docker archive: %v", err)
	}
	if err := checkLayers(t, dimg); err != nil {
		t.Errorf("checkLayers(t, docker archive) = %v", err)
	}

	dockerRef := strings.TrimPrefix(srv.URL, "http://") + "/strata/zstd:docker"
	// The gzip build's step is cached: the zstd build runs none.
	_, stderr, code := strata(t, root, nil, "build", "--progress=plain", "-t", dockerRef,
		"--output", "type=registry,compression=zstd,oci-mediatypes=false", dir)
	if code != 0 || strings.Contains(stderr, "step-42") || !strings.Contains(stderr, "(0 steps run") {
		t.Errorf("zstd rebuild of a gzip build = exit %d, want no step run\n%s", code, stderr)
	}
	r, _ = name.ParseReference(dockerRef)
	dpushed, err := remote.Image(r, remote.WithTransport(http.DefaultTransport))
	if err != nil {
		t.Fatal(err)
	}
	if got := layerTypes(t, dpushed); !sameTypes(got, "application/vnd.docker.image.rootfs.diff.tar.zstd", "application/vnd.docker.image.rootfs.diff.tar.zstd") {
		t.Errorf("oci-mediatypes=false layer types = %v, want Docker's gzip and zstd types as BuildKit writes them", got)
	}
}

// TestBuildCompressionBadOptions: compression options are checked before
// any step runs, and an unknown --output key is named.
func TestBuildCompressionBadOptions(t *testing.T) {
	root := buildRoot(t)
	dir := compressionContext(t)
	local := filepath.Join(t.TempDir(), "out")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--output", "type=image,compresion=zstd"}, `unknown key "compresion"`},
		{[]string{"--output", "type=image,compression=lz4"}, `unsupported compression type "lz4"`},
		{[]string{"--output", "type=image,compression=zstd,compression-level=23"}, "zstd compression level 23 is not in 1..22"},
		{[]string{"--output", "type=image,compression-level=x"}, `non-integer value "x" specified for compression-level`},
		{[]string{"--output", "type=image,force-compression=maybe"}, `non-bool value "maybe" specified for force-compression`},
		{[]string{"--output", "type=local,dest=" + local + ",compression=zstd"}, "compression applies to image, registry, oci and docker outputs, not type=local"},
		{[]string{"--compression", "brotli"}, `invalid --compression "brotli"`},
		{[]string{"--compression-level", "10"}, "invalid --compression-level 10: gzip compression level 10 is not in 1..9"},
		{[]string{"--compression-level", "19", "--output", "type=image,compression=gzip"}, "invalid --compression-level 19: gzip compression level 19 is not in 1..9"},
		{[]string{"--compression", "uncompressed", "--compression-level", "3"}, "uncompressed layers take no compression level"},
	}
	for _, tt := range tests {
		args := append(append([]string{"build", "--progress=plain", "-t", "bad:1"}, tt.args...), dir)
		_, stderr, code := strata(t, root, nil, args...)
		if code != 2 || !strings.Contains(stderr, tt.want) || strings.Contains(stderr, "step-42") {
			t.Errorf("strata %v = exit %d, %q; want exit 2 and %q before any step", tt.args, code, stderr, tt.want)
		}
	}
	// zstd levels go to 22 (--compression-level applies to an output's
	// compression=), and uncompressed layers are plain tars.
	mustStrata(t, root, nil, "build", "--progress=quiet", "--compression", "zstd", "--compression-level", "19", "-t", "ok:19", dir)
	mustStrata(t, root, nil, "build", "--progress=quiet", "--compression-level", "19", "--output", "type=image,compression=zstd", "-t", "ok:19", dir)
	mustStrata(t, root, nil, "build", "--progress=quiet", "--no-cache", "--compression", "uncompressed", "-t", "ok:tar", dir)
	img := tagImage(t, root, "ok:tar")
	if got := layerTypes(t, img); !sameTypes(got, types.OCILayer, types.OCIUncompressedLayer) {
		t.Errorf("uncompressed build layer types = %v", got)
	}
	if err := checkLayers(t, img); err != nil {
		t.Errorf("checkLayers(t, uncompressed) = %v", err)
	}
	m, _ := img.Manifest()
	cf, _ := img.ConfigFile()
	if m.Layers[1].Digest != cf.RootFS.DiffIDs[1] {
		t.Errorf("uncompressed layer digest %s, diff ID %s: want them equal", m.Layers[1].Digest, cf.RootFS.DiffIDs[1])
	}
}

// TestBuildCompressionIndex: an index result (an image and its
// provenance) exported in another compression than the build's gets its
// image's layers converted and its attestation made again about it.
func TestBuildCompressionIndex(t *testing.T) {
	root := buildRoot(t)
	dir := compressionContext(t)
	oci := filepath.Join(t.TempDir(), "oci")
	mustStrata(t, root, nil, "build", "--progress=quiet", "--provenance=true", "-t", "idx:1",
		"--output", "type=image", "--output", "type=oci,dest="+oci+",compression=zstd", dir)
	top, d := onlyLayoutEntry(t, oci)
	if !d.MediaType.IsIndex() {
		t.Fatalf("OCI layout entry = %v; want an index", d)
	}
	idx, err := top.ImageIndex(d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil || len(im.Manifests) != 2 {
		t.Fatalf("index = %v, %v; want the image and its attestation manifest", im, err)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	if got := layerTypes(t, img); !sameTypes(got, types.OCILayer, types.OCILayerZStd) {
		t.Errorf("layer types = %v, want the base's gzip and the step's zstd", got)
	}
	if err := checkLayers(t, img); err != nil {
		t.Error(err)
	}
	if ref := im.Manifests[1].Annotations["vnd.docker.reference.digest"]; ref != im.Manifests[0].Digest.String() {
		t.Errorf("attestation manifest refers to %s, want the zstd image %s", ref, im.Manifests[0].Digest)
	}
}
