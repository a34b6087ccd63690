package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestHistoryFormat(t *testing.T) {
	root := t.TempDir()
	id := importBusybox(t, root)
	out := mustStrata(t, root, nil, "history", "--format", "{{.ID}}|{{.CreatedBy}}|{{.Comment}}", "busybox:test")
	if want := strings.TrimPrefix(id, "sha256:")[:12] + "||busybox for tests\n"; out != want {
		t.Errorf("history --format template = %q, want %q", out, want)
	}
	out = mustStrata(t, root, nil, "history", "--format", `table {{.ID}}\t{{.CreatedSince}}\t{{.Size}}`, "busybox:test")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "IMAGE        ") || !strings.Contains(lines[0], "CREATED ") || !strings.HasSuffix(lines[0], "SIZE") {
		t.Errorf("history --format table = %q", out)
	}
	var l historyLine
	if err := json.Unmarshal([]byte(mustStrata(t, root, nil, "history", "--format", "json", "--no-trunc", "busybox:test")), &l); err != nil {
		t.Fatal(err)
	}
	if l.ID != id || l.Comment != "busybox for tests" || l.Size == "" || l.Size == "0B" {
		t.Errorf("history --format json = %+v", l)
	}
	if out := mustStrata(t, root, nil, "history", "-H=false", "--format", "{{.Size}}", "busybox:test"); strings.ContainsAny(out, "kMB") {
		t.Errorf("history -H=false size = %q, want bytes", out)
	}
	if _, errs, code := strata(t, root, nil, "history", "--format", "{{.Nope}}", "busybox:test"); code != exitFailure || !strings.Contains(errs, "can't evaluate field Nope") {
		t.Errorf("history with an unknown field = exit %d, %q", code, errs)
	}
}

func TestDfFormat(t *testing.T) {
	root := t.TempDir()
	importBusybox(t, root)
	out := mustStrata(t, root, nil, "df", "--format", "{{.Type}}: {{.TotalCount}}")
	if want := "Images: 1\nExtracted layers: 0\nBuild cache: 0\nCache mounts: 0\n"; out != want {
		t.Errorf("df --format = %q, want %q", out, want)
	}
	first, _, _ := strings.Cut(mustStrata(t, root, nil, "df", "--format", "json"), "\n")
	var l dfLine
	if err := json.Unmarshal([]byte(first), &l); err != nil || l.Type != "Images" || l.TotalCount != "1" || !strings.HasSuffix(l.Reclaimable, "%)") {
		t.Errorf("df --format json first line = %q (%v)", first, err)
	}
	out = mustStrata(t, root, nil, "df", "--format", "table {{.Type}}\t{{.TotalCount}}")
	if !strings.HasPrefix(out, "TYPE               TOTAL\nImages             1\n") {
		t.Errorf("df --format table = %q", out)
	}
}
