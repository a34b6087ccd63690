package conformance

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestDiff(t *testing.T) {
	docker := &Report{
		Config: map[string]json.RawMessage{"Cmd": json.RawMessage(`["sh"]`), "User": json.RawMessage(`"app"`)},
		Files: map[string]File{
			"/":      {Type: "dir", Mode: 0o755},
			"/a":     {Type: "file", Mode: 0o644, Size: 1, SHA256: "aaaa"},
			"/b":     {Type: "file", Mode: 0o4755, UID: 1, GID: 2, Size: 1, SHA256: "bbbb"},
			"/c":     {Type: "symlink", Mode: 0o777, Link: "a"},
			"/d":     {Type: "dir", Mode: 0o755},
			"/d/x":   {Type: "file", Mode: 0o644},
			"/d/y":   {Type: "dir", Mode: 0o755},
			"/d/y/z": {Type: "file", Mode: 0o644},
			"/e":     {Type: "file", Mode: 0o644, Size: 2, SHA256: "eeee", HardLinks: "/e"},
			"/f":     {Type: "file", Mode: 0o644, Size: 2, SHA256: "eeee", HardLinks: "/e"},
		},
	}
	strata := &Report{
		Config: map[string]json.RawMessage{"Cmd": json.RawMessage(`["/bin/sh"]`), "Env": json.RawMessage(`["A=1"]`), "User": json.RawMessage(`"app"`)},
		Files: map[string]File{
			"/":    {Type: "dir", Mode: 0o755},
			"/a":   {Type: "file", Mode: 0o644, Size: 1, SHA256: "aaab"},
			"/b":   {Type: "file", Mode: 0o755, Size: 1, SHA256: "bbbb"},
			"/c":   {Type: "file", Mode: 0o644},
			"/e":   {Type: "file", Mode: 0o644, Size: 2, SHA256: "eeee"},
			"/f":   {Type: "file", Mode: 0o644, Size: 2, SHA256: "eeee"},
			"/g":   {Type: "dir", Mode: 0o700},
			"/g/h": {Type: "file", Mode: 0o644},
		},
	}
	var got []string
	for _, d := range Diff(docker, strata, "docker", "strata") {
		got = append(got, d.String())
	}
	want := []string{
		`config.Cmd: docker ["sh"], strata ["/bin/sh"]`,
		`config.Env: docker (absent), strata ["A=1"]`,
		`/a: content docker aaaa, strata aaab`,
		`/b: mode docker 4755, strata 0755; owner docker 1:2, strata 0:0`,
		`/c: type docker symlink 0777 0:0 -> a, strata file 0644 0:0 0B`,
		`/d: only in docker (dir 0755 0:0) (and 3 paths below)`,
		`/e: hardlinked-with docker /e, strata (none)`,
		`/f: hardlinked-with docker /e, strata (none)`,
		`/g: only in strata (dir 0700 0:0) (and 1 paths below)`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Diff() =\n%q\nwant\n%q", got, want)
	}
	if d := Diff(docker, docker, "a", "b"); len(d) != 0 {
		t.Errorf("Diff(r, r) = %v, want none", d)
	}
}

func TestDiffFoldsOnlyTheSameSide(t *testing.T) {
	a := &Report{Files: map[string]File{"/d": {Type: "dir"}}}
	b := &Report{Files: map[string]File{"/d/x": {Type: "file"}}}
	var got []string
	for _, d := range Diff(a, b, "a", "b") {
		got = append(got, d.String())
	}
	want := []string{"/d: only in a (dir 0000 0:0)", "/d/x: only in b (file 0000 0:0 0B)"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Diff() = %q, want %q", got, want)
	}
}
