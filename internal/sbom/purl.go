package sbom

import (
	"sort"
	"strings"
)

// purl is pkg's package URL (github.com/package-url/purl-spec): deb and apk
// carry the distro's id as namespace and arch and distro qualifiers.
func purl(p Package, d Distro) string {
	var ns []string
	name := p.Name
	q := map[string]string{}
	switch p.Type {
	case "deb", "apk":
		ns = []string{distroNamespace(p.Type, d)}
		if p.Arch != "" {
			q["arch"] = p.Arch
		}
		if d.ID != "" && d.VersionID != "" {
			q["distro"] = d.ID + "-" + d.VersionID
		}
		if p.Upstream != "" {
			q["upstream"] = p.Upstream
		}
	case "npm":
		if scope, n, ok := strings.Cut(name, "/"); ok && strings.HasPrefix(scope, "@") {
			ns, name = []string{scope}, n
		}
	case "pypi":
		name = strings.ToLower(strings.NewReplacer("_", "-", ".", "-").Replace(name))
	case "golang":
		if i := strings.LastIndex(name, "/"); i >= 0 {
			ns, name = strings.Split(name[:i], "/"), name[i+1:]
		}
	case "maven":
		if p.Group != "" {
			ns = []string{p.Group}
		}
	}
	var b strings.Builder
	b.WriteString("pkg:" + p.Type + "/")
	for _, s := range ns {
		b.WriteString(purlEscape(s) + "/")
	}
	b.WriteString(purlEscape(name))
	if p.Version != "" && p.Version != "(devel)" {
		b.WriteString("@" + purlEscape(p.Version))
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	sep := "?"
	for _, k := range keys {
		b.WriteString(sep + k + "=" + purlEscape(q[k]))
		sep = "&"
	}
	return b.String()
}

// distroNamespace is the purl namespace of a deb or apk package: the
// distro's id, else the distro the package manager implies.
func distroNamespace(typ string, d Distro) string {
	switch {
	case d.ID != "":
		return d.ID
	case typ == "deb":
		return "debian"
	}
	return "alpine"
}

// purlEscape percent-encodes all but the unreserved characters.
func purlEscape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
