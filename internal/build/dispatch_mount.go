package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/strata-build/strata/internal/plan"
	"github.com/strata-build/strata/internal/rootfs"
)

// Secret is a --secret value: the bytes are read when a RUN mounts it and
// never reach a layer, the history, the cache key or the log.
type Secret struct {
	File string // src=PATH
	Env  string // env=VAR (read from the environment of strata)
}

// runMounts holds what a RUN step mounts, and what to undo afterwards.
type runMounts struct {
	specs []specs.Mount
	env   []string
	undo  []func()
	ssh   int // ssh mounts so far
}

func (m *runMounts) cleanup() {
	for i := len(m.undo) - 1; i >= 0; i-- {
		m.undo[i]()
	}
}

// prepareMounts turns RUN --mount flags into sandbox mounts.
func (r *run) prepareMounts(ctx context.Context, stp step, st *state, ms []*instructions.Mount, scratch string) (*runMounts, error) {
	rm := &runMounts{}
	for i, m := range ms {
		target := m.Target
		if target != "" && !path.IsAbs(target) {
			target = path.Join(st.img.Config.WorkingDir, target)
		}
		var err error
		switch m.Type {
		case instructions.MountTypeTmpfs:
			opts := []string{"nosuid", "nodev"}
			if m.SizeLimit > 0 {
				opts = append(opts, fmt.Sprintf("size=%d", m.SizeLimit))
			}
			rm.specs = append(rm.specs, specs.Mount{Destination: target, Type: "tmpfs", Source: "tmpfs", Options: opts})
		case instructions.MountTypeCache:
			err = r.cacheMount(ctx, stp, rm, m, target)
		case instructions.MountTypeBind:
			err = r.bindMount(ctx, stp, rm, m, target, filepath.Join(scratch, fmt.Sprintf("bind%d", i)))
		case instructions.MountTypeSecret:
			_, err = r.secretMount(rm, m, target, filepath.Join(scratch, fmt.Sprintf("secret%d", i)))
		case instructions.MountTypeSSH:
			_, err = r.sshMount(rm, m, target)
		default:
			err = fmt.Errorf("unsupported mount type %q", m.Type)
		}
		if err != nil {
			rm.cleanup()
			return nil, fmt.Errorf("RUN --mount=type=%s: %w", m.Type, err)
		}
	}
	return rm, nil
}

// cacheMount mounts a directory kept in the store across builds, keyed by
// id (default: the target).
func (r *run) cacheMount(ctx context.Context, stp step, rm *runMounts, m *instructions.Mount, target string) error {
	sum := sha256.Sum256([]byte(cacheIdentity(m, target)))
	dir := filepath.Join(r.b.store.Root(), "cache-mounts", hex.EncodeToString(sum[:16]))
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := newCacheDir(dir, m, r.cacheSeed(ctx, stp, m)); err != nil {
			return err
		}
	}
	switch m.CacheSharing {
	case instructions.MountSharingLocked:
		unlock, err := lockDir(ctx, dir)
		if err != nil {
			return err
		}
		rm.undo = append(rm.undo, unlock)
	case instructions.MountSharingPrivate:
		unlock, err := tryLockDir(dir)
		if err != nil {
			// In use: this step gets a fresh private cache.
			tmp, err := r.b.store.TempDir(ctx, "cache")
			if err != nil {
				return err
			}
			rm.undo = append(rm.undo, func() { os.RemoveAll(tmp) })
			dir = tmp
		} else {
			rm.undo = append(rm.undo, unlock)
		}
	}
	opts := []string{"rbind"}
	if m.ReadOnly {
		opts = append(opts, "ro")
	}
	rm.specs = append(rm.specs, specs.Mount{Destination: target, Type: "bind", Source: filepath.Join(dir, "data"), Options: opts})
	return nil
}

// cacheIdentity is what names a cache mount: its id (default the target)
// and what it starts from, as BuildKit keys a cache by id and base ref
// (solver/llbsolver/mounts: id + ":" + ref.ID()): the directory's mode and
// owner (defaults 0755 0:0), or the stage and path it is filled from. Two
// mounts with one id but other modes are two caches there too. (A from=
// stage is named, not hashed by content: BuildKit would start a new cache
// when that stage's content changes.)
func cacheIdentity(m *instructions.Mount, target string) string {
	id := m.CacheID
	if id == "" {
		id = target
	}
	if m.From != "" {
		return fmt.Sprintf("%s\x00from=%s\x00source=%s", id, m.From, path.Join("/", m.Source))
	}
	mode, uid, gid := uint64(0o755), uint64(0), uint64(0)
	if m.Mode != nil {
		mode = *m.Mode
	}
	if m.UID != nil {
		uid = *m.UID
	}
	if m.GID != nil {
		gid = *m.GID
	}
	if mode == 0o755 && uid == 0 && gid == 0 {
		return id // the default base: the name it always had
	}
	return fmt.Sprintf("%s\x00mode=%o\x00uid=%d\x00gid=%d", id, mode, uid, gid)
}

