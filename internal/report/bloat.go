package report

import (
	"cmp"
	"path"
	"slices"
	"strings"
)

// Category is one kind of bloat the finder looks for: what an image
// carries that its program does not need at run time.
type Category struct {
	// Key is stable ("caches", "compilers", "dev-dependencies", "docs",
	// "sources"); Title is for people.
	Key   string `json:"key"`
	Title string `json:"title"`
	Bytes int64  `json:"bytes"`
	Files int    `json:"files"`
	Items []Item `json:"items"`
}

// Item is one finding of a category, e.g. "apt lists".
type Item struct {
	Name  string `json:"name"`
	Bytes int64  `json:"bytes"`
	Files int    `json:"files"`
	// Where are the largest places it was found (directories or files).
	Where []string `json:"where"`
}

// bloatRule matches the files of one item. match returns the place the
// file belongs to (a directory such as "/root/.npm", or the file itself) or
// "" when the file is not this item's.
type bloatRule struct {
	category, item string
	match          func(p string, ctx *bloatContext) string
}

// bloatContext is what rules need to know of the whole filesystem.
type bloatContext struct {
	// ownBinary: the image carries an ELF executable outside the system
	// directories, i.e. a program built for it.
	ownBinary bool
	// devOnly maps a node_modules directory to the packages that its
	// package.json lists under devDependencies and not under dependencies.
	devOnly map[string]map[string]bool
}

// categoryTitles orders the categories and names them.
func categoryTitles() [][2]string {
	return [][2]string{
		{"compilers", "Compilers and SDKs"},
		{"caches", "Package-manager caches"},
		{"dev-dependencies", "Dev dependencies (node_modules)"},
		{"sources", "Source files next to binaries"},
		{"docs", "Docs and man pages"},
	}
}

// bloatRules are tried in order; a file counts for the first that matches.
func bloatRules() []bloatRule {
	return []bloatRule{
		{"caches", "apt cache (/var/cache/apt)", under("var/cache/apt")},
		{"caches", "apt lists (/var/lib/apt/lists)", under("var/lib/apt/lists")},
		{"caches", "apk cache (/var/cache/apk)", under("var/cache/apk")},
		{"caches", "npm cache (~/.npm)", segment(".npm")},
		{"caches", "yarn cache", segment(".cache/yarn")},
		{"caches", "pip cache (~/.cache/pip)", segment(".cache/pip")},
		{"caches", "Maven repository (~/.m2)", segment(".m2")},
		{"caches", "Go build cache (~/.cache/go-build)", segment(".cache/go-build")},
		{"caches", "Go module cache (GOPATH/pkg/mod)", segment("go/pkg/mod")},
		{"compilers", "node-gyp", anyOf(segment("node_modules/node-gyp"), segment(".cache/node-gyp"), segment(".node-gyp"), under("usr/include/node"))},
		{"compilers", "Go toolchain", anyOf(under("usr/local/go"), prefixed("usr/lib/go-"), under("usr/lib/go"), prefixed("usr/share/go-"))},
		{"compilers", "gcc", gcc},
		{"compilers", "JDK (a JRE would do)", jdkOnly},
		{"compilers", "C/C++ headers (/usr/include)", anyOf(under("usr/include"), under("usr/local/include"))},
		{"dev-dependencies", "devDependencies", devDependency},
		{"docs", "docs (/usr/share/doc)", anyOf(under("usr/share/doc"), under("usr/local/share/doc"), under("usr/share/gtk-doc"))},
		{"docs", "man and info pages", anyOf(under("usr/share/man"), under("usr/local/share/man"), under("usr/share/info"))},
		{"sources", "source files", sourceFile},
	}
}

// findBloat runs the rules over the final filesystem.
func findBloat(fs *filesystem) []Category {
	bc := newBloatContext(fs)
	rules := bloatRules()
	type acc struct {
		Item
		where map[string]int64
	}
	items := make([]acc, len(rules))
	for p, n := range fs.nodes {
		if n.dir {
			continue
		}
		for i, r := range rules {
			w := r.match(p, bc)
			if w == "" {
				continue
			}
			a := &items[i]
			if a.where == nil {
				a.where = map[string]int64{}
			}
			a.Bytes += n.size
			a.Files++
			a.where["/"+w] += n.size
			break
		}
	}
	var out []Category
	for _, ct := range categoryTitles() {
		c := Category{Key: ct[0], Title: ct[1], Items: []Item{}}
		for i, r := range rules {
			a := items[i]
			if r.category != c.Key || a.Files == 0 {
				continue
			}
			a.Name = r.item
			a.Where = largestKeys(a.where, 3)
			c.Bytes += a.Bytes
			c.Files += a.Files
			c.Items = append(c.Items, a.Item)
		}
		out = append(out, c)
	}
	return out
}

func newBloatContext(fs *filesystem) *bloatContext {
	bc := &bloatContext{devOnly: map[string]map[string]bool{}}
	for p, n := range fs.nodes {
		if n.elf && !systemPath(p) {
			bc.ownBinary = true
			break
		}
	}
	for dir, pj := range fs.packages {
		if _, ok := fs.nodes[path.Join(dir, "package.json")]; !ok {
			continue // deleted by a later layer
		}
		dev := map[string]bool{}
		for name := range pj.DevDependencies {
			if _, ok := pj.Dependencies[name]; !ok {
				dev[name] = true
			}
		}
		if len(dev) > 0 {
			bc.devOnly[path.Join(dir, "node_modules")] = dev
		}
	}
	return bc
}

