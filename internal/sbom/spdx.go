package sbom

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/common"
	"github.com/spdx/tools-golang/spdx/v2/v2_3"
)

// DocumentOptions name the image an SBOM document describes. Every field
// but Name may be empty; the same options and SBOM give the same bytes.
type DocumentOptions struct {
	// Name is the image's name ("myapp:1.0"); it names the document and
	// the image's own package.
	Name string
	// Digest is the image's manifest digest ("sha256:…"); the SPDX
	// namespace and the CycloneDX serial number derive from it.
	Digest string
	// Namespace overrides the SPDX document namespace.
	Namespace string
	// Created is the document's creation time (strata passes
	// SOURCE_DATE_EPOCH); the zero time writes the epoch.
	Created time.Time
	// Tool names the creating tool ("strata-1.2.0"); default "strata".
	Tool string
}

func (o DocumentOptions) tool() string {
	if o.Tool == "" {
		return "strata"
	}
	return o.Tool
}

// namespace is the SPDX document namespace: the given one, else a URI
// derived from the name and digest alone.
func (o DocumentOptions) namespace() string {
	if o.Namespace != "" {
		return o.Namespace
	}
	key := o.Digest
	if key == "" {
		key = o.Name
	}
	sum := sha256.Sum256([]byte(o.Name + "\x00" + key))
	return "https://strata.build/spdx/" + purlEscape(o.name()) + "-" + hex.EncodeToString(sum[:16])
}

// created is the creation time as RFC 3339 in UTC; the zero time is the
// epoch.
func (o DocumentOptions) created() string {
	if o.Created.IsZero() {
		return time.Unix(0, 0).UTC().Format(time.RFC3339)
	}
	return o.Created.UTC().Format(time.RFC3339)
}

func (o DocumentOptions) name() string {
	if o.Name == "" {
		return "image"
	}
	return o.Name
}

// WriteSPDX writes s as an SPDX 2.3 JSON document: the image as the
// described package containing every package, each with its purl, licences
// and, in its comment, the layer and Dockerfile line that added it.
func WriteSPDX(w io.Writer, s *SBOM, o DocumentOptions) error {
	doc := &v2_3.Document{
		SPDXVersion:       v2_3.Version,
		DataLicense:       v2_3.DataLicense,
		SPDXIdentifier:    "DOCUMENT",
		DocumentName:      o.name(),
		DocumentNamespace: o.namespace(),
		CreationInfo: &v2_3.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: o.tool()}},
			Created:  o.created(),
		},
	}
	root := &v2_3.Package{
		PackageName:             o.name(),
		PackageSPDXIdentifier:   "Image",
		PackageVersion:          o.Digest,
		PackageDownloadLocation: "NOASSERTION",
		PrimaryPackagePurpose:   "CONTAINER",
	}
	doc.Packages = append(doc.Packages, root)
	doc.Relationships = append(doc.Relationships, &v2_3.Relationship{
		RefA: common.MakeDocElementID("", "DOCUMENT"), RefB: common.MakeDocElementID("", "Image"), Relationship: "DESCRIBES",
	})
	ids := map[string]bool{}
	var refs licenseRefs
	for _, p := range s.Packages {
		id := spdxElementID(p, ids)
		declared := spdxLicense(p.Licenses, doc, &refs)
		sp := &v2_3.Package{
			PackageName:             displayName(p),
			PackageSPDXIdentifier:   common.ElementID(id),
			PackageVersion:          p.Version,
			PackageDownloadLocation: "NOASSERTION",
			PackageLicenseConcluded: "NOASSERTION",
			PackageLicenseDeclared:  declared,
			PackageComment:          origin(p),
			PackageSourceInfo:       "found in " + location(p),
			PrimaryPackagePurpose:   primaryPurpose(p),
		}
		if p.PURL != "" {
			sp.PackageExternalReferences = []*v2_3.PackageExternalReference{{Category: "PACKAGE-MANAGER", RefType: "purl", Locator: p.PURL}}
		}
		doc.Packages = append(doc.Packages, sp)
		doc.Relationships = append(doc.Relationships, &v2_3.Relationship{
			RefA: common.MakeDocElementID("", "Image"), RefB: common.MakeDocElementID("", id), Relationship: "CONTAINS",
		})
	}
	if err := spdxjson.Write(doc, w, spdxjson.Indent("  ")); err != nil {
		return fmt.Errorf("writing spdx document: %w", err)
	}
	return nil
}

