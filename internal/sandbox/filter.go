package sandbox

import (
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/strata-build/strata/internal/seccomp"
)

// filters memoises Docker's default seccomp profile, and its compiled
// program, per capability set for a backend's lifetime: both depend only
// on the capabilities (and the kernel), so no step pays for them twice.
// The zero value is ready to use.
type filters struct {
	mu sync.Mutex
	m  map[string]*filter
}

// filter is the default profile for one capability set.
type filter struct {
	profile *specs.LinuxSeccomp // shared: never modified
	once    sync.Once
	prog    seccomp.Program
	err     error
}

// defaultProfile returns Docker's default profile for a process whose
// bounding set is caps.
func (f *filters) defaultProfile(caps []string) (*specs.LinuxSeccomp, error) {
	key := strings.Join(caps, ",")
	f.mu.Lock()
	defer f.mu.Unlock()
	if fl, ok := f.m[key]; ok {
		return fl.profile, nil
	}
	p, err := seccomp.Default(caps)
	if err != nil {
		return nil, err
	}
	if f.m == nil {
		f.m = map[string]*filter{}
	}
	f.m[key] = &filter{profile: p}
	return p, nil
}

// program compiles p, once for a profile defaultProfile returned.
func (f *filters) program(p *specs.LinuxSeccomp) (seccomp.Program, error) {
	f.mu.Lock()
	var fl *filter
	for _, v := range f.m {
		if v.profile == p {
			fl = v
		}
	}
	f.mu.Unlock()
	if fl == nil {
		return seccomp.Compile(p)
	}
	fl.once.Do(func() { fl.prog, fl.err = seccomp.Compile(p) })
	return fl.prog, fl.err
}
