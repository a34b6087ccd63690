package sbom

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"
)

// readPython reads a dist-info METADATA or egg-info PKG-INFO file (email
// headers): Name, Version and the licence from License-Expression, else
// License (when it is a name, not the licence text), else the License ::
// classifiers.
func readPython(abs, p string) ([]Package, error) {
	f, err := os.Open(abs)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var name, version, expr, lic string
	var classifiers []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			break // the body (description) follows
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t") {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "Name":
			name = v
		case "Version":
			version = v
		case "License-Expression":
			expr = v
		case "License":
			lic = v
		case "Classifier":
			if strings.HasPrefix(v, "License ::") {
				if id := classifierLicense(v); id != "" {
					classifiers = append(classifiers, id)
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if name == "" || version == "" {
		return nil, nil
	}
	return []Package{{Type: "pypi", Name: name, Version: version, Licenses: pythonLicenses(expr, lic, classifiers), Path: p}}, nil
}

// pythonLicenses picks a distribution's licences: License-Expression; else
// License when it names an SPDX licence; else the classifiers; else License
// when it reads as a name rather than the licence's text.
func pythonLicenses(expr, lic string, classifiers []string) []string {
	if expr != "" {
		return []string{normalizeLicense(expr)}
	}
	if l := normalizeLicense(lic); isSPDXID(l) || isSPDXExpression(l) {
		return []string{l}
	}
	if len(classifiers) > 0 {
		return classifiers
	}
	if lic == "" || lic == "UNKNOWN" || len(lic) > 64 || strings.Contains(strings.ToLower(lic), "copyright") {
		return nil
	}
	return []string{lic}
}

// npmManifest is the part of package.json the npm cataloger reads.
type npmManifest struct {
	Name     string            `json:"name"`
	Version  string            `json:"version"`
	License  json.RawMessage   `json:"license"`
	Licenses []json.RawMessage `json:"licenses"`
}

// readNpm reads node_modules/…/package.json: name, version and licence
// (a string, or the older {"type": …} object and "licenses" list).
func readNpm(abs, p string) ([]Package, error) {
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, err
	}
	var m npmManifest
	if err := json.Unmarshal(data, &m); err != nil || m.Name == "" || m.Version == "" {
		return nil, nil // not a package manifest
	}
	var lics []string
	for _, raw := range append([]json.RawMessage{m.License}, m.Licenses...) {
		if l := npmLicense(raw); l != "" {
			lics = append(lics, normalizeLicense(l))
		}
	}
	return []Package{{Type: "npm", Name: m.Name, Version: m.Version, Licenses: lics, Path: p}}, nil
}

// npmLicense reads a licence field: "MIT" or {"type": "MIT"}.
func npmLicense(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s)
	}
	var o struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(raw, &o) == nil {
		return strings.TrimSpace(o.Type)
	}
	return ""
}
