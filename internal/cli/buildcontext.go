package cli

// Build contexts that are not a local directory, as docker build takes
// them: a git repository URL, an HTTP(S) URL of a tarball or of a
// Dockerfile, and a tarball on stdin. Each becomes a local directory
// first; from there the build is the same.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/strata-build/strata/internal/gitsource"
	"github.com/strata-build/strata/internal/layer"
	"github.com/strata-build/strata/internal/rootfs"
)

// contextSource is a build context made local: Dir is the context
// directory ("" for a Dockerfile on stdin and no context), File the -f
// to read (possibly rewritten to a path inside Dir), Stdin what is left
// of stdin, and Source what the context was, for messages.
type contextSource struct {
	Dir, File, Source string
	Stdin             io.Reader
}

// httpContextName is the file a downloaded context that is no archive is
// saved as, and read as the Dockerfile from, as BuildKit names it.
const httpContextName = "context"

// maxHTTPContext bounds a context downloaded over HTTP.
const maxHTTPContext = 8 << 30

// localContext makes arg local under tmp (an empty directory of the
// store's that the caller removes). Local directories and a Dockerfile
// on stdin are returned as they are.
func localContext(ctx context.Context, stdin io.Reader, arg, file, tmp string) (contextSource, error) {
	src := contextSource{Dir: arg, File: file, Source: arg, Stdin: stdin}
	if r, ok, err := gitsource.Parse(arg); ok {
		if err != nil {
			return src, usageError{err}
		}
		return confinedFile(gitContext(ctx, r, file, tmp))
	}
	if strings.HasPrefix(arg, "http://") || strings.HasPrefix(arg, "https://") {
		return confinedFile(httpContext(ctx, arg, file, tmp))
	}
	if arg != "-" {
		return src, nil
	}
	tr, rest, ok, err := rootfs.ArchiveStream(stdin)
	if err != nil {
		return src, fmt.Errorf("reading the context from stdin: %w", err)
	}
	if !ok {
		src.Dir, src.Stdin = "", rest
		return src, nil
	}
	defer tr.Close()
	if file == "-" {
		return src, usageError{errors.New("stdin holds the context archive; -f - cannot read a Dockerfile from it too")}
	}
	src.Dir, src.Source = filepath.Join(tmp, "context"), "a tar archive on stdin"
	if err := extractContext(ctx, tr, src.Dir); err != nil {
		return src, fmt.Errorf("reading the context from stdin: %w", err)
	}
	src.File = fileInContext(src.Dir, file)
	return confinedFile(src, nil)
}

// confinedFile passes src on when its Dockerfile is inside its context.
func confinedFile(src contextSource, err error) (contextSource, error) {
	if err == nil {
		err = confined(src.Dir, src.File)
	}
	return src, err
}

// gitContext checks out a git reference; -f is relative to its subdir.
func gitContext(ctx context.Context, r gitsource.Ref, file, tmp string) (contextSource, error) {
	checkout := filepath.Join(tmp, "git")
	if _, err := gitsource.Fetch(ctx, r, checkout); err != nil {
		return contextSource{}, err
	}
	dir := filepath.Join(checkout, filepath.FromSlash(r.Subdir))
	return contextSource{Dir: dir, File: fileInContext(dir, file), Source: gitsource.Redact(r.Remote)}, nil
}

// httpContext downloads url: a tar archive (compressed or not) is the
// context; anything else is the Dockerfile, alone in the context as
// BuildKit has it.
func httpContext(ctx context.Context, url, file, tmp string) (contextSource, error) {
	src := contextSource{Dir: filepath.Join(tmp, "context"), Source: gitsource.Redact(url)}
	archive, err := download(ctx, url, src.Dir, file != "")
	if err != nil {
		return src, fmt.Errorf("downloading the context %s: %w", src.Source, err)
	}
	if !archive {
		src.File = filepath.Join(src.Dir, httpContextName)
		return src, nil
	}
	src.File = fileInContext(src.Dir, file)
	return src, nil
}

// download fetches url into dir: extracted when it is a tar archive
// (archive true), else saved as httpContextName.
func download(ctx context.Context, url, dir string, wantArchive bool) (archive bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("server returned %s", resp.Status)
	}
	tr, rest, ok, err := rootfs.ArchiveStream(io.LimitReader(resp.Body, maxHTTPContext))
	if err != nil {
		return false, err
	}
	if ok {
		defer tr.Close()
		return true, extractContext(ctx, tr, dir)
	}
	if wantArchive {
		return false, errors.New("not a tar archive, and -f names a file in one")
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return false, err
	}
	f, err := os.OpenFile(filepath.Join(dir, httpContextName), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return false, err
	}
	if _, err := io.Copy(f, io.LimitReader(rest, 1<<20)); err != nil {
		f.Close()
		return false, err
	}
	return false, f.Close()
}

// extractContext unpacks a context archive into dir, confined to it.
func extractContext(ctx context.Context, tr io.Reader, dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	return layer.Extract(ctx, tr, dir, layer.ExtractOptions{Archive: true})
}

// fileInContext is -f for a context that was not a local directory: a
// path inside it (default Dockerfile), as docker reads it there.
func fileInContext(dir, file string) string {
	if file == "" {
		file = "Dockerfile"
	}
	return filepath.Join(dir, filepath.Clean("/"+file))
}

// confined checks that the Dockerfile path p, inside a context made from
// a repository or an archive, does not lead out of dir through a symlink:
// such a context is not trusted to name files of this host.
func confined(dir, p string) error {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return nil // reading it says what is wrong
	}
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	if rel, err := filepath.Rel(root, real); err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return fmt.Errorf("the Dockerfile %s leads out of the context", strings.TrimPrefix(p, dir+"/"))
	}
	return nil
}
