package cli

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
)

// TestLintExamples: the examples' multi-stage Dockerfiles lint clean and
// their traditional ones trip the size rules (those listed here, at least).
func TestLintExamples(t *testing.T) {
	tests := []struct {
		example string
		want    []string // rules the traditional Dockerfile must trip
	}{
		{"go", []string{"SDKFinalStage", "FinalStageRoot", "DependencyCacheMount"}},
		{"node", []string{"BuildToolsInFinalStage", "SourceBeforeManifests", "FinalStageRoot"}},
		{"python", []string{"BuildToolsInFinalStage", "SourceBeforeManifests", "FinalStageRoot"}},
		{"java", []string{"SDKFinalStage", "FinalStageRoot", "DependencyCacheMount"}},
		{"advanced", nil},
	}
	for _, tt := range tests {
		dir, err := filepath.Abs(filepath.Join("../../examples", tt.example))
		if err != nil {
			t.Fatal(err)
		}
		if got := lintRules(t, filepath.Join(dir, "Dockerfile"), dir); len(got) != 0 {
			t.Errorf("strata lint examples/%s/Dockerfile = %q, want no findings", tt.example, got)
		}
		if tt.want == nil {
			continue
		}
		got := lintRules(t, filepath.Join(dir, "Dockerfile.traditional"), dir)
		for _, rule := range tt.want {
			if !slices.Contains(got, rule) {
				t.Errorf("strata lint examples/%s/Dockerfile.traditional = %q, want %s among them", tt.example, got, rule)
			}
		}
	}
}

func lintRules(t *testing.T, file, dir string) []string {
	t.Helper()
	out, errs, code := strata(t, t.TempDir(), nil, "lint", "--format", "json", "--fail-on", "none", "-f", file, dir)
	if code != 0 {
		t.Fatalf("strata lint %s = exit %d: %s", file, code, errs)
	}
	var findings []struct {
		Rule string `json:"rule"`
	}
	if err := json.Unmarshal([]byte(out), &findings); err != nil {
		t.Fatalf("decoding lint JSON of %s: %v\n%s", file, err, out)
	}
	var rules []string
	for _, f := range findings {
		rules = append(rules, f.Rule)
	}
	return rules
}
