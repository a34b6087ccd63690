package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"github.com/strata-build/strata/internal/plan"
	"github.com/strata-build/strata/internal/rootfs"
)

// copySpec is what COPY and ADD have in common.
type copySpec struct {
	add      bool
	sd       instructions.SourcesAndDest
	from     string
	chown    string
	chmod    string
	link     bool
	parents  bool
	exclude  []string
	checksum string
	unpack   *bool
	keepGit  *bool
}

func copyFromCopy(c *instructions.CopyCommand) copySpec {
	return copySpec{sd: c.SourcesAndDest, from: c.From, chown: c.Chown, chmod: c.Chmod,
		link: c.Link, parents: c.Parents, exclude: c.ExcludePatterns}
}

func copyFromAdd(c *instructions.AddCommand) copySpec {
	return copySpec{add: true, sd: c.SourcesAndDest, chown: c.Chown, chmod: c.Chmod,
		link: c.Link, exclude: c.ExcludePatterns, checksum: c.Checksum, unpack: c.Unpack, keepGit: c.KeepGitDir}
}

// createdBy is the history text, as BuildKit writes it.
func (c copySpec) createdBy() string {
	b := "COPY"
	if c.add {
		b = "ADD"
	}
	if c.parents {
		b += " --parents"
	}
	if c.chown != "" {
		b += " --chown=" + c.chown
	}
	if c.chmod != "" {
		b += " --chmod=" + c.chmod
	}
	for _, s := range c.sd.SourcePaths {
		b += " " + s
	}
	for _, s := range c.sd.SourceContents {
		b += " <<" + s.Path
	}
	return b + " " + c.sd.DestPath
}

// dispatchCopy runs COPY or ADD into a fresh layer, or takes the layer from
// the cache when the sources' content and the instruction are unchanged.
func (r *run) dispatchCopy(ctx context.Context, stp step, st *state, cs copySpec) (*state, bool, error) {
	if cs.checksum != "" && (len(cs.sd.SourcePaths) != 1 || !isURL(cs.sd.SourcePaths[0]) && !isGitSource(cs.sd.SourcePaths)) {
		return nil, false, fmt.Errorf("checksum requires a single HTTP(S) source")
	}
	if cs.link && chownByName(cs.chown) {
		return nil, false, fmt.Errorf("--chown=%s: user and group names can't be resolved when used with --link, use numeric uid[:gid] instead", cs.chown)
	}
	tmp, err := r.b.store.TempDir(ctx, "copy-src")
	if err != nil {
		return nil, false, err
	}
	defer os.RemoveAll(tmp)
	groups, content, err := r.copySources(ctx, stp, cs, tmp)
	if err != nil {
		return nil, false, err
	}
	dest := destPath(st.img.Config.WorkingDir, cs.sd.DestPath)
	// copySemantics changes when what a COPY makes of the same inputs does,
	// so that records of an older strata are not reused.
	key := fileKey(st, cs.createdBy(), copySemantics, "dest="+dest, "content="+content, "from="+cs.from,
		fmt.Sprintf("link=%v unpack=%v", cs.link, cs.unpack == nil || *cs.unpack), "exclude="+strings.Join(cs.exclude, "\x00"))
	return r.cached(ctx, stp, st, key, func(s *state) (*state, error) {
		return r.copyInto(ctx, s, cs, groups, dest)
	})
}

// copySemantics: 2 since --chmod sets created directories and several
// sources go in turn; 3 since --exclude never matches a source itself and
// matches from the --parents pivot; 4 since a --link copy without --chmod
// is made on nothing (issue 13); 5 since an archive's hard link entry
// gives the shared file its owner and mode.
const copySemantics = "copy=5"

