package build

import (
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/strata-build/strata/internal/sandbox"
)

// RunOptions are what docker build's --add-host, --shm-size and --ulimit
// set for every RUN step. Like BuildKit's exec metadata, they are part of
// a step's cache key.
type RunOptions struct {
	// Hosts are extra /etc/hosts entries.
	Hosts []sandbox.Host
	// ShmSize is the size of /dev/shm in bytes; 0 is Docker's 64 MiB.
	ShmSize int64
	// Ulimits are resource limits of the step's processes.
	Ulimits []specs.POSIXRlimit
}

// keyFields are the options in a RUN's cache key; none when unset, so
// keys of builds without them do not change.
func (o RunOptions) keyFields() []string {
	var f []string
	for _, h := range o.Hosts {
		f = append(f, "host="+h.Name+"="+h.IP)
	}
	if o.ShmSize > 0 {
		f = append(f, fmt.Sprintf("shm=%d", o.ShmSize))
	}
	for _, u := range o.Ulimits {
		f = append(f, fmt.Sprintf("ulimit=%s=%d:%d", u.Type, u.Soft, u.Hard))
	}
	return f
}

// apply sets the options on a step: hosts, a sized /dev/shm (unless a
// mount of the step's own is there), rlimits.
func (o RunOptions) apply(s *sandbox.Step) {
	s.Hosts = o.Hosts
	if o.ShmSize > 0 && !hasMount(s.Spec.Mounts, "/dev/shm") {
		s.Spec.Mounts = append(s.Spec.Mounts, specs.Mount{Destination: "/dev/shm", Type: "tmpfs", Source: "shm",
			Options: []string{"nosuid", "noexec", "nodev", "mode=1777", fmt.Sprintf("size=%dk", (o.ShmSize+1023)/1024)}})
	}
	s.Spec.Process.Rlimits = append(s.Spec.Process.Rlimits, o.Ulimits...)
}

func hasMount(ms []specs.Mount, dest string) bool {
	for _, m := range ms {
		if strings.TrimSuffix(m.Destination, "/") == dest {
			return true
		}
	}
	return false
}
