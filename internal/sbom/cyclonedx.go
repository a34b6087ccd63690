package sbom

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

// WriteCycloneDX writes s as a CycloneDX 1.5 JSON BOM: the image as the
// metadata component, every package a component with its purl, licences
// and the layer and source that added it as properties.
func WriteCycloneDX(w io.Writer, s *SBOM, o DocumentOptions) error {
	image := cdx.Component{
		BOMRef:  "image",
		Type:    cdx.ComponentTypeContainer,
		Name:    o.name(),
		Version: o.Digest,
	}
	bom := &cdx.BOM{
		JSONSchema:   "http://cyclonedx.org/schema/bom-1.5.schema.json",
		BOMFormat:    cdx.BOMFormat,
		SpecVersion:  cdx.SpecVersion1_5,
		SerialNumber: serialNumber(o),
		Version:      1,
		Metadata: &cdx.Metadata{
			Timestamp: o.created(),
			Tools: &cdx.ToolsChoice{Components: &[]cdx.Component{
				{Type: cdx.ComponentTypeApplication, Name: o.tool()},
			}},
			Component: &image,
		},
	}
	if s.Distro.ID != "" {
		bom.Metadata.Properties = &[]cdx.Property{{Name: "strata:distro", Value: strings.TrimSuffix(s.Distro.ID+" "+s.Distro.VersionID, " ")}}
	}
	ids := map[string]bool{}
	comps := make([]cdx.Component, 0, len(s.Packages))
	refs := make([]string, 0, len(s.Packages))
	for _, p := range s.Packages {
		c := cdx.Component{
			BOMRef:     spdxElementID(p, ids),
			Type:       cdx.ComponentTypeLibrary,
			Group:      p.Group,
			Name:       p.Name,
			Version:    p.Version,
			PackageURL: p.PURL,
			Licenses:   cdxLicenses(p.Licenses),
			Properties: cdxProperties(p),
		}
		if p.Type == "golang" && p.Main {
			c.Type = cdx.ComponentTypeApplication
		}
		comps = append(comps, c)
		refs = append(refs, c.BOMRef)
	}
	bom.Components = &comps
	bom.Dependencies = &[]cdx.Dependency{{Ref: image.BOMRef, Dependencies: &refs}}
	enc := cdx.NewBOMEncoder(w, cdx.BOMFileFormatJSON).SetPretty(true)
	if err := enc.EncodeVersion(bom, cdx.SpecVersion1_5); err != nil {
		return fmt.Errorf("writing cyclonedx bom: %w", err)
	}
	return nil
}

// serialNumber is a urn:uuid derived from the image's digest (a
// version-5-shaped UUID of its hash), the same for the same image.
func serialNumber(o DocumentOptions) string {
	key := o.Digest
	if key == "" {
		key = o.namespace()
	}
	sum := sha256.Sum256([]byte("strata-cyclonedx\x00" + key))
	u := sum[:16]
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u)
	return "urn:uuid:" + h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// cdxLicenses: SPDX ids as ids, other names as names; an expression (or
// several licences one of which is an expression) as one expression.
func cdxLicenses(lics []string) *cdx.Licenses {
	if len(lics) == 0 {
		return nil
	}
	var out cdx.Licenses
	exprs, valid := 0, true
	for _, l := range lics {
		switch {
		case isSPDXExpression(l):
			exprs++
		case !isSPDXID(l):
			valid = false
		}
	}
	if exprs > 0 && valid {
		parts := make([]string, len(lics))
		for i, l := range lics {
			parts[i] = l
			if len(lics) > 1 && isSPDXExpression(l) {
				parts[i] = "(" + l + ")"
			}
		}
		return &cdx.Licenses{{Expression: strings.Join(parts, " AND ")}}
	}
	for _, l := range lics {
		if isSPDXID(l) {
			out = append(out, cdx.LicenseChoice{License: &cdx.License{ID: l}})
		} else {
			out = append(out, cdx.LicenseChoice{License: &cdx.License{Name: l}})
		}
	}
	return &out
}

func cdxProperties(p Package) *[]cdx.Property {
	props := []cdx.Property{
		{Name: "strata:layer", Value: strconv.Itoa(p.Layer)},
	}
	if p.LayerDiffID != "" {
		props = append(props, cdx.Property{Name: "strata:layer:diffID", Value: p.LayerDiffID})
	}
	if p.Source != "" {
		props = append(props, cdx.Property{Name: "strata:source", Value: p.Source})
	}
	props = append(props, cdx.Property{Name: "strata:path", Value: location(p)})
	if p.GoVersion != "" {
		props = append(props, cdx.Property{Name: "strata:goVersion", Value: p.GoVersion})
	}
	if p.Sum != "" {
		props = append(props, cdx.Property{Name: "strata:goSum", Value: p.Sum})
	}
	return &props
}