// copyInto copies the source groups to dest in a fresh layer on st.
func (r *run) copyInto(ctx context.Context, st *state, cs copySpec, groups []rootfs.Sources, dest string) (*state, error) {
	under, err := st.stack(ctx, r.b.store)
	if err != nil {
		return nil, err
	}
	opts := rootfs.CopyOptions{Chmod: cs.chmod, Exclude: cs.exclude, Parents: cs.parents, Clamp: &r.opts.Timestamp, Mkdir: 0o755}
	if cs.chown != "" {
		o, err := rootfs.ChownOwner(under, cs.chown)
		if err != nil {
			return nil, err
		}
		opts.Chown = &o
	}
	// ADD extracts local archives of the context, never downloads.
	opts.Extract = cs.add && (cs.unpack == nil || *cs.unpack) && cs.from == "" && !hasURL(cs.sd.SourcePaths)
	layerDir, err := r.layerDir(ctx)
	if err != nil {
		return nil, err
	}
	if err := rootfs.CopyAll(ctx, groups, copyBase(cs, under), dest, layerDir, opts); err != nil {
		os.RemoveAll(layerDir)
		if cs.add {
			return nil, fmt.Errorf("ADD failed: %w", err)
		}
		return nil, fmt.Errorf("COPY failed: %w", err)
	}
	return r.commitLayer(ctx, st, layerDir, cs.createdBy())
}

// chownByName reports whether a --chown names a user or group rather than
// giving ids ("root" counts as an id), as BuildKit's client/llb WithUser
// parses it: a --link layer starts empty, with no /etc/passwd to read.
func chownByName(chown string) bool {
	if chown == "" {
		return false
	}
	u, g, _ := strings.Cut(chown, ":")
	return !numericID(u) || (g != "" && !numericID(g))
}

func numericID(s string) bool {
	if s == "root" {
		return true
	}
	_, err := strconv.ParseInt(s, 10, 32)
	return err == nil
}

// copyBase is the filesystem a COPY copies onto. A --link copy without
// --chmod is made on nothing and merged on top (dockerfile2llb
// dispatchCopy: llb.Scratch().File(copy with CreateDestPath) in a
// MergeOp), so the parents of its destination are made fresh in its
// layer, 0755 and owned per --chown, and replace those below; with
// --chmod BuildKit copies onto the stage as without --link.
func copyBase(cs copySpec, under rootfs.Stack) rootfs.Stack {
	if cs.link && cs.chmod == "" {
		return rootfs.Stack{}
	}
	return under
}

// destPath resolves a COPY destination against the working directory,
// keeping a trailing slash (it means "into this directory").
func destPath(workdir, dest string) string {
	dir := strings.HasSuffix(dest, "/") || dest == "." || dest == "" || strings.HasSuffix(dest, "/.")
	if !path.IsAbs(dest) {
		dest = path.Join(workdir, dest)
	}
	dest = path.Clean(dest)
	if dir && dest != "/" {
		dest += "/"
	}
	return dest
}

// copySources returns what COPY reads, in BuildKit's order: the source
// paths (from the context, --from or downloaded URLs), then the
// here-documents (written to files in tmp); and an identity of the content
// they select (for the cache key).
func (r *run) copySources(ctx context.Context, stp step, cs copySpec, tmp string) ([]rootfs.Sources, string, error) {
	var groups []rootfs.Sources
	var ids []string
	if len(cs.sd.SourcePaths) > 0 {
		src, srcs, id, err := r.copySource(ctx, stp, cs, filepath.Join(tmp, "url"))
		if err != nil {
			return nil, "", err
		}
		groups, ids = append(groups, rootfs.Sources{From: src, Paths: srcs}), append(ids, id)
	}
	if len(cs.sd.SourceContents) > 0 {
		dir := filepath.Join(tmp, "heredoc")
		if err := os.Mkdir(dir, 0o700); err != nil {
			return nil, "", err
		}
		srcs, err := writeHeredocs(dir, cs.sd.SourceContents)
		if err != nil {
			return nil, "", err
		}
		src := rootfs.NewDir(dir, nil)
		id, err := contentKey(ctx, src, srcs, nil)
		if err != nil {
			return nil, "", err
		}
		groups, ids = append(groups, rootfs.Sources{From: src, Paths: srcs}), append(ids, id)
	}
	return groups, strings.Join(ids, " "), nil
}

