package build

import (
	"sort"
	"strings"
	"sync"
)

// argSet records which build args a build declared, to report unused ones.
type argSet struct {
	mu       sync.Mutex
	declared map[string]bool
}

func newArgSet() *argSet { return &argSet{declared: map[string]bool{}} }

func (a *argSet) markDeclared(k string) {
	a.mu.Lock()
	a.declared[k] = true
	a.mu.Unlock()
}

func (a *argSet) markUsed(keys []string) {}

// unused lists the build args no ARG declared (predefined ones excluded).
func (a *argSet) unused(buildArgs map[string]string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for k := range buildArgs {
		if !a.declared[k] && !isPredefinedArg(k) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// isPredefinedArg reports the ARGs Docker defines without a declaration.
func isPredefinedArg(k string) bool {
	switch strings.ToUpper(k) {
	case "HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY",
		"TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT",
		"BUILDPLATFORM", "BUILDOS", "BUILDARCH", "BUILDVARIANT", "SOURCE_DATE_EPOCH":
		return true
	}
	return false
}
