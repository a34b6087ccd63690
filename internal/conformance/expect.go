package conformance

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
)

// Expectation is what a case states about its image from the Dockerfile
// reference, for features Docker 20.10 cannot build (or as extra checks).
// Only what it names is checked.
type Expectation struct {
	// Config maps config fields (as in Report.Config) to their expected
	// JSON; null means the field must be absent.
	Config map[string]json.RawMessage `json:"config,omitempty"`
	// Files maps absolute paths to what they must be.
	Files map[string]ExpectedFile `json:"files,omitempty"`
	// Absent lists paths that must not exist.
	Absent []string `json:"absent,omitempty"`
}

// ExpectedFile is what an expectation says about one path; empty fields
// are not checked.
type ExpectedFile struct {
	Type    string  `json:"type,omitempty"`
	Mode    string  `json:"mode,omitempty"` // octal, "0755" or "4755"
	UID     *int    `json:"uid,omitempty"`
	GID     *int    `json:"gid,omitempty"`
	Content *string `json:"content,omitempty"` // the whole content of a file
	Link    string  `json:"link,omitempty"`
	// HardLinks is the first name of the file in sort order when it has
	// more than one (see File.HardLinks).
	HardLinks string `json:"hardlinks,omitempty"`
}

// Check lists how r differs from e; a multi-platform report is checked
// platform by platform.
func Check(r *Report, e Expectation) ([]Difference, error) {
	if len(r.Platforms) > 0 {
		return checkPlatforms(r, e)
	}
	var out []Difference
	for _, k := range slices.Sorted(maps.Keys(e.Config)) {
		want, err := canonicalJSON(e.Config[k])
		if err != nil {
			return nil, fmt.Errorf("parsing expected config field %s: %w", k, err)
		}
		if got := r.Config[k]; !bytes.Equal(got, want) {
			out = append(out, Difference{"config." + k, fmt.Sprintf("expected %s, got %s", showJSON(want), showJSON(got))})
		}
	}
	for _, p := range slices.Sorted(maps.Keys(e.Files)) {
		d, err := checkFile(r, p, e.Files[p])
		if err != nil {
			return nil, err
		}
		out = append(out, d...)
	}
	for _, p := range e.Absent {
		if f, ok := r.Files[p]; ok {
			out = append(out, Difference{p, fmt.Sprintf("expected absent, got %s", describe(f))})
		}
	}
	return out, nil
}

func checkFile(r *Report, p string, want ExpectedFile) ([]Difference, error) {
	got, ok := r.Files[p]
	if !ok {
		return []Difference{{p, "expected to exist, missing"}}, nil
	}
	var out []Difference
	check := func(what string, w, g any) {
		if fmt.Sprint(w) != fmt.Sprint(g) {
			out = append(out, Difference{p, fmt.Sprintf("%s expected %v, got %v", what, w, g)})
		}
	}
	if want.Type != "" {
		check("type", want.Type, got.Type)
	}
	if want.Mode != "" {
		m, err := strconv.ParseUint(want.Mode, 8, 32)
		if err != nil {
			return nil, fmt.Errorf("parsing expected mode of %s: %w", p, err)
		}
		check("mode", octal(uint32(m)), octal(got.Mode))
	}
	if want.UID != nil {
		check("uid", *want.UID, got.UID)
	}
	if want.GID != nil {
		check("gid", *want.GID, got.GID)
	}
	if want.Content != nil {
		sum := sha256.Sum256([]byte(*want.Content))
		if hex.EncodeToString(sum[:]) != got.SHA256 {
			out = append(out, Difference{p, fmt.Sprintf("content expected %q (%dB), got %dB sha256 %s", *want.Content, len(*want.Content), got.Size, short(got.SHA256))})
		}
	}
	if want.Link != "" {
		check("link", want.Link, got.Link)
	}
	if want.HardLinks != "" {
		check("hardlinked-with", want.HardLinks, orNone(got.HardLinks))
	}
	return out, nil
}