// cacheSeed returns what fills a new cache mount: with from= the source
// path (default "/") of that stage or image, else nothing.
func (r *run) cacheSeed(ctx context.Context, stp step, m *instructions.Mount) func(root string) error {
	if m.From == "" {
		return func(string) error { return nil }
	}
	return func(root string) error {
		from, err := r.mountSource(stp, m.From)
		if err != nil {
			return err
		}
		src, _, err := r.sourceFS(ctx, from)
		if err != nil {
			return err
		}
		return rootfs.Copy(ctx, src, []string{path.Join("/", m.Source)}, rootfs.Stack{}, "/data/", root, rootfs.CopyOptions{Mkdir: 0o755})
	}
}

// newCacheDir creates a cache mount directory with the mount's mode and
// owner, filled by seed.
func newCacheDir(dir string, m *instructions.Mount, seed func(root string) error) error {
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	mode := os.FileMode(0o755)
	if m.Mode != nil {
		mode = os.FileMode(*m.Mode)
	}
	// ROOT/cache-mounts and <hex> are the store's (0700, root's alone);
	// data is the mount's.
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return fmt.Errorf("creating cache mount: %w", err)
	}
	if err := os.Mkdir(filepath.Join(tmp, "data"), 0o755); err != nil {
		return fmt.Errorf("creating cache mount: %w", err)
	}
	if err := seed(tmp); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("filling cache mount from %s: %w", m.From, err)
	}
	data := filepath.Join(tmp, "data")
	uid, gid := 0, 0
	if m.UID != nil {
		uid = int(*m.UID)
	}
	if m.GID != nil {
		gid = int(*m.GID)
	}
	if err := os.Chown(data, uid, gid); err != nil {
		return fmt.Errorf("creating cache mount: %w", err)
	}
	if err := os.Chmod(data, mode); err != nil {
		return fmt.Errorf("creating cache mount: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("creating cache mount: %w", err)
	}
	return nil
}

func lockDir(ctx context.Context, dir string) (func(), error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("locking cache mount: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- unix.Flock(int(f.Fd()), unix.LOCK_EX) }()
	select {
	case err := <-done:
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("locking cache mount: %w", err)
		}
	case <-ctx.Done():
		go func() { <-done; f.Close() }()
		return nil, ctx.Err()
	}
	return func() { f.Close() }, nil
}

