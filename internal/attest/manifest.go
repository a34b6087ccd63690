package attest

import (
	"bytes"
	"encoding/json"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Form is how an attestation manifest is written.
type Form int

const (
	// FormArtifact is BuildKit v0.34's default (compatibility version 30,
	// oci-artifact=true): artifactType
	// application/vnd.docker.attestation.manifest.v1+json, the empty JSON
	// config, and a subject naming the image, so registries with the OCI
	// 1.1 referrers API list it as a referrer of the image.
	FormArtifact Form = iota
	// FormImage is BuildKit's oci-artifact=false (its default before
	// compatibility version 30, as in BuildKit 0.15): an image config of platform unknown/unknown whose diff IDs are
	// the statements' digests, and no subject.
	FormImage
	// FormDocker is FormImage with Docker's media types, as BuildKit
	// writes it with oci-mediatypes=false: a Docker schema 2 manifest and
	// config, statement layers without annotations, in a Docker manifest
	// list. Its images must be Docker schema 2 images.
	FormDocker
)

// FormFor is the form BuildKit's image exporter options give (each "true",
// "false" or "" when not set): oci-artifact defaults to true with OCI
// media types; with oci-mediatypes=false it is FormDocker, and
// oci-artifact=true is an error, as in BuildKit.
func FormFor(ociArtifact, ociMediaTypes string) (Form, error) {
	art, err := parseBool("oci-artifact", ociArtifact, true)
	if err != nil {
		return 0, err
	}
	oci, err := parseBool("oci-mediatypes", ociMediaTypes, true)
	if err != nil {
		return 0, err
	}
	switch {
	case !oci && ociArtifact != "" && art:
		return 0, fmt.Errorf(`output option "oci-artifact=true" conflicts with "oci-mediatypes=false"`)
	case !oci:
		return FormDocker, nil
	case art:
		return FormArtifact, nil
	}
	return FormImage, nil
}

func parseBool(key, v string, def bool) (bool, error) {
	switch v {
	case "":
		return def, nil
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, fmt.Errorf("parsing %s=%q: want true or false", key, v)
}

// Manifest is the attestation manifest of stmts about the image manifest
// subject, byte for byte as BuildKit's commitAttestationsManifest writes it
// (OCI media types; indented JSON; one application/vnd.in-toto+json layer
// per statement, annotated with its predicate type).
func Manifest(subject v1.Descriptor, stmts []Statement, form Form) (v1.Image, error) {
	blobs := map[v1.Hash]v1.Layer{}
	layers := make([]ocispec.Descriptor, 0, len(stmts))
	for _, s := range stmts {
		raw, err := json.Marshal(s)
		if err != nil {
			return nil, fmt.Errorf("encoding %s statement: %w", s.PredicateType, err)
		}
		l := static.NewLayer(raw, types.MediaType(MediaType))
		h, _ := l.Digest()
		blobs[h] = l
		layers = append(layers, ocispec.Descriptor{
			MediaType:   MediaType,
			Digest:      digest.Digest(h.String()),
			Size:        int64(len(raw)),
			Annotations: map[string]string{AnnotationPredicateType: s.PredicateType},
		})
	}
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.DescriptorEmptyJSON,
		Layers:    layers,
	}
	cfg := m.Config.Data
	switch form {
	case FormArtifact:
		m.ArtifactType = ArtifactType
		m.Subject = &ocispec.Descriptor{
			MediaType: string(subject.MediaType),
			Digest:    digest.Digest(subject.Digest.String()),
			Size:      subject.Size,
		}
	case FormImage, FormDocker:
		var err error
		if cfg, err = imageConfig(layers); err != nil {
			return nil, err
		}
		m.Config = ocispec.Descriptor{
			MediaType: ocispec.MediaTypeImageConfig,
			Digest:    digest.FromBytes(cfg),
			Size:      int64(len(cfg)),
		}
		if form == FormDocker {
			m.MediaType, m.Config.MediaType = string(types.DockerManifestSchema2), string(types.DockerConfigJSON)
			for i := range m.Layers {
				m.Layers[i].Annotations = nil
			}
		}
	default:
		return nil, fmt.Errorf("making attestation manifest: unknown form %d", form)
	}
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding attestation manifest: %w", err)
	}
	img, err := partial.CompressedToImage(&manifestImage{mt: types.MediaType(m.MediaType), raw: raw, cfg: cfg, blobs: blobs})
	if err != nil {
		return nil, fmt.Errorf("making attestation manifest: %w", err)
	}
	return img, nil
}

// imageConfig is BuildKit's attestationsConfig: an image of platform
// unknown/unknown whose diff IDs are the statement digests.
func imageConfig(layers []ocispec.Descriptor) ([]byte, error) {
	img := ocispec.Image{Platform: ocispec.Platform{Architecture: "unknown", OS: "unknown"}}
	img.RootFS.Type = "layers"
	for _, l := range layers {
		img.RootFS.DiffIDs = append(img.RootFS.DiffIDs, l.Digest)
	}
	raw, err := json.Marshal(img)
	if err != nil {
		return nil, fmt.Errorf("encoding attestation config: %w", err)
	}
	return raw, nil
}

// manifestImage is an attestation manifest held in memory.
type manifestImage struct {
	mt    types.MediaType
	raw   []byte
	cfg   []byte
	blobs map[v1.Hash]v1.Layer
}

var _ partial.CompressedImageCore = (*manifestImage)(nil)

func (i *manifestImage) MediaType() (types.MediaType, error) { return i.mt, nil }
func (i *manifestImage) RawManifest() ([]byte, error)        { return i.raw, nil }
func (i *manifestImage) RawConfigFile() ([]byte, error)      { return i.cfg, nil }

func (i *manifestImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if l, ok := i.blobs[h]; ok {
		return l, nil
	}
	if c, _, err := v1.SHA256(bytes.NewReader(i.cfg)); err == nil && c == h {
		return static.NewLayer(i.cfg, types.OCIConfigJSON), nil
	}
	return nil, fmt.Errorf("blob %s is not in the attestation manifest", h)
}
