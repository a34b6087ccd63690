package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestComparePackages: the delta counts each image's packages once and
// lists what B lost and gained; the table shows "A → B (-removed)", json
// the lists, and an unknown side shows "-".
func TestComparePackages(t *testing.T) {
	d := ComparePackages(
		[]string{"deb/gcc-12@12.2.0", "deb/libc6@2.36", "deb/libc6@2.36", "golang/stdlib@1.26.8"},
		[]string{"deb/libc6@2.36", "golang/example.com/app@(devel)"})
	if d.A != 3 || d.B != 2 {
		t.Errorf("counts %d → %d, want 3 → 2", d.A, d.B)
	}
	if strings.Join(d.Removed, " ") != "deb/gcc-12@12.2.0 golang/stdlib@1.26.8" || strings.Join(d.Added, " ") != "golang/example.com/app@(devel)" {
		t.Errorf("removed %v, added %v", d.Removed, d.Added)
	}
	with := Comparison{A: ImageFigures{Name: "a"}, B: ImageFigures{Name: "b"}, Packages: d}
	without := Comparison{A: ImageFigures{Name: "c"}, B: ImageFigures{Name: "d"}}
	var table bytes.Buffer
	if err := WriteComparisons(&table, []Comparison{with, without}, "table"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(table.String(), "\n")
	if !strings.Contains(lines[0], "PACKAGES") || !strings.Contains(lines[1], "3 → 2 (-2)") {
		t.Errorf("table:\n%s", table.String())
	}
	var js bytes.Buffer
	if err := WriteComparisons(&js, []Comparison{with, without}, "json"); err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	if err := json.Unmarshal(js.Bytes(), &rows); err != nil || len(rows) != 2 {
		t.Fatalf("json %s: %v", js.String(), err)
	}
	if _, ok := rows[1]["packages"]; ok {
		t.Errorf("unknown packages written as %v, want the key left out", rows[1]["packages"])
	}
	if p, ok := rows[0]["packages"].(map[string]any); !ok || len(p["removed"].([]any)) != 2 {
		t.Errorf("json packages = %v", rows[0]["packages"])
	}
}