// copySource returns where the source paths of a COPY are read from, the
// patterns, and an identity of the content they select. ADD URLs are
// downloaded into tmp first.
func (r *run) copySource(ctx context.Context, stp step, cs copySpec, tmp string) (rootfs.Source, []string, string, error) {
	var src rootfs.Source
	srcs := cs.sd.SourcePaths
	var err error
	sc := r.stats
	switch {
	case cs.add && isGitSource(cs.sd.SourcePaths):
		src, srcs, err = r.fetchGit(ctx, cs, tmp)
		sc = nil
	case cs.add && hasURL(cs.sd.SourcePaths):
		if err := os.Mkdir(tmp, 0o700); err != nil {
			return nil, nil, "", err
		}
		src, srcs, err = r.fetchURLs(ctx, cs, tmp)
		sc = nil
	case cs.from == "":
		if src, err = r.mainContext(); err == nil {
			id, err := r.contextKey(ctx, r.progressStage(stp.stage), src, srcs, sc)
			return src, srcs, id, err
		}
	default:
		var from plan.Source
		from, err = r.fromSource(stp, cs.from)
		if err != nil {
			return nil, nil, "", err
		}
		var id string
		src, id, err = r.sourceFS(ctx, from)
		if err != nil || id != "" {
			return src, srcs, id, err
		}
	}
	if err != nil {
		return nil, nil, "", err
	}
	id, err := contentKey(ctx, src, srcs, sc)
	return src, srcs, id, err
}

// fromSource finds the resolved --from of the current instruction in the
// plan, or resolves it for an ONBUILD trigger (which the plan never saw).
func (r *run) fromSource(stp step, from string) (plan.Source, error) {
	for _, e := range stp.stage.Edges {
		if e.Command == stp.cmd && e.Kind != plan.BaseEdge {
			return e.From, nil
		}
	}
	src, err := r.plan.ResolveFrom(plan.CopyEdge, from, stp.line)
	if err != nil {
		return plan.Source{}, err
	}
	if src.Kind == plan.StageRef {
		if _, ok := r.futures[src.Stage]; !ok {
			return plan.Source{}, fmt.Errorf("--from=%s: stage %s is not part of this build", from, src.Stage.DisplayName())
		}
	}
	return src, nil
}

// sourceFS opens a --from source as a filesystem. For stages and images it
// also returns the identity of their filesystem; for a directory context
// the id is "" (the caller hashes what it reads).
func (r *run) sourceFS(ctx context.Context, src plan.Source) (rootfs.Source, string, error) {
	var st *state
	var err error
	switch src.Kind {
	case plan.StageRef:
		st, err = r.futures[src.Stage].wait(ctx)
	case plan.ContextRef:
		if dir, ok := r.contextDir(src.Ref); ok {
			return rootfs.NewDir(dir, nil), "", nil
		}
		st, err = r.imageSource(ctx, src)
	case plan.Scratch:
		return rootfs.Stack{}, "scratch", nil
	default:
		st, err = r.imageSource(ctx, src)
	}
	if err != nil {
		return nil, "", err
	}
	id, err := st.fsDigest()
	if err != nil {
		return nil, "", err
	}
	// Extract the source's layers only when something reads them: a cache
	// hit needs the id alone.
	return &lazyStack{open: func() (rootfs.Stack, error) { return st.stack(ctx, r.b.store) }}, id, nil
}

// lazyStack is a stage or image filesystem whose layers are extracted on
// first use.
type lazyStack struct {
	open  func() (rootfs.Stack, error)
	once  sync.Once
	stack rootfs.Stack
	err   error
}

var _ rootfs.Source = (*lazyStack)(nil)

