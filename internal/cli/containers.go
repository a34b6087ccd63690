package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/internal/sandbox"
)

// Detached containers live in ROOT/containers/<id>/: config.json (the
// record), pid (the monitor's), log (stdout and stderr), exit (the code,
// once ended) and the container's upper and work dirs while it runs.
const containersDir = "containers"

// container is the record of a detached container.
type container struct {
	ID         string
	Name       string
	Image      string
	ImageID    string
	Manifest   string `json:",omitempty"` // kept by prune while the container exists
	Command    []string
	Created    time.Time
	Ports      []portMapping `json:",omitempty"`
	StopSignal string        `json:",omitempty"`
	AutoRemove bool          `json:",omitempty"`
	dir        string
}

// containerState is what a container is doing now.
type containerState struct {
	Created  bool // not started yet
	Running  bool
	Pid      int
	ExitCode int
	Finished time.Time
}

// runDetached starts run in the background under a monitor, records it
// and prints its ID, as docker run -d does.
func runDetached(ctx context.Context, g *globals, f *runFlags, run *containerRun, cf *v1.ConfigFile) error {
	if f.isolation != "auto" && f.isolation != "builtin" {
		return usageError{fmt.Errorf("-d needs the builtin sandbox, not --isolation %s", f.isolation)}
	}
	if d := sandbox.Detect(ctx, sandbox.Options{}); d.Mode != sandbox.ModeBuiltin {
		return fmt.Errorf("-d needs the builtin sandbox, unusable here (%s)", d.Reason)
	}
	all, err := listContainers(g.root)
	if err != nil {
		return err
	}
	c := &container{
		ID: newContainerID(), Name: f.name, Image: run.ref, ImageID: run.imageID, Manifest: run.manifest,
		Command: run.spec.Process.Args, Created: time.Now().UTC(), Ports: run.ports,
		StopSignal: cf.Config.StopSignal, AutoRemove: f.rm,
	}
	if c.Name == "" {
		c.Name = generatedName(all)
	}
	for _, o := range all {
		if o.Name == c.Name {
			return fmt.Errorf("conflict: the container name %q is already in use by container %s: remove it (strata rm) to reuse the name", c.Name, o.ID[:12])
		}
	}
	c.dir = filepath.Join(g.root, containersDir, c.ID)
	upper, work := filepath.Join(c.dir, "upper"), filepath.Join(c.dir, "work")
	for _, d := range []string{upper, work} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("creating container: %w", err)
		}
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(c.dir, "config.json"), b, 0o600); err != nil {
		return fmt.Errorf("creating container: %w", err)
	}
	remove := []string{upper, work}
	if f.rm {
		remove = []string{c.dir}
	}
	_, err = sandbox.StartDetached(sandbox.Detached{
		Step:    &sandbox.Step{Lower: run.stack.Dirs, Upper: upper, Work: work, Spec: run.spec, Network: f.network},
		Options: sandbox.Options{TempDir: os.TempDir()},
		ID:      c.ID, Log: filepath.Join(c.dir, "log"), Pid: filepath.Join(c.dir, "pid"), Exit: filepath.Join(c.dir, "exit"), Remove: remove,
	})
	if err != nil {
		os.RemoveAll(c.dir)
		return err
	}
	fmt.Fprintln(g.stdio.Out, c.ID)
	return nil
}

// newContainerID is 64 random hex digits, as Docker's.
func newContainerID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// containerName is a valid --name (compiled on first use, not when strata
// starts).
var containerName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`) })

// validName checks --name as docker does.
func validName(n string) error {
	if !containerName().MatchString(n) {
		return usageError{fmt.Errorf("invalid container name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", n)}
	}
	return nil
}

// generatedName is an adjective_noun name no container has, as Docker's.
func generatedName(all []*container) string {
	adj := []string{"brave", "calm", "eager", "fervent", "gifted", "happy", "jolly", "keen", "lucid", "nifty", "quirky", "serene", "tender", "vibrant", "witty", "zealous"}
	noun := []string{"babbage", "curie", "darwin", "euler", "fermi", "galois", "hopper", "jepsen", "knuth", "lovelace", "noether", "pike", "ritchie", "shannon", "turing", "wozniak"}
	pick := func(l []string) string {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(l))))
		return l[n.Int64()]
	}
	for i := 0; ; i++ {
		name := pick(adj) + "_" + pick(noun)
		if i > 20 {
			name += strconv.Itoa(i)
		}
		if !slices.ContainsFunc(all, func(c *container) bool { return c.Name == name }) {
			return name
		}
	}
}

// listContainers reads every container record under root, newest first.
func listContainers(root string) ([]*container, error) {
	base := filepath.Join(root, containersDir)
	entries, err := os.ReadDir(base)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing containers: %w", err)
	}
	var out []*container
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(base, e.Name(), "config.json"))
		if err != nil {
			continue // being created or removed
		}
		c := &container{}
		if err := json.Unmarshal(b, c); err != nil || c.ID != e.Name() {
			continue
		}
		c.dir = filepath.Join(base, e.Name())
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *container) int { return b.Created.Compare(a.Created) })
	return out, nil
}

// containerImages are the manifests of every container under root, which
// prune keeps as docker keeps the images of containers until they are
// removed.
func containerImages(root string) ([]v1.Hash, error) {
	all, err := listContainers(root)
	if err != nil {
		return nil, err
	}
	var out []v1.Hash
	for _, c := range all {
		if h, err := v1.NewHash(c.Manifest); err == nil {
			out = append(out, h)
		}
	}
	return out, nil
}

// findContainer finds a container by name, ID or unique ID prefix.
func findContainer(root, ref string) (*container, error) {
	all, err := listContainers(root)
	if err != nil {
		return nil, err
	}
	var byPrefix []*container
	for _, c := range all {
		if c.Name == ref || c.ID == ref {
			return c, nil
		}
		if strings.HasPrefix(c.ID, ref) {
			byPrefix = append(byPrefix, c)
		}
	}
	if len(byPrefix) == 1 && ref != "" {
		return byPrefix[0], nil
	}
	if len(byPrefix) > 1 {
		return nil, fmt.Errorf("multiple containers match %q: give more of the ID", ref)
	}
	return nil, fmt.Errorf("no such container: %s", ref)
}

// state reads whether c runs: its monitor alive (the process with c's
// PID whose command line is the monitor's of c) and no exit code
// written. A monitor that died without writing one (killed) is shown as
// killed: 137.
func (c *container) state() containerState {
	var st containerState
	if b, err := os.ReadFile(filepath.Join(c.dir, "exit")); err == nil {
		st.ExitCode, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		if fi, err := os.Stat(filepath.Join(c.dir, "exit")); err == nil {
			st.Finished = fi.ModTime()
		}
		return st
	}
	b, err := os.ReadFile(filepath.Join(c.dir, "pid"))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if err == nil && pid > 0 {
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err == nil && string(cmdline) == sandbox.MonitorArgs(c.ID) {
			return containerState{Running: true, Pid: pid}
		}
	}
	if errors.Is(err, os.ErrNotExist) {
		if _, err := os.Stat(c.dir); err == nil {
			return containerState{Created: true} // being started
		}
		return containerState{} // removed (--rm) as it ended
	}
	st.ExitCode = 137
	if fi, err := os.Stat(filepath.Join(c.dir, "pid")); err == nil {
		st.Finished = fi.ModTime()
	}
	return st
}