func tryLockDir(dir string) (func(), error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// bindMount mounts a path of the context, a stage or an image. The source is
// copied into a scratch directory, so writes (rw) are discarded and nothing
// outside the source is reachable.
func (r *run) bindMount(ctx context.Context, stp step, rm *runMounts, m *instructions.Mount, target, scratch string) error {
	var src rootfs.Source
	var err error
	if m.From == "" {
		src, err = r.mainContext()
	} else {
		var from plan.Source
		from, err = r.mountSource(stp, m.From)
		if err == nil {
			src, _, err = r.sourceFS(ctx, from)
		}
	}
	if err != nil {
		return err
	}
	source := path.Join("/", m.Source)
	if err := os.MkdirAll(scratch, 0o755); err != nil {
		return err
	}
	fi, err := src.Lstat(source)
	if err != nil {
		return fmt.Errorf("source %q: %w", m.Source, err)
	}
	dst := "/data/"
	if !fi.IsDir() {
		dst = "/data"
	}
	if err := rootfs.Copy(ctx, src, []string{source}, rootfs.Stack{}, dst, scratch, rootfs.CopyOptions{Mkdir: 0o755}); err != nil {
		return err
	}
	opts := []string{"rbind"}
	if m.ReadOnly {
		opts = append(opts, "ro")
	}
	rm.specs = append(rm.specs, specs.Mount{Destination: target, Type: "bind", Source: filepath.Join(scratch, "data"), Options: opts})
	return nil
}

// mountSource resolves RUN --mount from=.
func (r *run) mountSource(stp step, from string) (plan.Source, error) {
	for _, e := range stp.stage.Edges {
		if e.Command == stp.cmd && e.Kind == plan.MountEdge && (e.From.Ref == from || (e.From.Stage != nil && strings.EqualFold(e.From.Stage.Name, from))) {
			return e.From, nil
		}
	}
	return r.plan.ResolveFrom(plan.MountEdge, from, stp.line)
}

// secretMount mounts a --secret as a file (default /run/secrets/ID) held in
// memory by a secretFS for the step's lifetime, or sets it as an environment
// variable (env=NAME). Nothing is written under the store.
func (r *run) secretMount(rm *runMounts, m *instructions.Mount, target, scratch string) (string, error) {
	id := m.CacheID
	if id == "" && m.Source != "" {
		id = m.Source
	}
	if id == "" {
		id = path.Base(target)
	}
	sec, ok := r.opts.Secrets[id]
	if !ok {
		if m.Required {
			return "", fmt.Errorf("secret %s is required but was not given (--secret id=%s,...)", id, id)
		}
		return "", nil
	}
	data, err := sec.read()
	if err != nil {
		return "", fmt.Errorf("reading secret %s: %w", id, err)
	}
	if m.Env != nil && *m.Env != "" {
		rm.env = append(rm.env, *m.Env+"="+string(data))
		if m.Target == "" {
			return "", nil
		}
	}
	if target == "" {
		target = "/run/secrets/" + id
	}
	sfs, err := newSecretFS(data, secretOwnerOf(m), scratch)
	if err != nil {
		return "", fmt.Errorf("mounting secret %s: %w", id, err)
	}
	rm.undo = append(rm.undo, sfs.close)
	rm.specs = append(rm.specs, specs.Mount{Destination: target, Type: "bind", Source: sfs.source(), Options: []string{"rbind", "ro"}})
	return target, nil
}

// secretOwnerOf is the mode (default 0400) and owner (default root) a
// secret mount asks for.
func secretOwnerOf(m *instructions.Mount) secretOwner {
	o := secretOwner{mode: 0o400}
	if m.Mode != nil {
		o.mode = uint32(*m.Mode)
	}
	if m.UID != nil {
		o.uid = int(*m.UID)
	}
	if m.GID != nil {
		o.gid = int(*m.GID)
	}
	return o
}

func (s Secret) read() ([]byte, error) {
	if s.Env != "" {
		v, ok := os.LookupEnv(s.Env)
		if !ok {
			return nil, fmt.Errorf("environment variable %s is not set", s.Env)
		}
		return []byte(v), nil
	}
	return os.ReadFile(s.File)
}

// sshMount forwards an SSH agent socket (--ssh ID=SOCKET).
func (r *run) sshMount(rm *runMounts, m *instructions.Mount, target string) (string, error) {
	id := m.CacheID
	if id == "" {
		id = "default"
	}
	if target == "" {
		target = fmt.Sprintf("/run/buildkit/ssh_agent.%d", rm.ssh)
	}
	rm.ssh++
	if rm.ssh == 1 {
		// As BuildKit's LLB: SSH_AUTH_SOCK names the first ssh mount's
		// target, also when an optional agent was not given.
		rm.env = append(rm.env, "SSH_AUTH_SOCK="+target)
	}
	sock, ok := r.opts.SSH[id]
	if !ok {
		if m.Required {
			return "", fmt.Errorf("ssh agent %s is required but was not given (--ssh %s)", id, id)
		}
		return "", nil
	}
	rm.specs = append(rm.specs, specs.Mount{Destination: target, Type: "bind", Source: sock, Options: []string{"rbind"}})
	return target, nil
}

// mountsKey describes a RUN's mounts for the cache key: every option, and for
// bind mounts the content of the source. Secret values never enter it.
func (r *run) mountsKey(ctx context.Context, stp step, ms []*instructions.Mount) (string, error) {
	k := newKeyer("mounts")
	for _, m := range ms {
		k.add(string(m.Type), m.Target, m.Source, m.From, m.CacheID, string(m.CacheSharing),
			fmt.Sprint(m.ReadOnly, m.Required, m.SizeLimit), optUint(m.Mode), optUint(m.UID), optUint(m.GID), optString(m.Env))
		if m.Type != instructions.MountTypeBind {
			continue
		}
		var src rootfs.Source
		id := ""
		var err error
		if m.From == "" {
			src, err = r.mainContext()
		} else {
			var from plan.Source
			if from, err = r.mountSource(stp, m.From); err == nil {
				src, id, err = r.sourceFS(ctx, from)
			}
		}
		if err != nil {
			return "", err
		}
		if id == "" {
			sc := r.stats
			if id, err = contentKey(ctx, src, []string{m.Source}, sc); err != nil {
				return "", err
			}
		}
		k.add(id)
	}
	return k.sum().String(), nil
}

func optUint(p *uint64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprint(*p)
}

func optString(p *string) string {
	if p == nil {
		return "-"
	}
	return *p
}
