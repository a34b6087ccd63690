package sbom

import (
	"strings"
)

// normalizeLicense turns a licence name as metadata writes it into an SPDX
// identifier when it is one (in any case) or a well-known alias of one;
// otherwise it returns the name as given.
func normalizeLicense(raw string) string {
	raw = strings.TrimSpace(raw)
	if id := spdxID(strings.ToLower(raw)); id != "" {
		return id
	}
	return raw
}

// isSPDXID reports whether s is an SPDX licence identifier strata knows (a
// subset of the SPDX list; also in the CycloneDX 1.5 schema's enumeration).
func isSPDXID(s string) bool { return s != "" && spdxID(strings.ToLower(s)) == s }

// isSPDXExpression reports whether s is an expression of known identifiers
// joined by AND, OR and WITH (with parentheses).
func isSPDXExpression(s string) bool {
	s = strings.NewReplacer("(", " ", ")", " ").Replace(s)
	words := strings.Fields(s)
	if len(words) < 3 {
		return false
	}
	for i, w := range words {
		op := w == "AND" || w == "OR" || w == "WITH"
		if i%2 == 1 != op {
			return false
		}
		if !op && !isSPDXID(w) && !(i > 0 && words[i-1] == "WITH" && isException(w)) {
			return false
		}
	}
	return true
}

// isException reports whether s is a licence exception strata knows.
func isException(s string) bool {
	switch s {
	case "Classpath-exception-2.0", "GCC-exception-3.1", "LLVM-exception", "OpenSSL-exception", "Autoconf-exception-3.0", "Bison-exception-2.2":
		return true
	}
	return false
}

// splitExpression splits an SPDX-like expression (apk's L: field,
// License-Expression) into one entry, normalized when it is a single
// identifier.
func splitExpression(v string) []string {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil
	}
	return []string{normalizeLicense(v)}
}

// splitDebianLicense splits a DEP-5 License: short name ("GPL-2+ or
// Artistic", "BSD-3-clause and/or Expat") into its licences, normalized.
func splitDebianLicense(v string) []string {
	var out, words []string
	flush := func() {
		if len(words) > 0 {
			out = append(out, normalizeLicense(strings.Join(words, " ")))
			words = words[:0]
		}
	}
	for _, w := range strings.Fields(strings.ReplaceAll(v, ",", " ")) {
		switch strings.ToLower(w) {
		case "or", "and", "and/or":
			flush()
		default:
			words = append(words, w)
		}
	}
	flush()
	return out
}

// classifierLicense maps a Python trove classifier ("License :: OSI
// Approved :: MIT License") to an SPDX identifier, or "" when it names none
// exactly.
func classifierLicense(c string) string {
	i := strings.LastIndex(c, "::")
	if i < 0 {
		return ""
	}
	return spdxID(strings.ToLower(strings.TrimSpace(c[i+2:])))
}

