package sbom_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/strata-build/strata/internal/sbom"
)

// compile compiles the schema at url from the files in testdata/schema,
// each added under its $id.
func compile(t testing.TB, url string, files map[string]string) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	for id, name := range files {
		raw, err := os.ReadFile(filepath.Join("testdata", "schema", name))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("reading %s: %v", name, err)
		}
		if err := c.AddResource(id, doc); err != nil {
			t.Fatalf("adding %s: %v", name, err)
		}
	}
	sch, err := c.Compile(url)
	if err != nil {
		t.Fatalf("compiling %s: %v", url, err)
	}
	return sch
}

func validate(t testing.TB, sch *jsonschema.Schema, data []byte) error {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("decoding output: %v", err)
	}
	return sch.Validate(doc)
}

func spdxSchema(t testing.TB) *jsonschema.Schema {
	return compile(t, "http://spdx.org/rdf/terms/2.3", map[string]string{
		"http://spdx.org/rdf/terms/2.3": "spdx-2.3.schema.json",
	})
}

func cyclonedxSchema(t testing.TB) *jsonschema.Schema {
	return compile(t, "http://cyclonedx.org/schema/bom-1.5.schema.json", map[string]string{
		"http://cyclonedx.org/schema/bom-1.5.schema.json":  "bom-1.5.schema.json",
		"http://cyclonedx.org/schema/spdx.schema.json":     "spdx.schema.json",
		"http://cyclonedx.org/schema/jsf-0.82.schema.json": "jsf-0.82.schemax.json",
	})
}

func TestSPDXSchema(t *testing.T) {
	sch := spdxSchema(t)
	out := spdx(t, scan(t, fixture(t)[:3], sbom.Options{}))
	if err := validate(t, sch, out); err != nil {
		t.Errorf("SPDX output does not validate against the SPDX 2.3 schema: %v\n%s", err, out)
	}
	bad := bytes.Replace(out, []byte(`"spdxElementId"`), []byte(`"spdxElement"`), 1)
	if err := validate(t, sch, bad); err == nil {
		t.Error("a relationship without spdxElementId validates; the schema is not applied")
	}
	for _, want := range []string{
		`"documentNamespace": "https://strata.build/spdx/`,
		`"created": "1970-01-01T00:00:00Z"`,
		`"referenceLocator": "pkg:deb/debian/curl@7.88.1-10%2Bdeb12u5?arch=amd64\u0026distro=debian-12"`,
		`"licenseDeclared": "curl AND LicenseRef-public-domain"`,
		`"licenseDeclared": "MIT"`,
		`"comment": "layer 1 (sha256:`,
		`"relationshipType": "DESCRIBES"`,
		`"relationshipType": "CONTAINS"`,
		`"licenseId": "LicenseRef-public-domain"`,
	} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("SPDX output lacks %s", want)
		}
	}
}

func TestCycloneDXSchema(t *testing.T) {
	sch := cyclonedxSchema(t)
	out := cyclonedx(t, scan(t, fixture(t)[:3], sbom.Options{}))
	if err := validate(t, sch, out); err != nil {
		t.Errorf("CycloneDX output does not validate against the CycloneDX 1.5 schema: %v\n%s", err, out)
	}
	bad := bytes.Replace(out, []byte(`"type": "library"`), []byte(`"type": "libary"`), 1)
	if err := validate(t, sch, bad); err == nil {
		t.Error("a component of an unknown type validates; the schema is not applied")
	}
	for _, want := range []string{
		`"specVersion": "1.5"`,
		`"serialNumber": "urn:uuid:`,
		`"purl": "pkg:npm/%40types/node@20.11.5"`,
		`"id": "Apache-2.0"`,
		`"name": "strata:source"`,
		`"value": "Dockerfile:2 RUN apt-get install -y curl"`,
	} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("CycloneDX output lacks %s", want)
		}
	}
}
