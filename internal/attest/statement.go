// Package attest owns supply-chain attestations as BuildKit attaches them:
// in-toto v1 statements over SPDX, CycloneDX and SLSA provenance v1
// predicates, the SLSA provenance predicate of a strata build, attestation
// manifests in an image index (vnd.docker.reference.type=attestation-manifest,
// platform unknown/unknown) and, through their subject, OCI 1.1 referrers.
//
// It is a leaf over go-containerregistry's values: it does no file or
// network I/O and may not import strata's build, cli, store, registry or
// sandbox packages; the build, the CLI and the tests bring images and
// stores to it.
package attest

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/package-url/packageurl-go"
)

// In-toto and Docker names, as BuildKit writes them.
const (
	// StatementType is the _type of an in-toto v1 statement.
	StatementType = "https://in-toto.io/Statement/v1"
	// PredicateSPDX is the predicate type of an SPDX document.
	PredicateSPDX = "https://spdx.dev/Document"
	// PredicateCycloneDX is the predicate type of a CycloneDX BOM.
	PredicateCycloneDX = "https://cyclonedx.org/bom"
	// PredicateSLSA1 is the predicate type of SLSA provenance v1.
	PredicateSLSA1 = "https://slsa.dev/provenance/v1"

	// MediaType is the media type of a statement blob (a layer of an
	// attestation manifest).
	MediaType = "application/vnd.in-toto+json"
	// AnnotationPredicateType names a statement layer's predicate type.
	AnnotationPredicateType = "in-toto.io/predicate-type"
	// AnnotationReferenceType marks an index entry as an attestation manifest.
	AnnotationReferenceType = "vnd.docker.reference.type"
	// AnnotationReferenceDigest is the digest of the image an attestation
	// manifest attests.
	AnnotationReferenceDigest = "vnd.docker.reference.digest"
	// ReferenceTypeAttestation is the value of AnnotationReferenceType.
	ReferenceTypeAttestation = "attestation-manifest"
	// ArtifactType is the artifactType of an attestation manifest written as
	// an OCI artifact (BuildKit's oci-artifact=true).
	ArtifactType = "application/vnd.docker.attestation.manifest.v1+json"
)

// Statement is an in-toto v1 statement; fields are in the order BuildKit
// writes them.
type Statement struct {
	Type          string          `json:"_type"`
	PredicateType string          `json:"predicateType"`
	Subject       []Subject       `json:"subject"`
	Predicate     json.RawMessage `json:"predicate"`
}

// Subject is what a statement is about: an image manifest by name and digest.
type Subject struct {
	Name   string            `json:"name,omitempty"`
	Digest map[string]string `json:"digest"`
}

// Predicate is a predicate before it has a subject: its type and its JSON.
type Predicate struct {
	Type string
	Data []byte
}

// NewStatement is the statement of p about subjects.
func NewStatement(p Predicate, subjects []Subject) (Statement, error) {
	if !json.Valid(p.Data) {
		return Statement{}, fmt.Errorf("making %s statement: predicate is not JSON", p.Type)
	}
	return Statement{Type: StatementType, PredicateType: p.Type, Subject: subjects, Predicate: p.Data}, nil
}

// Subjects are the subjects BuildKit gives an image's statements: one per
// image name, as a package URL with the platform
// ("pkg:docker/library/app@1.0?platform=linux%2Famd64"), with the image
// manifest's digest. An image without a name gets one subject with the
// digest alone (BuildKit writes none, which in-toto v1 does not allow).
func Subjects(names []string, platform v1.Platform, image v1.Hash) ([]Subject, error) {
	digest := map[string]string{image.Algorithm: image.Hex}
	var out []Subject
	for _, n := range names {
		if n == "" {
			continue
		}
		u, err := DockerPURL(n, &platform)
		if err != nil {
			return nil, err
		}
		out = append(out, Subject{Name: u, Digest: digest})
	}
	if len(out) == 0 {
		out = []Subject{{Digest: digest}}
	}
	return out, nil
}

// DockerPURL is BuildKit's package URL of an image reference (purl.RefToPURL
// with type docker): the familiar name, the tag as version (latest when the
// reference has neither tag nor digest), the digest and the normalised
// platform as qualifiers.
func DockerPURL(ref string, platform *v1.Platform) (string, error) {
	return refPURL(packageurl.TypeDocker, ref, platform)
}

func refPURL(typ, ref string, platform *v1.Platform) (string, error) {
	rest, dgst, canonical := strings.Cut(ref, "@")
	var quals packageurl.Qualifiers
	version := ""
	var repo name.Repository
	if canonical {
		d, err := name.NewDigest(ref)
		if err != nil {
			return "", fmt.Errorf("parsing reference %q: %w", ref, err)
		}
		repo = d.Context()
		quals = append(quals, packageurl.Qualifier{Key: "digest", Value: dgst})
		if t, err := name.NewTag(rest); err == nil && hasTag(rest) {
			version = t.TagStr()
		}
	} else {
		t, err := name.NewTag(rest)
		if err != nil {
			return "", fmt.Errorf("parsing reference %q: %w", ref, err)
		}
		repo, version = t.Context(), t.TagStr()
	}
	ns, base := "", familiar(repo)
	if i := strings.LastIndex(base, "/"); i >= 0 {
		ns, base = base[:i], base[i+1:]
	}
	if platform != nil {
		quals = append(quals, packageurl.Qualifier{Key: "platform", Value: FormatPlatform(*platform)})
	}
	return packageurl.NewPackageURL(typ, ns, base, version, quals, "").ToString(), nil
}

// hasTag reports whether a reference without digest names a tag.
func hasTag(ref string) bool {
	i := strings.LastIndex(ref, ":")
	return i > strings.LastIndex(ref, "/")
}

// familiar is Docker's familiar name of repo: Docker Hub's registry and
// "library/" left out.
func familiar(repo name.Repository) string {
	r := repo.RepositoryStr()
	if repo.RegistryStr() != name.DefaultRegistry {
		return repo.RegistryStr() + "/" + r
	}
	return strings.TrimPrefix(r, "library/")
}

// FormatPlatform is containerd's normalised "os/arch[/variant]": arm64's v8
// and amd64's v1 are dropped, arm without a variant is arm/v7.
func FormatPlatform(p v1.Platform) string {
	v := p.Variant
	switch {
	case p.Architecture == "arm64" && v == "v8", p.Architecture == "amd64" && v == "v1":
		v = ""
	case p.Architecture == "arm" && v == "":
		v = "v7"
	}
	s := p.OS + "/" + p.Architecture
	if v != "" {
		s += "/" + v
	}
	return s
}
