package registry

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/pelletier/go-toml/v2"
)

// RegistriesConf is the part of containers-registries.conf(5) that pulls
// use: [[registry]] tables with prefix, location, insecure, blocked and
// [[registry.mirror]] location and insecure. Other keys are ignored.
//
// A reference is served by the registry with the longest prefix matching
// it (a prefix matches a reference equal to it or followed by ':', '/' or
// '@'; "*.example.com" matches any subdomain of example.com). Its mirrors
// are tried in order, then its location; each has the prefix replaced by
// its own location. A blocked registry is refused.
type RegistriesConf struct {
	Registries []RegistryConf `toml:"registry"`
}

// RegistryConf is one [[registry]] table.
type RegistryConf struct {
	Prefix   string     `toml:"prefix"`
	Location string     `toml:"location"`
	Insecure bool       `toml:"insecure"`
	Blocked  bool       `toml:"blocked"`
	Mirrors  []Endpoint `toml:"mirror"`
}

// Endpoint is a location images are pulled from: a mirror, or a registry's
// own location. Insecure allows plain HTTP.
type Endpoint struct {
	Location string `toml:"location"`
	Insecure bool   `toml:"insecure"`
}

// RegistriesConfFiles lists the registries.conf files read, in order, as
// containers/image (podman, buildah, skopeo) reads them
// (sysregistriesv2.newConfigWrapperWithHomeDir): the main file is
// $CONTAINERS_REGISTRIES_CONF when set, else the first existing of the
// per-user files (strata's $XDG_CONFIG_HOME/strata/registries.conf, then
// podman's $HOME/.config/containers/registries.conf), else
// /etc/containers/registries.conf. A per-user main file replaces the
// system one and takes drop-ins only from its own ".d" directory;
// otherwise the drop-ins are /etc/containers/registries.conf.d/*.conf then
// $HOME/.config/containers/registries.conf.d/*.conf, each directory in
// name order. Missing files are listed too; loading skips them.
func RegistriesConfFiles(getenv func(string) string) []string {
	home := getenv("HOME")
	cfgHome := getenv("XDG_CONFIG_HOME")
	if cfgHome == "" && home != "" {
		cfgHome = filepath.Join(home, ".config")
	}
	const system = "/etc/containers/registries.conf"
	var userDir string
	if home != "" {
		userDir = filepath.Join(home, ".config/containers/registries.conf.d")
	}
	main := getenv("CONTAINERS_REGISTRIES_CONF")
	if main == "" {
		var users []string
		if cfgHome != "" {
			users = append(users, filepath.Join(cfgHome, "strata/registries.conf"))
		}
		if home != "" {
			users = append(users, filepath.Join(home, ".config/containers/registries.conf"))
		}
		for _, u := range users {
			if _, err := os.Stat(u); err == nil {
				return append([]string{u}, dropIns(u+".d")...)
			}
		}
		main = system
	}
	files := append([]string{main}, dropIns(system+".d")...)
	if userDir != "" {
		files = append(files, dropIns(userDir)...)
	}
	return files
}

// dropIns lists dir/*.conf in name order.
func dropIns(dir string) []string {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, de := range des {
		if !de.IsDir() && strings.HasSuffix(de.Name(), ".conf") {
			out = append(out, filepath.Join(dir, de.Name()))
		}
	}
	return out
}

// LoadRegistriesConf reads files in order (missing ones are skipped). In
// one file the first table with a prefix wins; a later file's table
// replaces an earlier one with the same prefix, as containers/image merges
// drop-ins.
func LoadRegistriesConf(files []string) (RegistriesConf, error) {
	byPrefix := map[string]RegistryConf{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return RegistriesConf{}, fmt.Errorf("reading registries.conf: %w", err)
		}
		var c RegistriesConf
		if err := toml.Unmarshal(b, &c); err != nil {
			return RegistriesConf{}, fmt.Errorf("parsing %s: %w", f, err)
		}
		seen := map[string]bool{}
		for _, r := range c.Registries {
			if err := r.normalize(); err != nil {
				return RegistriesConf{}, fmt.Errorf("parsing %s: %w", f, err)
			}
			if !seen[r.Prefix] {
				seen[r.Prefix] = true
				byPrefix[r.Prefix] = r
			}
		}
	}
	var out RegistriesConf
	for _, p := range sortedKeys(byPrefix) {
		out.Registries = append(out.Registries, byPrefix[p])
	}
	return out, nil
}

