package cli

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestImagesFormatAndFilter(t *testing.T) {
	root := t.TempDir()
	id := importBusybox(t, root)
	mustStrata(t, root, nil, "tag", "busybox:test", "example.com/team/app:v1")
	list := func(args ...string) string {
		t.Helper()
		return mustStrata(t, root, nil, append([]string{"images", "--format", "{{.Repository}}:{{.Tag}}"}, args...)...)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "busybox:test\nexample.com/team/app:v1\n"},
		{[]string{"--filter", "reference=busy*"}, "busybox:test\n"},
		{[]string{"-f", "reference=example.com/*/*:v1"}, "example.com/team/app:v1\n"},
		{[]string{"-f", "reference=nothing", "-f", "reference=busybox:test"}, "busybox:test\n"},
		{[]string{"-f", "label=org.example.x", "-f", "reference=busybox"}, "busybox:test\n"},
		{[]string{"-f", "label=org.example.x=a b", "-f", "reference=busybox"}, "busybox:test\n"},
		{[]string{"-f", "label=org.example.x=other"}, ""},
		{[]string{"-f", "dangling=true"}, ""},
		{[]string{"-f", "dangling=false", "-f", "reference=busybox"}, "busybox:test\n"},
		{[]string{"-f", "before=busybox:test"}, ""},
	} {
		got := list(c.args...)
		if c.args == nil {
			got = strings.Join(sortedLines(got), "")
		}
		if got != c.want {
			t.Errorf("images %v = %q, want %q", c.args, got, c.want)
		}
	}
	var l imageLine
	first, _, _ := strings.Cut(mustStrata(t, root, nil, "images", "--format", "json", "--no-trunc", "busybox"), "\n")
	if err := json.Unmarshal([]byte(first), &l); err != nil || l.ID != id || l.Repository != "busybox" || l.Tag != "test" || l.Size == "" || l.CompressedSize == "" {
		t.Errorf("images --format json = %q (%v)", first, err)
	}
	out := mustStrata(t, root, nil, "images", "--format", "table {{.Repository}}\t{{.Size}}", "busybox")
	if !strings.HasPrefix(out, "REPOSITORY   SIZE\nbusybox      ") {
		t.Errorf("images --format table = %q", out)
	}
	for _, bad := range []string{"nope=1", "dangling=maybe", "noequals"} {
		if _, errs, code := strata(t, root, nil, "images", "-f", bad); code != exitUsage || !strings.Contains(errs, "invalid --filter") {
			t.Errorf("images -f %s = exit %d, %q", bad, code, errs)
		}
	}
}

func sortedLines(s string) []string {
	lines := strings.SplitAfter(s, "\n")
	lines = lines[:len(lines)-1] // after the last newline
	slices.Sort(lines)
	return lines
}
