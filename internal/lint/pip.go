package lint

import (
	"slices"
	"strings"
)

// isPipInstall reports whether c installs Python packages with pip, as
// hadolint recognises it: a program whose name starts with "pip" (pip,
// pip3, pip3.12, and pipx and pipenv too) with an "install" argument, or a
// "python*" program running "-m pip install".
func isPipInstall(c simpleCommand) bool {
	if len(c.Args) == 0 {
		return false
	}
	prog, args := base(c.Args[0]), c.Args[1:]
	switch {
	case strings.HasPrefix(prog, "pip"):
		return slices.Contains(args, "install")
	case strings.HasPrefix(prog, "python"):
		for i := 0; i+2 < len(args); i++ {
			if args[i] == "-m" && args[i+1] == "pip" && args[i+2] == "install" {
				return true
			}
		}
	}
	return false
}

// isPipWrapper reports whether c runs pipx or pipenv, which manage their
// own caches (hadolint's DL3042 leaves them alone).
func isPipWrapper(c simpleCommand) bool {
	prog := base(c.Args[0])
	if strings.Contains(prog, "pipx") || strings.Contains(prog, "pipenv") {
		return true
	}
	if !strings.HasPrefix(prog, "python") {
		return false
	}
	for i := 1; i+1 < len(c.Args); i++ {
		if c.Args[i] == "-m" && (c.Args[i+1] == "pipx" || c.Args[i+1] == "pipenv") {
			return true
		}
	}
	return false
}

// pipFlags are the short and long flag names in a pip argument, as
// hadolint splits them: "--index-url=x" is index-url, "-Ur" is U and r.
func pipFlags(arg string) []string {
	switch {
	case arg == "-" || arg == "--" || !strings.HasPrefix(arg, "-"):
		return nil
	case strings.HasPrefix(arg, "--"):
		name, _, _ := strings.Cut(arg[2:], "=")
		return []string{name}
	}
	out := make([]string, 0, len(arg)-1)
	for _, r := range arg[1:] {
		out = append(out, string(r))
	}
	return out
}

// pipValueFlag reports whether a pip install flag takes the next word as
// its value (hadolint's list).
func pipValueFlag(f string) bool {
	switch f {
	case "abi", "b", "build", "e", "editable", "extra-index-url", "f", "find-links",
		"i", "index-url", "implementation", "no-binary", "only-binary", "platform", "prefix", "progress-bar",
		"proxy", "python-version", "root", "src", "t", "target", "trusted-host", "upgrade-strategy":
		return true
	}
	return false
}

// pipPackages are the requirement specifiers of a pip install: the words
// after "install" that are neither flags nor their values.
func pipPackages(c simpleCommand) []string {
	var words []string
	skip := false
	for _, a := range c.Args[1:] {
		if skip {
			skip = false
			continue
		}
		flags := pipFlags(a)
		if len(flags) == 0 {
			words = append(words, a)
			continue
		}
		if !strings.Contains(a, "=") && slices.ContainsFunc(flags, pipValueFlag) {
			skip = true
		}
	}
	i := slices.Index(words, "install")
	if i < 0 {
		return nil
	}
	words = words[i:]
	for len(words) > 0 && words[0] == "install" {
		words = words[1:]
	}
	return words
}

// pipVersionFixed reports whether a pip requirement names one version (or
// a range): a version operator, a VCS URL with "@ref", a wheel or sdist
// file, or a local path.
func pipVersionFixed(p string) bool {
	for _, op := range []string{"==", ">=", "<=", ">", "<", "!=", "~="} {
		if strings.Contains(p, op) {
			return true
		}
	}
	vcs := isPipVCS(p)
	return (vcs && strings.Contains(p, "@")) || strings.HasSuffix(p, ".whl") || strings.HasSuffix(p, ".tar.gz") ||
		(!vcs && strings.Contains(p, "/"))
}

// isPipVCS reports whether a requirement starts with one of the schemes pip
// installs from version control
// (https://pip.pypa.io/en/stable/topics/vcs-support/), as hadolint tests
// them: by prefix, so "git", "hg+", "svn" and "bzr+" cover every scheme.
func isPipVCS(p string) bool {
	for _, s := range []string{"git", "hg+", "svn", "bzr+"} {
		if strings.HasPrefix(p, s) {
			return true
		}
	}
	return false
}
