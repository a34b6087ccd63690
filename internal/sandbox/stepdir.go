package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// stepDir is a step's private scratch dir on the host: the root mount
// point, the generated /etc files, an empty lower for steps without
// layers, and (OCI) the bundle. Nothing is ever mounted in it on the
// host except root by the OCI backend, which unmounts it before remove.
type stepDir struct {
	dir    string
	root   string
	empty  string
	etcDir string // holds the etc files; the builtin init hides it under a tmpfs with their copies
	etc    etcFiles
}

func newStepDir(tmp string, hostname string, hosts []Host) (*stepDir, error) {
	dir, err := os.MkdirTemp(tmp, "strata-step-")
	if err != nil {
		return nil, fmt.Errorf("creating step dir: %w", err)
	}
	etc := filepath.Join(dir, "etc")
	d := &stepDir{
		dir:    dir,
		root:   filepath.Join(dir, "root"),
		empty:  filepath.Join(dir, "empty"),
		etcDir: etc,
		etc: etcFiles{
			ResolvConf: filepath.Join(etc, "resolv.conf"),
			Hosts:      filepath.Join(etc, "hosts"),
			Hostname:   filepath.Join(etc, "hostname"),
		},
	}
	if err := d.populate(hostname, hosts); err != nil {
		d.remove()
		return nil, err
	}
	return d, nil
}

func (d *stepDir) populate(hostname string, hosts []Host) error {
	for _, p := range []string{d.root, d.empty, d.etcDir} {
		if err := os.Mkdir(p, 0o755); err != nil {
			return fmt.Errorf("creating step dir: %w", err)
		}
	}
	files := map[string]string{
		d.etc.ResolvConf: resolvConf(),
		d.etc.Hosts:      hostsFile(hostname, hosts),
		d.etc.Hostname:   hostname + "\n",
	}
	for p, content := range files {
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", filepath.Base(p), err)
		}
	}
	return nil
}

// hostsFile is /etc/hosts as BuildKit writes it, with the extra hosts
// after the defaults.
func hostsFile(hostname string, hosts []Host) string {
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost " + hostname + "\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	for _, h := range hosts {
		fmt.Fprintf(&b, "%s\t%s\n", h.IP, h.Name)
	}
	return b.String()
}

// resolvConf is the host's resolv.conf, or Docker's fallback when the host
// has none.
func resolvConf() string {
	b, err := os.ReadFile("/etc/resolv.conf")
	if err != nil || len(strings.TrimSpace(string(b))) == 0 {
		return "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
	}
	return string(b)
}

// remove deletes the step dir entry by entry, never recursively through a
// mount point: a dir still mounted on makes it fail instead.
func (d *stepDir) remove() error {
	var errs []error
	// The OCI runtime's state dir in a user namespace (nothing mounted).
	if err := os.RemoveAll(filepath.Join(d.dir, "state")); err != nil {
		errs = append(errs, fmt.Errorf("removing step dir: %w", err))
	}
	for _, p := range []string{d.etc.ResolvConf, d.etc.Hosts, d.etc.Hostname, d.etcDir, d.root, d.empty, filepath.Join(d.dir, "config.json"), d.dir} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("removing step dir: %w", err))
		}
	}
	return errors.Join(errs...)
}
