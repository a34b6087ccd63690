package sbom

import (
	"bufio"
	"bytes"
	"os"
	"path"
	"strings"
)

// readDpkg reads a dpkg status file (or one of distroless's status.d
// files): every package whose status is "installed" (status.d files have
// no Status field: all of theirs are).
func readDpkg(abs, p string) ([]Package, error) {
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, err
	}
	var out []Package
	for _, st := range stanzas(data) {
		name, version := st["Package"], st["Version"]
		if name == "" || version == "" {
			continue
		}
		if s, ok := st["Status"]; ok && !strings.HasSuffix(s, " installed") {
			continue
		}
		out = append(out, Package{Type: "deb", Name: name, Version: version, Arch: st["Architecture"], Upstream: debUpstream(st["Source"], name), Path: p})
	}
	return out, nil
}

// debUpstream is the source package of a dpkg Source field ("glibc",
// "gcc-12 (12.2.0-14)" → "gcc-12@12.2.0-14"), or "" when it is the
// package itself.
func debUpstream(source, name string) string {
	src, ver, _ := strings.Cut(source, " ")
	if src == "" || src == name && ver == "" {
		return ""
	}
	if ver = strings.Trim(ver, "()"); ver != "" {
		return src + "@" + ver
	}
	return src
}

// readApk reads Alpine's installed database (P:, V:, A:, L: lines).
func readApk(abs, p string) ([]Package, error) {
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, err
	}
	var out []Package
	var cur Package
	flush := func() {
		if cur.Name != "" && cur.Version != "" {
			cur.Type, cur.Path = "apk", p
			if cur.Upstream == cur.Name {
				cur.Upstream = ""
			}
			out = append(out, cur)
		}
		cur = Package{}
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			flush()
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch k {
		case "P":
			cur.Name = v
		case "V":
			cur.Version = v
		case "A":
			cur.Arch = v
		case "L":
			cur.Licenses = splitExpression(v)
		case "o":
			cur.Upstream = v
		}
	}
	flush()
	return out, sc.Err()
}

// readOSRelease reads ID, VERSION_ID and PRETTY_NAME from an os-release file.
func readOSRelease(abs string) (*Distro, error) {
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, err
	}
	d := &Distro{}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			continue
		}
		v = strings.Trim(v, `"'`)
		switch k {
		case "ID":
			d.ID = v
		case "VERSION_ID":
			d.VersionID = v
		case "PRETTY_NAME":
			d.Pretty = v
		}
	}
	return d, nil
}

// readCopyright reads the License: fields of a machine-readable (DEP-5)
// Debian copyright file; a free-form file gives none.
func readCopyright(abs string) ([]string, error) {
	f, err := os.Open(abs)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "Format:") {
		return nil, sc.Err()
	}
	seen := map[string]bool{}
	var out []string
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "License:")
		if !ok {
			continue
		}
		for _, l := range splitDebianLicense(strings.TrimSpace(v)) {
			if !seen[l] {
				seen[l] = true
				out = append(out, l)
			}
		}
	}
	return out, sc.Err()
}

// copyrightPackage is the package a /usr/share/doc/<pkg>/copyright file
// belongs to.
func copyrightPackage(p string) string { return path.Base(path.Dir(p)) }

// stanzas splits a deb822 file (dpkg status) into its paragraphs' fields;
// continuation lines are dropped (no field the catalogers use has them).
func stanzas(data []byte) []map[string]string {
	var out []map[string]string
	cur := map[string]string{}
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte("\n"))
		if len(line) == 0 {
			if len(cur) > 0 {
				out = append(out, cur)
				cur = map[string]string{}
			}
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		switch string(k) {
		case "Package", "Version", "Status", "Architecture", "Source":
			cur[string(k)] = string(bytes.TrimSpace(v))
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}
