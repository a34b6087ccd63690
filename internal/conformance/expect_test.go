package conformance

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestCheck(t *testing.T) {
	r := &Report{
		Config: map[string]json.RawMessage{"Cmd": json.RawMessage(`["sh"]`), "User": json.RawMessage(`"app"`)},
		Files: map[string]File{
			"/app/run": {Type: "file", Mode: 0o755, UID: 1000, GID: 1000, Size: 3, SHA256: sum("hi\n")},
			"/app/ln":  {Type: "symlink", Mode: 0o777, Link: "run"},
			"/tmp":     {Type: "dir", Mode: 0o1777},
		},
	}
	var e Expectation
	if err := json.Unmarshal([]byte(`{
		"config": {"Cmd": ["sh"], "User": "root", "Entrypoint": null, "Env": null},
		"files": {
			"/app/run": {"type": "file", "mode": "0755", "uid": 1000, "gid": 0, "content": "hi\n"},
			"/app/ln": {"link": "other"},
			"/tmp": {"mode": "1777", "content": "x"},
			"/missing": {}
		},
		"absent": ["/tmp", "/gone"]
	}`), &e); err != nil {
		t.Fatal(err)
	}
	diffs, err := Check(r, e)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range diffs {
		got = append(got, d.String())
	}
	want := []string{
		`config.User: expected "root", got "app"`,
		`/app/ln: link expected other, got run`,
		`/app/run: gid expected 0, got 1000`,
		`/missing: expected to exist, missing`,
		`/tmp: content expected "x" (1B), got 0B sha256 `,
		`/tmp: expected absent, got dir 1777 0:0`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Check() =\n%q\nwant\n%q", got, want)
	}
}

func TestCheckBadMode(t *testing.T) {
	r := &Report{Files: map[string]File{"/a": {Type: "file"}}}
	if _, err := Check(r, Expectation{Files: map[string]ExpectedFile{"/a": {Mode: "rwx"}}}); err == nil {
		t.Error("Check(mode rwx) succeeded, want an error")
	}
}
