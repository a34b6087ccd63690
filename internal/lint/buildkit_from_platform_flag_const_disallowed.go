package lint

import (
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/linter"
)

func fromPlatformFlagConstDisallowed() Rule {
	return buildkitRule(&linter.RuleFromPlatformFlagConstDisallowed,
		"use --platform=$BUILDPLATFORM (or $TARGETPLATFORM), or name the stage after the platform, e.g. AS build-arm64",
		checkConstPlatform)
}

// checkConstPlatform flags FROM --platform with a constant value unless the
// stage name mentions the platform's OS or architecture.
func checkConstPlatform(in *Input) []Problem {
	var out []Problem
	for i := range in.File.Stages {
		st := &in.File.Stages[i]
		if st.Platform == "" || strings.Contains(st.Platform, "$") {
			continue
		}
		os, arch, ok := parsePlatform(st.Platform)
		if !ok || strings.Contains(st.Name, os) || strings.Contains(st.Name, arch) {
			continue
		}
		out = append(out, Problem{Line: stageLine(st), Message: linter.RuleFromPlatformFlagConstDisallowed.Format(st.Platform)})
	}
	return out
}

// parsePlatform reads "os[/arch[/variant]]" or a bare architecture the way
// containerd's platforms.Parse does for the common cases, normalising
// architecture aliases.
func parsePlatform(s string) (os, arch string, ok bool) {
	parts := strings.Split(strings.ToLower(s), "/")
	if len(parts) > 3 || parts[0] == "" {
		return "", "", false
	}
	switch parts[0] {
	case "linux", "windows", "darwin", "freebsd", "netbsd", "openbsd", "solaris", "illumos", "android", "ios", "aix", "plan9", "wasip1", "js":
		os = parts[0]
		if len(parts) > 1 {
			arch = parts[1]
		}
	default:
		if len(parts) > 1 {
			return "", "", false
		}
		os, arch = "linux", parts[0]
	}
	switch arch {
	case "", "x86_64", "x86-64", "amd64":
		arch = "amd64"
	case "aarch64", "arm64":
		arch = "arm64"
	case "i386", "i686", "386":
		arch = "386"
	case "armhf", "armel", "arm":
		arch = "arm"
	}
	return os, arch, true
}
