package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// DockerIndex is idx with Docker's media types, as BuildKit's
// oci-mediatypes=false writes it: a manifest list of Docker schema 2
// manifests, Docker config and layer types. The blobs are the same bytes,
// so only the manifests (and so the digests) change. Attestation manifests
// are left out (their subjects name the OCI images); dropped counts them.
func DockerIndex(idx v1.ImageIndex) (list v1.ImageIndex, dropped int, err error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, 0, err
	}
	out := *m
	out.MediaType = types.DockerManifestList
	out.Manifests = nil
	images := map[v1.Hash]v1.Image{}
	for _, d := range m.Manifests {
		if d.Annotations[attestationTypeKey] == attestationType {
			dropped++
			continue
		}
		if !d.MediaType.IsImage() {
			return nil, 0, fmt.Errorf("index entry %s: %s cannot go into a Docker manifest list", d.Digest, d.MediaType)
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return nil, 0, err
		}
		dimg, err := DockerImage(img)
		if err != nil {
			return nil, 0, err
		}
		desc, err := partial.Descriptor(dimg)
		if err != nil {
			return nil, 0, err
		}
		desc.Platform, desc.Annotations = d.Platform, d.Annotations
		out.Manifests = append(out.Manifests, *desc)
		images[desc.Digest] = dimg
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return nil, 0, err
	}
	h, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return nil, 0, err
	}
	return &listIndex{raw: raw, h: h, images: images}, dropped, nil
}

// DockerZstdLayer is the Docker-style media type of a zstd layer.
const DockerZstdLayer types.MediaType = "application/vnd.docker.image.rootfs.diff.tar.zstd"

// The annotation BuildKit marks attestation manifests in an index with.
const (
	attestationTypeKey = "vnd.docker.reference.type"
	attestationType    = "attestation-manifest"
)

// DockerImage is img with Docker's schema 2 media types.
func DockerImage(img v1.Image) (v1.Image, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	out := *m
	out.MediaType = types.DockerManifestSchema2
	out.Config.MediaType = types.DockerConfigJSON
	out.Layers = make([]v1.Descriptor, len(m.Layers))
	for i, l := range m.Layers {
		switch l.MediaType {
		case types.OCILayer:
			l.MediaType = types.DockerLayer
		case types.OCIUncompressedLayer:
			l.MediaType = types.DockerUncompressedLayer
		case types.OCILayerZStd:
			// As BuildKit's oci-mediatypes=false writes it (containerd's
			// MediaTypeDockerSchema2LayerZstd, which containerd reads).
			l.MediaType = DockerZstdLayer
		}
		out.Layers[i] = l
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return nil, err
	}
	return partial.CompressedToImage(&dockerImage{src: img, raw: raw, cfg: cfg})
}

type dockerImage struct {
	src      v1.Image
	raw, cfg []byte
}

func (i *dockerImage) MediaType() (types.MediaType, error) { return types.DockerManifestSchema2, nil }
func (i *dockerImage) RawManifest() ([]byte, error)        { return i.raw, nil }
func (i *dockerImage) RawConfigFile() ([]byte, error)      { return i.cfg, nil }

func (i *dockerImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	return i.src.LayerByDigest(h)
}

// listIndex is an index over images held in memory.
type listIndex struct {
	raw    []byte
	h      v1.Hash
	images map[v1.Hash]v1.Image
}

func (i *listIndex) MediaType() (types.MediaType, error) { return types.DockerManifestList, nil }
func (i *listIndex) Digest() (v1.Hash, error)            { return i.h, nil }
func (i *listIndex) Size() (int64, error)                { return int64(len(i.raw)), nil }
func (i *listIndex) RawManifest() ([]byte, error)        { return i.raw, nil }

func (i *listIndex) IndexManifest() (*v1.IndexManifest, error) {
	return v1.ParseIndexManifest(bytes.NewReader(i.raw))
}

func (i *listIndex) Image(h v1.Hash) (v1.Image, error) {
	img, ok := i.images[h]
	if !ok {
		return nil, fmt.Errorf("image %s is not in the manifest list", h)
	}
	return img, nil
}

func (i *listIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	return nil, fmt.Errorf("index %s is not in the manifest list", h)
}

// refusesOCIIndex reports whether a registry's answer to an OCI index
// says it does not take that media type (old registries answer 400
// MANIFEST_INVALID or 415): then a Docker manifest list is pushed instead.
func refusesOCIIndex(err error) bool {
	var te *transport.Error
	if !errors.As(err, &te) {
		return false
	}
	if te.StatusCode == http.StatusUnsupportedMediaType {
		return true
	}
	for _, d := range te.Errors {
		if d.Code == transport.ManifestInvalidErrorCode || d.Code == transport.UnsupportedErrorCode {
			return true
		}
	}
	return false
}