func (l *lazyStack) get() (rootfs.Stack, error) {
	l.once.Do(func() { l.stack, l.err = l.open() })
	return l.stack, l.err
}

func (l *lazyStack) Lstat(p string) (fs.FileInfo, error) {
	s, err := l.get()
	if err != nil {
		return nil, err
	}
	return s.Lstat(p)
}

func (l *lazyStack) ReadDir(p string) ([]fs.DirEntry, error) {
	s, err := l.get()
	if err != nil {
		return nil, err
	}
	return s.ReadDir(p)
}

func (l *lazyStack) Readlink(p string) (string, error) {
	s, err := l.get()
	if err != nil {
		return "", err
	}
	return s.Readlink(p)
}

func (l *lazyStack) RealPath(p string) (string, error) {
	s, err := l.get()
	if err != nil {
		return "", err
	}
	return s.RealPath(p)
}

func (r *run) imageSource(ctx context.Context, src plan.Source) (*state, error) {
	img, err := r.resolveSource(ctx, src, r.platform) // BuildKit: the target platform
	if err != nil {
		return nil, err
	}
	return r.imageState(img)
}

// mainContext is the build context filtered by .dockerignore.
func (r *run) mainContext() (rootfs.Source, error) {
	if r.opts.ContextDir == "" {
		return nil, fmt.Errorf("no build context (the Dockerfile came from stdin without a context)")
	}
	return rootfs.NewDir(r.opts.ContextDir, r.opts.Ignore), nil
}

// writeHeredocs writes COPY <<EOF contents as files in dir.
func writeHeredocs(dir string, contents []instructions.SourceContent) ([]string, error) {
	var srcs []string
	for _, c := range contents {
		name := filepath.Base(c.Path)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(c.Data), 0o644); err != nil {
			return nil, fmt.Errorf("writing heredoc %s: %w", c.Path, err)
		}
		srcs = append(srcs, name)
	}
	return srcs, nil
}

func isURL(s string) bool { return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") }

func hasURL(srcs []string) bool {
	for _, s := range srcs {
		if isURL(s) {
			return true
		}
	}
	return false
}

// fetchURLs downloads ADD's URL sources into tmp (local sources are not
// allowed alongside them here), verifying --checksum.
func (r *run) fetchURLs(ctx context.Context, cs copySpec, tmp string) (rootfs.Source, []string, error) {
	var srcs []string
	for _, s := range cs.sd.SourcePaths {
		if !isURL(s) {
			return nil, nil, fmt.Errorf("mixing URL and local sources in one ADD is not supported")
		}
		name, err := r.fetchURL(ctx, s, tmp, cs.checksum)
		if err != nil {
			return nil, nil, err
		}
		srcs = append(srcs, name)
	}
	return rootfs.NewDir(tmp, nil), srcs, nil
}

func (r *run) fetchURL(ctx context.Context, raw, dir, checksum string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("parsing URL %s: %w", raw, err)
	}
	name := path.Base(u.Path)
	if name == "/" || name == "." || name == "" {
		name = "index.html"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return "", fmt.Errorf("fetching %s: %w", raw, err)
	}
	resp, err := r.b.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("fetching %s: %w", raw, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("fetching %s: %s", raw, resp.Status)
	}
	p := filepath.Join(dir, name)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return "", fmt.Errorf("fetching %s: %w", raw, err)
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("fetching %s: %w", raw, err)
	}
	if checksum != "" {
		got := "sha256:" + hex.EncodeToString(h.Sum(nil))
		if got != checksum {
			return "", fmt.Errorf("checksum mismatch for %s: got %s, want %s", raw, got, checksum)
		}
	}
	mt := time.Unix(0, 0)
	if lm, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		mt = lm
	}
	if err := os.Chtimes(p, mt, mt); err != nil {
		return "", fmt.Errorf("fetching %s: %w", raw, err)
	}
	return name, os.Chmod(p, 0o600)
}