// spdxElementID is a stable SPDX id for p (without the SPDXRef- prefix),
// unique among ids.
func spdxElementID(p Package, ids map[string]bool) string {
	sum := sha256.Sum256([]byte(p.PURL + "\x00" + p.Path + "\x00" + p.Location))
	base := "Package-" + p.Type + "-" + idSafe(displayName(p)) + "-" + hex.EncodeToString(sum[:8])
	id := base
	for i := 2; ids[id]; i++ {
		id = fmt.Sprintf("%s-%d", base, i)
	}
	ids[id] = true
	return id
}

// idSafe keeps the characters an SPDX id allows (letters, digits, . and -).
func idSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '.' || r == '-' {
			return r
		}
		return '-'
	}, s)
}

// spdxLicense is the licenseDeclared of licences: SPDX ids and expressions
// as they are (several joined with AND), other names as LicenseRef-s added
// to doc's extracted licences once each; NOASSERTION when there are none.
func spdxLicense(lics []string, doc *v2_3.Document, refs *licenseRefs) string {
	if len(lics) == 0 {
		return "NOASSERTION"
	}
	parts := make([]string, 0, len(lics))
	for _, l := range lics {
		switch {
		case isSPDXID(l):
			parts = append(parts, l)
		case isSPDXExpression(l):
			parts = append(parts, "("+l+")")
		default:
			ref, added := refs.ref(l)
			if added {
				doc.OtherLicenses = append(doc.OtherLicenses, &v2_3.OtherLicense{
					LicenseIdentifier: ref,
					LicenseName:       l,
					ExtractedText:     fmt.Sprintf("The package metadata names the licence %q.", l),
				})
			}
			parts = append(parts, ref)
		}
	}
	if len(parts) == 1 {
		return strings.TrimSuffix(strings.TrimPrefix(parts[0], "("), ")")
	}
	return strings.Join(parts, " AND ")
}

// licenseRefs names licences that are not SPDX ids: LicenseRef-<name>,
// with a number added when two names read the same once made safe.
type licenseRefs struct {
	byName map[string]string
	taken  map[string]bool
}

// ref is name's LicenseRef and whether it is new.
func (r *licenseRefs) ref(name string) (string, bool) {
	if ref, ok := r.byName[name]; ok {
		return ref, false
	}
	if r.byName == nil {
		r.byName, r.taken = map[string]string{}, map[string]bool{}
	}
	base := "LicenseRef-" + idSafe(name)
	ref := base
	for i := 2; r.taken[ref]; i++ {
		ref = fmt.Sprintf("%s-%d", base, i)
	}
	r.byName[name], r.taken[ref] = ref, true
	return ref, true
}

// displayName is p's name as users know it (Maven: group:artifact).
func displayName(p Package) string {
	if p.Type == "maven" && p.Group != "" {
		return p.Group + ":" + p.Name
	}
	return p.Name
}

// location is the file that declares p (and where inside it).
func location(p Package) string {
	if p.Location != "" {
		return p.Path + "!/" + p.Location
	}
	return p.Path
}

// origin says which layer added p and what made that layer.
func origin(p Package) string {
	s := fmt.Sprintf("layer %d", p.Layer)
	if p.LayerDiffID != "" {
		s += " (" + p.LayerDiffID + ")"
	}
	if p.Source != "" {
		s += ": " + p.Source
	}
	return s
}

func primaryPurpose(p Package) string {
	switch {
	case p.Type == "golang" && p.Main:
		return "APPLICATION"
	case p.Type == "deb" || p.Type == "apk":
		return "INSTALL"
	}
	return "LIBRARY"
}
