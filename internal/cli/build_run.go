package cli

// The flags of docker build that shape every RUN step (--add-host,
// --shm-size, --ulimit) and how the build hands its result over
// (-q, --load).

import (
	"fmt"
	"net"
	"strings"

	"github.com/docker/go-units"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/pflag"

	"github.com/strata-build/strata/internal/build"
	"github.com/strata-build/strata/internal/sandbox"
)

// stepFlags are the RUN-shaping flags of strata build.
type stepFlags struct {
	addHosts []string
	shmSize  string
	ulimits  []string
}

func (r *stepFlags) register(fl *pflag.FlagSet) {
	fl.StringArrayVar(&r.addHosts, "add-host", nil, "add a custom host-to-IP mapping to RUN steps' /etc/hosts (host:ip or host=ip), repeatable")
	fl.StringVar(&r.shmSize, "shm-size", "", "size of /dev/shm in RUN steps, e.g. 128m (default 64m)")
	fl.StringArrayVar(&r.ulimits, "ulimit", nil, "resource limit of RUN steps, as docker: nofile=1024:2048, repeatable")
}

// options parses the flags into build.RunOptions.
func (r *stepFlags) options() (build.RunOptions, error) {
	var o build.RunOptions
	for _, h := range r.addHosts {
		host, err := parseExtraHost(h)
		if err != nil {
			return o, err
		}
		o.Hosts = append(o.Hosts, host)
	}
	if r.shmSize != "" {
		n, err := units.RAMInBytes(r.shmSize)
		if err != nil || n <= 0 {
			return o, fmt.Errorf("invalid --shm-size %q: a size such as 64m or 1g", r.shmSize)
		}
		o.ShmSize = n
	}
	for _, u := range r.ulimits {
		l, err := units.ParseUlimit(u)
		if err != nil {
			return o, fmt.Errorf("invalid --ulimit %q: %w", u, err)
		}
		o.Ulimits = append(o.Ulimits, specs.POSIXRlimit{Type: "RLIMIT_" + strings.ToUpper(l.Name), Soft: uint64(l.Soft), Hard: uint64(l.Hard)})
	}
	return o, nil
}

// parseExtraHost reads host:ip or host=ip as docker does (the first
// separator splits, so host:::1 is an IPv6 address).
func parseExtraHost(s string) (sandbox.Host, error) {
	name, ip, ok := strings.Cut(s, "=")
	if !ok {
		name, ip, ok = strings.Cut(s, ":")
	}
	ip = strings.TrimSuffix(strings.TrimPrefix(ip, "["), "]")
	switch {
	case !ok || name == "" || strings.ContainsAny(name, " \t"):
		return sandbox.Host{}, fmt.Errorf("invalid --add-host %q: use host:ip or host=ip", s)
	case ip == "host-gateway":
		return sandbox.Host{}, fmt.Errorf("invalid --add-host %q: host-gateway is a Docker daemon setting; RUN steps share the host's network, so use 127.0.0.1", s)
	case net.ParseIP(ip) == nil:
		return sandbox.Host{}, fmt.Errorf("invalid --add-host %q: %q is not an IP address", s, ip)
	}
	return sandbox.Host{Name: name, IP: ip}, nil
}
