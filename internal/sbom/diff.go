package sbom

// Changes is what differs between the packages of two SBOMs.
type Changes struct {
	// Added are in the second SBOM only, Removed in the first only. A
	// package counts once per type, group, name and version, wherever and
	// however often it is found.
	Added, Removed []Package
}

// Diff compares the packages of a and b (say, a traditional image and its
// multi-stage rewrite: Removed is what the split left behind).
func Diff(a, b *SBOM) Changes {
	return Changes{Added: missing(b, a), Removed: missing(a, b)}
}

type packageKey struct{ typ, group, name, version string }

func keyOf(p Package) packageKey { return packageKey{p.Type, p.Group, p.Name, p.Version} }

// missing is the packages of a (first of each key, in a's order) that b
// lacks.
func missing(a, b *SBOM) []Package {
	have := map[packageKey]bool{}
	for _, p := range b.Packages {
		have[keyOf(p)] = true
	}
	var out []Package
	for _, p := range a.Packages {
		if k := keyOf(p); !have[k] {
			have[k] = true
			out = append(out, p)
		}
	}
	return out
}
