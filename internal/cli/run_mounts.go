package cli

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// portMapping is one -p: the host's address and port, the container's
// port and protocol.
type portMapping struct {
	IP        string `json:",omitempty"`
	Host      int
	Container int
	Proto     string
}

// String renders m as docker ps does (0.0.0.0:8080->80/tcp), with the
// port the host really has: the container's, as it shares the host's
// network.
func (m portMapping) String() string {
	ip := m.IP
	if ip == "" {
		ip = "0.0.0.0"
	}
	return fmt.Sprintf("%s:%d->%d/%s", ip, m.Container, m.Container, m.Proto)
}

// parsePorts parses -p values as docker does: [IP:][HOST:]CONTAINER[/PROTO],
// single ports (ranges are refused).
func parsePorts(values []string) ([]portMapping, error) {
	var out []portMapping
	for _, v := range values {
		m, err := parsePort(v)
		if err != nil {
			return nil, fmt.Errorf("invalid -p %q: %w", v, err)
		}
		out = append(out, m)
	}
	return out, nil
}

func parsePort(v string) (portMapping, error) {
	m := portMapping{Proto: "tcp"}
	spec, proto, ok := strings.Cut(v, "/")
	if ok {
		if proto != "tcp" && proto != "udp" && proto != "sctp" {
			return m, fmt.Errorf("unknown protocol %q: use tcp, udp or sctp", proto)
		}
		m.Proto = proto
	}
	// An IPv6 address is bracketed: [::1]:8080:80.
	if strings.HasPrefix(spec, "[") {
		end := strings.Index(spec, "]:")
		if end < 0 {
			return m, errors.New("unclosed [ of an IPv6 address")
		}
		m.IP, spec = spec[1:end], spec[end+2:]
	}
	parts := strings.Split(spec, ":")
	if len(parts) == 3 && m.IP == "" {
		m.IP, parts = parts[0], parts[1:]
	}
	if len(parts) > 2 {
		return m, errors.New("want [IP:][HOST-PORT:]CONTAINER-PORT[/PROTO]")
	}
	if m.IP != "" {
		if _, err := netip.ParseAddr(m.IP); err != nil {
			return m, fmt.Errorf("bad IP address %q", m.IP)
		}
	}
	var err error
	if m.Container, err = portNumber(parts[len(parts)-1]); err != nil {
		return m, err
	}
	m.Host = m.Container
	if len(parts) == 2 && parts[0] != "" {
		if m.Host, err = portNumber(parts[0]); err != nil {
			return m, err
		}
	}
	return m, nil
}

func portNumber(s string) (int, error) {
	if strings.Contains(s, "-") {
		return 0, fmt.Errorf("port range %q: give single ports", s)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %q out of range 1-65535", s)
	}
	return n, nil
}

// warnPorts says once, on stderr, what -p cannot do: the container shares
// the host's network, so its ports are the host's, unmapped.
func warnPorts(w io.Writer, ports []portMapping, network string) {
	if len(ports) == 0 {
		return
	}
	if network == "none" {
		fmt.Fprintln(w, "WARNING: -p with --network=none: the container has no network, its ports are reachable from nowhere")
		return
	}
	var moved []string
	for _, p := range ports {
		if p.Host != p.Container {
			moved = append(moved, fmt.Sprintf("%d->%d/%s", p.Host, p.Container, p.Proto))
		}
	}
	if len(moved) > 0 {
		fmt.Fprintf(w, "WARNING: strata run shares the host's network: the container's ports are the host's own and cannot be remapped (%s); it listens on the container port\n", strings.Join(moved, ", "))
	}
}

// parseVolumes turns -v HOST:CONTAINER[:ro|rw] into bind mounts. Host
// paths only (absolute, or relative starting with "."); a missing host
// dir is created, as docker does.
func parseVolumes(values []string) ([]specs.Mount, error) {
	var out []specs.Mount
	for _, v := range values {
		m, err := parseVolume(v)
		if err != nil {
			return nil, fmt.Errorf("invalid -v %q: %w", v, err)
		}
		out = append(out, m)
	}
	return out, nil
}

func parseVolume(v string) (specs.Mount, error) {
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 {
		if len(parts) == 1 && strings.HasPrefix(v, "/") {
			return specs.Mount{}, errors.New("anonymous volumes are not supported: give HOST-PATH:CONTAINER-PATH")
		}
		return specs.Mount{}, errors.New("want HOST-PATH:CONTAINER-PATH[:ro|rw]")
	}
	src, dst := parts[0], parts[1]
	if !strings.HasPrefix(src, "/") && !strings.HasPrefix(src, ".") {
		return specs.Mount{}, fmt.Errorf("named volumes are not supported: %q is not a host path (absolute, or relative starting with \".\")", src)
	}
	if !strings.HasPrefix(dst, "/") {
		return specs.Mount{}, fmt.Errorf("container path %q is not absolute", dst)
	}
	opts := []string{"rbind", "rprivate"}
	if len(parts) == 3 {
		for _, o := range strings.Split(parts[2], ",") {
			switch o {
			case "ro", "rw":
				opts = append(opts, o)
			case "z", "Z", "private", "rprivate", "shared", "rshared", "slave", "rslave":
			default:
				return specs.Mount{}, fmt.Errorf("unknown option %q: use ro or rw", o)
			}
		}
	}
	abs, err := filepath.Abs(src)
	if err != nil {
		return specs.Mount{}, err
	}
	if _, err := os.Stat(abs); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return specs.Mount{}, fmt.Errorf("creating host dir: %w", err)
		}
	} else if err != nil {
		return specs.Mount{}, err
	}
	return specs.Mount{Destination: filepath.Clean(dst), Type: "bind", Source: abs, Options: opts}, nil
}