// largestKeys returns up to n keys of m, largest value first.
func largestKeys(m map[string]int64, n int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if c := cmp.Compare(m[b], m[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return keys[:min(n, len(keys))]
}

type matcher = func(p string, bc *bloatContext) string

// under matches the files below dir.
func under(dir string) matcher {
	return func(p string, _ *bloatContext) string {
		if strings.HasPrefix(p, dir+"/") {
			return dir
		}
		return ""
	}
}

// prefixed matches the files below a top directory whose path starts with
// prefix, e.g. "usr/lib/go-" for /usr/lib/go-1.19.
func prefixed(prefix string) matcher {
	return func(p string, _ *bloatContext) string {
		rest, ok := strings.CutPrefix(p, prefix)
		if !ok {
			return ""
		}
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			return ""
		}
		return prefix + rest[:i]
	}
}

// segment matches the files below a directory seg anywhere in the tree,
// e.g. ".npm" for /root/.npm and /home/app/.npm.
func segment(seg string) matcher {
	return func(p string, _ *bloatContext) string {
		if strings.HasPrefix(p, seg+"/") {
			return seg
		}
		if i := strings.Index(p, "/"+seg+"/"); i >= 0 {
			return p[:i+1+len(seg)]
		}
		return ""
	}
}

func anyOf(ms ...matcher) matcher {
	return func(p string, bc *bloatContext) string {
		for _, m := range ms {
			if w := m(p, bc); w != "" {
				return w
			}
		}
		return ""
	}
}

// gcc matches GCC's private directories and its drivers.
func gcc(p string, bc *bloatContext) string {
	for _, d := range []string{"usr/lib/gcc", "usr/libexec/gcc", "usr/lib/gcc-cross"} {
		if strings.HasPrefix(p, d+"/") {
			return d
		}
	}
	dir, base := path.Split(p)
	if dir != "usr/bin/" && dir != "usr/local/bin/" {
		return ""
	}
	base = strings.TrimPrefix(base, "x86_64-linux-gnu-")
	for _, name := range []string{"gcc", "g++", "c++", "cc1", "cpp", "gfortran", "lto-dump"} {
		if base == name || strings.HasPrefix(base, name+"-") {
			return p
		}
	}
	return ""
}

// jdkOnly matches what a JDK has and a JRE has not: compiler and tools,
// jmods, headers, sources and the symbol file.
func jdkOnly(p string, _ *bloatContext) string {
	home := javaHome(p)
	if home == "" {
		return ""
	}
	rest := p[len(home)+1:]
	for _, d := range []string{"jmods/", "include/", "demo/", "sample/"} {
		if strings.HasPrefix(rest, d) {
			return home + "/" + strings.TrimSuffix(d, "/")
		}
	}
	switch rest {
	case "lib/src.zip", "lib/ct.sym", "lib/tools.jar", "bin/javac", "bin/jar", "bin/jlink", "bin/jdeps",
		"bin/jshell", "bin/javadoc", "bin/jmod", "bin/jpackage", "bin/javap", "bin/jdb", "bin/jarsigner":
		return p
	}
	return ""
}

// javaHome returns the JDK directory p is in, if any: a directory below
// usr/lib/jvm or opt, or named like a JDK.
func javaHome(p string) string {
	parts := strings.Split(p, "/")
	for i, part := range parts[:len(parts)-1] {
		l := strings.ToLower(part)
		jdk := strings.Contains(l, "jdk") && !strings.Contains(l, "jre")
		if jdk || (i == 3 && strings.HasPrefix(p, "usr/lib/jvm/") && !strings.Contains(l, "jre")) {
			return strings.Join(parts[:i+1], "/")
		}
	}
	return ""
}

// devDependency matches packages of node_modules that the package.json
// beside it lists only under devDependencies.
func devDependency(p string, bc *bloatContext) string {
	slashed := "/" + p
	i := strings.Index(slashed, "/node_modules/")
	if i < 0 || len(bc.devOnly) == 0 {
		return ""
	}
	nm := strings.TrimPrefix(slashed[:i]+"/node_modules", "/")
	dev := bc.devOnly[nm]
	if dev == nil {
		return ""
	}
	rest := strings.Split(strings.TrimPrefix(p, nm+"/"), "/")
	name := rest[0]
	if strings.HasPrefix(name, "@") && len(rest) > 1 {
		name += "/" + rest[1]
	}
	if dev[name] {
		return nm + "/" + name
	}
	return ""
}

// sourceExt reports whether ext is a compiled language's source: an image
// that runs the compiled program needs none of them.
func sourceExt(ext string) bool {
	switch ext {
	case ".go", ".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".rs", ".java", ".kt", ".scala", ".cs", ".swift", ".zig", ".ts", ".tsx":
		return true
	}
	return false
}

// sourceFile matches sources of compiled languages outside system
// directories, in an image that carries a binary of its own.
func sourceFile(p string, bc *bloatContext) string {
	if !bc.ownBinary || systemPath(p) || strings.Contains("/"+p, "/node_modules/") {
		return ""
	}
	if ext := path.Ext(p); sourceExt(ext) && !strings.HasSuffix(p, ".d.ts") {
		return parentDir(p)
	}
	return ""
}

// systemPath reports whether p is where a distribution puts its files.
func systemPath(p string) bool {
	for _, d := range []string{"bin/", "sbin/", "lib/", "lib32/", "lib64/", "libx32/", "etc/", "usr/bin/", "usr/sbin/",
		"usr/lib/", "usr/lib32/", "usr/lib64/", "usr/libexec/", "usr/share/", "usr/include/", "var/lib/", "usr/local/go/"} {
		if strings.HasPrefix(p, d) {
			return true
		}
	}
	return false
}