func sortedKeys(m map[string]RegistryConf) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// normalize checks a table as containers/image does (postProcessRegistries)
// and defaults the prefix to the location.
func (r *RegistryConf) normalize() error {
	var err error
	if r.Location, err = parseLocation(r.Location); err != nil {
		return err
	}
	if r.Prefix == "" {
		if r.Location == "" {
			return errors.New("a [[registry]] needs a location or a prefix")
		}
		r.Prefix = r.Location
	} else if r.Prefix, err = parseLocation(r.Prefix); err != nil {
		return err
	}
	wild := strings.HasPrefix(r.Prefix, "*.")
	if !wild && r.Location == "" {
		return fmt.Errorf("registry %q: location is unset and prefix is not *.example.com", r.Prefix)
	}
	if wild && strings.ContainsAny(r.Prefix, "/@:") {
		return fmt.Errorf("wildcard prefix %q must be *.example.com", r.Prefix)
	}
	for i := range r.Mirrors {
		if r.Mirrors[i].Location, err = parseLocation(r.Mirrors[i].Location); err != nil {
			return err
		}
		if r.Mirrors[i].Location == "" {
			return fmt.Errorf("registry %q: a mirror without location", r.Prefix)
		}
	}
	return nil
}

func parseLocation(s string) (string, error) {
	s = strings.TrimRight(s, "/")
	if strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") {
		return "", fmt.Errorf("location %q: URI schemes are not supported (insecure = true allows plain HTTP)", s)
	}
	return s, nil
}

// find returns the registry whose prefix matches ref longest, or nil.
func (c RegistriesConf) find(ref string) *RegistryConf {
	var best *RegistryConf
	for i, r := range c.Registries {
		if matchPrefix(ref, r.Prefix) >= 0 && (best == nil || len(r.Prefix) > len(best.Prefix)) {
			best = &c.Registries[i]
		}
	}
	return best
}

// matchPrefix returns the length of ref that prefix matches, or -1
// (containers/image refMatchingPrefix).
func matchPrefix(ref, prefix string) int {
	if sub, ok := strings.CutPrefix(prefix, "*"); ok {
		i := strings.Index(ref, sub)
		if i < 0 || strings.Contains(ref[:i], "/") {
			return -1
		}
		i += len(sub)
		if i == len(ref) || strings.ContainsRune(":/@", rune(ref[i])) {
			return i
		}
		return -1
	}
	if ref == prefix {
		return len(prefix)
	}
	if strings.HasPrefix(ref, prefix) && strings.ContainsRune(":/@", rune(ref[len(prefix)])) {
		return len(prefix)
	}
	return -1
}

// source is one place to pull from: a mirror or the location.
type source struct {
	ref    name.Reference
	mirror string // the mirror's location; "" for the registry itself
}

// pullSources lists where to pull ref from with registries.conf: the
// matching registry's mirrors, then its location; ref itself when no
// registry matches.
func (c RegistriesConf) pullSources(r name.Reference, insecure []string) ([]source, error) {
	s := refString(r)
	reg := c.find(s)
	if reg == nil {
		return []source{{ref: r}}, nil
	}
	if reg.Blocked {
		return nil, fmt.Errorf("registry %q is blocked in registries.conf", reg.Prefix)
	}
	var out []source
	n := matchPrefix(s, reg.Prefix)
	eps := append(slices.Clone(reg.Mirrors), Endpoint{Location: reg.Location, Insecure: reg.Insecure})
	for i, ep := range eps {
		if ep.Location == "" { // a wildcard prefix: the reference as it is
			out = append(out, source{ref: r})
			continue
		}
		ins := insecure
		if ep.Insecure {
			ins = append(slices.Clone(insecure), strings.SplitN(ep.Location, "/", 2)[0])
		}
		nr, err := parse(ep.Location+s[n:], ins)
		if err != nil {
			return nil, fmt.Errorf("rewriting %s for %q: %w", s, ep.Location, err)
		}
		src := source{ref: nr}
		if i < len(reg.Mirrors) {
			src.mirror = ep.Location
		}
		out = append(out, src)
	}
	return out, nil
}

// refString is r as registries.conf prefixes see it: docker.io for Docker
// Hub, then repository and ":tag" or "@digest".
func refString(r name.Reference) string {
	reg := r.Context().RegistryStr()
	if reg == name.DefaultRegistry {
		reg = "docker.io"
	}
	sep := ":"
	if _, ok := r.(name.Digest); ok {
		sep = "@"
	}
	return reg + "/" + r.Context().RepositoryStr() + sep + r.Identifier()
}
