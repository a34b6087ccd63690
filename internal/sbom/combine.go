package sbom

import (
	"path"
	"sort"
)

// stack is the scanned layers, bottom first, indexed for combining.
type stack struct {
	files     []map[string]*fileScan
	whiteouts []map[string]bool
	opaque    []map[string]bool
}

func newStack(scans []*layerScan) *stack {
	s := &stack{
		files:     make([]map[string]*fileScan, len(scans)),
		whiteouts: make([]map[string]bool, len(scans)),
		opaque:    make([]map[string]bool, len(scans)),
	}
	for i, l := range scans {
		s.files[i] = make(map[string]*fileScan, len(l.Files))
		for k := range l.Files {
			s.files[i][l.Files[k].Path] = &l.Files[k]
		}
		s.whiteouts[i] = set(l.Whiteouts)
		s.opaque[i] = set(l.Opaque)
	}
	return s
}

func set(xs []string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// deletes reports whether layer j removes p as the layers below it have it:
// a whiteout at p or above it, or an opaque directory above it.
func (s *stack) deletes(j int, p string) bool {
	if len(s.whiteouts[j]) == 0 && len(s.opaque[j]) == 0 {
		return false
	}
	if s.whiteouts[j][p] {
		return true
	}
	for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
		if s.whiteouts[j][d] || s.opaque[j][d] {
			return true
		}
	}
	return false
}

// surviving returns the file at p in the final filesystem and its layer,
// or nil.
func (s *stack) surviving(p string) (*fileScan, int) {
	for i := len(s.files) - 1; i >= 0; i-- {
		if f, ok := s.files[i][p]; ok {
			return f, i
		}
		if s.deletes(i, p) {
			return nil, -1
		}
	}
	return nil, -1
}

// added is the lowest layer that added pkg, listed at p in layer top: going
// down, each layer that rewrites p must still list the same package, and
// none may delete p.
func (s *stack) added(p string, pkg Package, top int) int {
	lowest := top
	for j := top - 1; j >= 0; j-- {
		if s.deletes(j+1, p) {
			break
		}
		f, ok := s.files[j][p]
		if !ok {
			continue
		}
		if !lists(f, pkg) {
			break
		}
		lowest = j
	}
	return lowest
}

func lists(f *fileScan, pkg Package) bool {
	for _, q := range f.Packages {
		if q.Type == pkg.Type && q.Name == pkg.Name && q.Version == pkg.Version && q.Group == pkg.Group && q.Arch == pkg.Arch && q.Location == pkg.Location {
			return true
		}
	}
	return false
}

// combine makes the SBOM of the filesystem the scanned layers stack into.
// A layer hides a metadata path below it by writing that path (a file the
// catalogers read, or any executable), by a whiteout at it or above it, or
// by an opaque directory above it. Not seen: a later file or symlink in
// place of a directory above the path (rare in images).
func combine(scans []*layerScan, infos []LayerInfo) *SBOM {
	s := newStack(scans)
	var paths []string
	seen := map[string]bool{}
	for _, l := range scans {
		for _, f := range l.Files {
			if !seen[f.Path] {
				seen[f.Path] = true
				paths = append(paths, f.Path)
			}
		}
	}
	sort.Strings(paths)
	out := &SBOM{Layers: infos}
	if f, _ := s.surviving("/etc/os-release"); f != nil && f.Distro != nil {
		out.Distro = *f.Distro
	} else if f, _ := s.surviving("/usr/lib/os-release"); f != nil && f.Distro != nil {
		out.Distro = *f.Distro
	}
	for _, p := range paths {
		f, top := s.surviving(p)
		if f == nil {
			continue
		}
		for _, pkg := range f.Packages {
			l := s.added(p, pkg, top)
			pkg.Layer, pkg.LayerDiffID, pkg.Source = l, infos[l].DiffID, infos[l].Source
			if pkg.Type == "deb" && len(pkg.Licenses) == 0 {
				if c, _ := s.surviving("/usr/share/doc/" + pkg.Name + "/copyright"); c != nil {
					pkg.Licenses = c.Licenses
				}
			}
			pkg.PURL = purl(pkg, out.Distro)
			out.Packages = append(out.Packages, pkg)
		}
	}
	sortPackages(out.Packages)
	return out
}
