package lint

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestSARIF checks the log against the properties SARIF 2.1.0's schema
// requires (sarifLog: version, runs; run: tool; tool: driver; driver: name;
// reportingDescriptor: id; result: message; message: text; region:
// startLine >= 1) and what code scanning reads (ruleId, locations, levels).
func TestSARIF(t *testing.T) {
	src := "FROM golang:1.24 as build\nRUN go build -o /app\nCMD app\n"
	var buf bytes.Buffer
	findings := lintOne(t, src, "FromAsCasing", nil)
	findings = append(findings, lintOne(t, src, "JSONArgsRecommended", nil)...)
	if err := WriteSARIF(&buf, Rules(), findings, "Dockerfile"); err != nil {
		t.Fatal(err)
	}
	var log map[string]any
	if err := json.Unmarshal(buf.Bytes(), &log); err != nil {
		t.Fatalf("WriteSARIF wrote invalid JSON: %v", err)
	}
	if log["version"] != "2.1.0" {
		t.Errorf("version = %v, want 2.1.0", log["version"])
	}
	runs := list(t, log, "runs")
	if len(runs) != 1 {
		t.Fatalf("runs = %d, want 1", len(runs))
	}
	run := runs[0].(map[string]any)
	driver := obj(t, obj(t, run, "tool"), "driver")
	if driver["name"] != "strata" {
		t.Errorf("driver.name = %v", driver["name"])
	}
	ids := map[string]bool{}
	for _, r := range list(t, driver, "rules") {
		rule := r.(map[string]any)
		id, _ := rule["id"].(string)
		if id == "" {
			t.Errorf("rule without id: %v", rule)
		}
		ids[id] = true
		if obj(t, rule, "shortDescription")["text"] == "" {
			t.Errorf("rule %s: empty shortDescription", id)
		}
	}
	results := list(t, run, "results")
	if len(results) != 2 {
		t.Fatalf("results = %d, want 2", len(results))
	}
	levels := map[any]bool{"none": true, "note": true, "warning": true, "error": true}
	for _, r := range results {
		res := r.(map[string]any)
		if text, _ := obj(t, res, "message")["text"].(string); text == "" {
			t.Errorf("result without message text: %v", res)
		}
		if !ids[res["ruleId"].(string)] || !levels[res["level"]] {
			t.Errorf("result ruleId %v / level %v not valid", res["ruleId"], res["level"])
		}
		idx := int(res["ruleIndex"].(float64))
		if got := list(t, driver, "rules")[idx].(map[string]any)["id"]; got != res["ruleId"] {
			t.Errorf("ruleIndex %d names %v, want %v", idx, got, res["ruleId"])
		}
		for _, l := range list(t, res, "locations") {
			phys := obj(t, l.(map[string]any), "physicalLocation")
			if obj(t, phys, "artifactLocation")["uri"] != "Dockerfile" {
				t.Errorf("uri = %v", phys["artifactLocation"])
			}
			if line, _ := obj(t, phys, "region")["startLine"].(float64); line < 1 {
				t.Errorf("startLine = %v, want >= 1", line)
			}
		}
	}
}

func obj(t *testing.T, m map[string]any, key string) map[string]any {
	t.Helper()
	v, ok := m[key].(map[string]any)
	if !ok {
		t.Fatalf("%q missing or not an object in %v", key, m)
	}
	return v
}

func list(t *testing.T, m map[string]any, key string) []any {
	t.Helper()
	v, ok := m[key].([]any)
	if !ok {
		t.Fatalf("%q missing or not an array in %v", key, m)
	}
	return v
}