// spdxID maps a lower-case licence name to its SPDX identifier, or "".
func spdxID(s string) string {
	switch s {
	case "mit", "expat", "mit license", "the mit license", "mit/expat":
		return "MIT"
	case "mit-0":
		return "MIT-0"
	case "isc", "isc license", "isc license (iscl)":
		return "ISC"
	case "apache-2.0", "apache 2.0", "apache-2", "apache 2", "apache license 2.0", "apache license, version 2.0", "apache software license", "apache license version 2.0", "apache2", "asl 2.0", "the apache software license, version 2.0", "the apache license, version 2.0":
		return "Apache-2.0"
	case "apache-1.1":
		return "Apache-1.1"
	case "bsd-2-clause", "bsd-2", "bsd 2-clause", "bsd-2-clause license", "freebsd":
		return "BSD-2-Clause"
	case "bsd-3-clause", "bsd-3", "bsd 3-clause", "new bsd license", "bsd-3-clause license", "modified bsd license", "bsd 3-clause license":
		return "BSD-3-Clause"
	case "bsd-4-clause":
		return "BSD-4-Clause"
	case "0bsd":
		return "0BSD"
	case "gpl-1+", "gpl-1.0-or-later", "gpl-1.0+":
		return "GPL-1.0-or-later"
	case "gpl-2", "gpl-2.0", "gpl-2.0-only", "gplv2", "gpl2", "gnu general public license v2 (gplv2)":
		return "GPL-2.0-only"
	case "gpl-2+", "gpl-2.0+", "gpl-2.0-or-later", "gplv2+", "gnu general public license v2 or later (gplv2+)":
		return "GPL-2.0-or-later"
	case "gpl-3", "gpl-3.0", "gpl-3.0-only", "gplv3", "gpl3", "gnu general public license v3 (gplv3)":
		return "GPL-3.0-only"
	case "gpl-3+", "gpl-3.0+", "gpl-3.0-or-later", "gplv3+", "gnu general public license v3 or later (gplv3+)":
		return "GPL-3.0-or-later"
	case "lgpl-2", "lgpl-2.0", "lgpl-2.0-only":
		return "LGPL-2.0-only"
	case "lgpl-2+", "lgpl-2.0+", "lgpl-2.0-or-later":
		return "LGPL-2.0-or-later"
	case "lgpl-2.1", "lgpl-2.1-only", "lgplv2.1", "gnu lesser general public license v2 (lgplv2)":
		return "LGPL-2.1-only"
	case "lgpl-2.1+", "lgpl-2.1-or-later", "lgplv2+", "gnu lesser general public license v2 or later (lgplv2+)":
		return "LGPL-2.1-or-later"
	case "lgpl-3", "lgpl-3.0", "lgpl-3.0-only", "lgplv3", "gnu lesser general public license v3 (lgplv3)":
		return "LGPL-3.0-only"
	case "lgpl-3+", "lgpl-3.0+", "lgpl-3.0-or-later", "lgplv3+", "gnu lesser general public license v3 or later (lgplv3+)":
		return "LGPL-3.0-or-later"
	case "agpl-3", "agpl-3.0", "agpl-3.0-only", "gnu affero general public license v3":
		return "AGPL-3.0-only"
	case "agpl-3+", "agpl-3.0-or-later", "gnu affero general public license v3 or later (agplv3+)":
		return "AGPL-3.0-or-later"
	case "mpl-1.1":
		return "MPL-1.1"
	case "mpl-2.0", "mpl 2.0", "mozilla public license 2.0 (mpl 2.0)":
		return "MPL-2.0"
	case "epl-1.0", "eclipse public license 1.0":
		return "EPL-1.0"
	case "epl-2.0", "eclipse public license 2.0", "eclipse public license v2.0", "eclipse public license - v 2.0":
		return "EPL-2.0"
	case "cddl-1.0":
		return "CDDL-1.0"
	case "cddl-1.1":
		return "CDDL-1.1"
	case "artistic-1.0", "artistic":
		return "Artistic-1.0"
	case "artistic-1.0-perl":
		return "Artistic-1.0-Perl"
	case "artistic-2.0", "artistic license 2.0":
		return "Artistic-2.0"
	case "zlib", "zlib/libpng", "zlib license":
		return "Zlib"
	case "unlicense", "the unlicense", "the unlicense (unlicense)":
		return "Unlicense"
	case "cc0-1.0", "cc0", "cc0 1.0 universal (cc0 1.0) public domain dedication":
		return "CC0-1.0"
	case "cc-by-3.0":
		return "CC-BY-3.0"
	case "cc-by-4.0":
		return "CC-BY-4.0"
	case "cc-by-sa-3.0":
		return "CC-BY-SA-3.0"
	case "cc-by-sa-4.0":
		return "CC-BY-SA-4.0"
	case "psf-2.0", "python-2.0", "psf", "python software foundation license":
		return "PSF-2.0"
	case "bsl-1.0", "boost software license 1.0 (bsl-1.0)":
		return "BSL-1.0"
	case "openssl":
		return "OpenSSL"
	case "wtfpl":
		return "WTFPL"
	case "x11":
		return "X11"
	case "curl":
		return "curl"
	case "ftl":
		return "FTL"
	case "bzip2-1.0.6":
		return "bzip2-1.0.6"
	case "blueoak-1.0.0":
		return "BlueOak-1.0.0"
	case "fsfullr":
		return "FSFULLR"
	case "fsful":
		return "FSFUL"
	case "fsfap":
		return "FSFAP"
	case "latex2e":
		return "Latex2e"
	case "gfdl-niv-1.3", "gfdl-1.3-no-invariants-only":
		return "GFDL-1.3-no-invariants-only"
	case "gfdl-niv-1.3+", "gfdl-1.3+-no-invariant", "gfdl-1.3-no-invariants-or-later":
		return "GFDL-1.3-no-invariants-or-later"
	case "gfdl-1.2", "gfdl-1.2-only":
		return "GFDL-1.2-only"
	case "gfdl-1.3", "gfdl-1.3-only":
		return "GFDL-1.3-only"
	case "gfdl-1.3+", "gfdl-1.3-or-later":
		return "GFDL-1.3-or-later"
	}
	return ""
}
