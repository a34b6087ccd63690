package lint

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// TestSARIFValidatesAgainstSchema validates a log with findings of every
// severity against the SARIF 2.1.0 JSON schema (the OASIS schema, rtm.5,
// kept in testdata from the MIT-licensed @microsoft/jest-sarif package, as
// GitHub code scanning uses it).
func TestSARIFValidatesAgainstSchema(t *testing.T) {
	src := "FROM golang:1.24 as build\nMAINTAINER me\nRUN go build -o /app\nCMD app\n"
	var findings []Finding
	for _, rule := range []string{"FromAsCasing", "JSONArgsRecommended", "MaintainerDeprecated", "SDKFinalStage"} {
		findings = append(findings, lintOne(t, src, rule, nil)...)
	}
	if len(findings) < 3 {
		t.Fatalf("only %d findings to validate", len(findings))
	}
	var buf bytes.Buffer
	if err := WriteSARIF(&buf, Rules(), findings, "Dockerfile"); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("testdata/sarif-2.1.0-rtm.5.json")
	if err != nil {
		t.Fatal(err)
	}
	schemaDoc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("sarif-2.1.0.json", schemaDoc); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile("sarif-2.1.0.json")
	if err != nil {
		t.Fatalf("compiling the SARIF schema: %v", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("WriteSARIF wrote invalid JSON: %v", err)
	}
	if err := schema.Validate(doc); err != nil {
		t.Errorf("the SARIF log is not valid against the 2.1.0 schema: %v", err)
	}
	// The schema check must be able to fail: a log without "runs" is invalid.
	var bad map[string]any
	json.Unmarshal(buf.Bytes(), &bad)
	delete(bad, "runs")
	b, _ := json.Marshal(bad)
	badDoc, _ := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if schema.Validate(badDoc) == nil {
		t.Error("a SARIF log without runs validated: the schema check is not working")
	}
}
