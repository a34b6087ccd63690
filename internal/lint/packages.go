package lint

import (
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// installs are the package installs of a RUN: the simple commands that run
// an OS package manager's install subcommand, with their package names.
type install struct {
	Manager  string // apt-get, apt, apk, yum, dnf, microdnf, zypper
	Cmd      simpleCommand
	Packages []string
}

func osInstalls(sh shellScript) []install {
	var out []install
	for _, c := range sh.Commands {
		if len(c.Args) == 0 {
			continue
		}
		prog := base(c.Args[0])
		sub := installSubcommand(prog)
		if sub != "" && c.is(prog, sub) {
			out = append(out, install{Manager: prog, Cmd: c, Packages: c.packages(sub)})
		}
	}
	return out
}

// installSubcommand is the install subcommand of an OS package manager
// ("" for any other program).
func installSubcommand(prog string) string {
	switch prog {
	case "apt-get", "apt", "yum", "dnf", "microdnf", "zypper":
		return "install"
	case "apk":
		return "add"
	}
	return ""
}

// removesPackages reports whether sh uninstalls packages again (a virtual
// build-deps group, apt-get purge), which makes installing build tools in
// the same RUN fine.
func removesPackages(sh shellScript) bool {
	for _, c := range sh.Commands {
		if c.is("apk", "del") || c.is("apt-get", "purge") || c.is("apt-get", "remove") || c.is("apt-get", "autoremove") ||
			c.is("apt", "purge") || c.is("apt", "remove") || c.is("yum", "remove") || c.is("dnf", "remove") {
			return true
		}
	}
	return false
}

// packageName strips a version pin from a package operand.
func packageName(p string) string {
	if i := strings.IndexAny(p, "=<>~"); i > 0 {
		return p[:i]
	}
	return p
}

// isBuildTool reports whether an OS package is a compiler, build system,
// VCS or development headers: what a runtime image does not need.
func isBuildTool(pkg string) bool {
	pkg = packageName(pkg)
	switch pkg {
	case "build-essential", "build-base", "gcc", "g++", "gcc-c++", "clang", "llvm", "make", "cmake", "ninja-build",
		"autoconf", "automake", "libtool", "pkg-config", "pkgconf", "git", "mercurial", "subversion",
		"golang", "golang-go", "go", "rustc", "cargo", "default-jdk", "maven", "gradle", "musl-dev", "linux-headers",
		"nodejs-dev", "python3-dev", "python-dev":
		return true
	}
	return strings.HasSuffix(pkg, "-dev") || strings.HasSuffix(pkg, "-devel") ||
		(strings.HasPrefix(pkg, "openjdk-") && strings.HasSuffix(pkg, "-jdk")) || strings.HasPrefix(pkg, "gcc-")
}

// langInstall reports whether c installs language dependencies or builds
// with a language tool that keeps a download cache.
// The program is looked at once ("./gradlew" is "gradlew": is compares
// base names).
func langInstall(c simpleCommand) bool {
	if len(c.Args) == 0 {
		return false
	}
	switch prog := base(c.Args[0]); prog {
	case "npm":
		return c.is(prog, "ci") || c.is(prog, "install") || c.is(prog, "i")
	case "yarn":
		return c.is(prog, "install") || len(c.Args) == 1
	case "pnpm", "pip", "pip3", "poetry", "pipenv", "bundle", "composer":
		return c.is(prog, "install")
	case "uv":
		return c.is(prog, "sync") || c.is(prog, "pip", "install")
	case "go":
		return c.is(prog, "mod", "download") || c.is(prog, "build") || c.is(prog, "install")
	case "cargo":
		return c.is(prog, "build") || c.is(prog, "fetch") || c.is(prog, "install")
	case "mvn":
		return c.is(prog, "package") || c.is(prog, "install") || c.is(prog, "verify") || c.is(prog, "dependency:go-offline")
	case "gradle", "gradlew":
		return c.is(prog, "build")
	}
	return false
}

// isManifest reports whether a path names a dependency manifest or lock file.
func isManifest(p string) bool {
	switch base(strings.TrimSuffix(p, "/")) {
	case "package.json", "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml",
		"Pipfile", "Pipfile.lock", "pyproject.toml", "poetry.lock", "uv.lock", "setup.py", "setup.cfg",
		"go.mod", "go.sum", "Gemfile", "Gemfile.lock", "composer.json", "composer.lock",
		"pom.xml", "build.gradle", "build.gradle.kts", "settings.gradle", "Cargo.toml", "Cargo.lock":
		return true
	}
	b := base(p)
	return strings.HasPrefix(b, "requirements") && strings.HasSuffix(b, ".txt")
}

// contextCopy reports whether c copies from the build context (COPY
// without --from, or ADD) and returns its sources.
func contextCopy(c instructions.Command) ([]string, bool) {
	switch c := c.(type) {
	case *instructions.CopyCommand:
		return c.SourcePaths, c.From == ""
	case *instructions.AddCommand:
		return c.SourcePaths, true
	}
	return nil, false
}

// isWholeContext reports whether a source path is the context root.
func isWholeContext(src string) bool {
	switch src {
	case ".", "./", "/", "./.", "*":
		return true
	}
	return false
}
