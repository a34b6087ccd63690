// Package gitsource fetches a git repository at a ref into a directory, as
// BuildKit's git source does, for a build context given as a git URL
// (`https://host/repo.git#ref:subdir`, `git@host:repo.git`, `git://...`).
// It runs the git command: a shallow fetch of the one ref, a checkout,
// the submodules, and the .git directory removed unless kept. References are
// read as BuildKit's dockerfile frontend reads them (dfgitutil.ParseGitRef),
// so what docker accepts, strata does.
//
// It imports only the standard library.
package gitsource

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

// Ref is a git repository, a ref in it and a directory under it.
type Ref struct {
	// Remote is the repository URL without fragment or query.
	Remote string
	// Ref is a branch, tag or commit; empty is the remote's HEAD.
	Ref string
	// Subdir is a directory of the repository, slash-separated, relative.
	Subdir string
	// KeepGitDir keeps .git in the checkout (?keep-git-dir=true or
	// BUILDKIT_CONTEXT_KEEP_GIT_DIR).
	KeepGitDir bool
	// Submodules are checked out unless ?submodules=false.
	Submodules bool
	// Checksum, when set, is the commit the ref must resolve to.
	Checksum string
}

// isCommitSHA reports whether s is a full commit id (SHA-1 or SHA-256):
// 40 or 64 lowercase hex digits.
func isCommitSHA(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Fetch checks r out into dst (created; it must not exist) and returns
// the commit it checked out. The directory r.Subdir names is dst's
// subdirectory the caller uses; it is checked to be a real directory
// inside the checkout. The user's git configuration (credential helpers,
// insteadOf) and SSH agent apply: r is what the user asked for.
func Fetch(ctx context.Context, r Ref, dst string) (string, error) {
	commit, err := fetch(ctx, r, dst, gitCmd{dir: dst})
	if err != nil {
		return "", fmt.Errorf("fetching %s: %w", Redact(r.Remote), err)
	}
	return commit, nil
}

// FetchUntrusted is Fetch for a reference a Dockerfile names (ADD): it
// gets none of the user's credentials, git configuration or SSH agent,
// and only https, http and git transports.
func FetchUntrusted(ctx context.Context, r Ref, dst string) (string, error) {
	if !strings.HasPrefix(r.Remote, "https://") && !strings.HasPrefix(r.Remote, "http://") && !strings.HasPrefix(r.Remote, "git://") {
		return "", fmt.Errorf("fetching %s: only https, http and git repositories can be added from a Dockerfile: strata passes no SSH agent or credentials to ADD", Redact(r.Remote))
	}
	commit, err := fetch(ctx, r, dst, gitCmd{dir: dst, untrusted: true})
	if err != nil {
		return "", fmt.Errorf("fetching %s: %w", Redact(r.Remote), err)
	}
	return commit, nil
}

func fetch(ctx context.Context, r Ref, dst string, g gitCmd) (string, error) {
	if err := os.Mkdir(dst, 0o700); err != nil {
		return "", err
	}
	if _, err := g.run(ctx, "-c", "init.defaultBranch=master", "init", "-q"); err != nil {
		return "", err
	}
	if _, err := g.run(ctx, "remote", "add", "origin", r.Remote); err != nil {
		return "", err
	}
	ref := r.Ref
	if ref == "" {
		ref = "HEAD"
	}
	args := []string{"fetch", "-q", "--depth=1", "--no-tags", "origin", ref}
	if _, err := g.run(ctx, args...); err != nil {
		if !isCommitSHA(ref) {
			return "", err
		}
		// A server that refuses to fetch a commit by id: fetch it all.
		if _, err := g.run(ctx, "fetch", "-q", "--tags", "origin"); err != nil {
			return "", err
		}
		if _, err := g.run(ctx, "update-ref", "FETCH_HEAD", ref); err != nil {
			return "", err
		}
	}
	if _, err := g.run(ctx, "checkout", "-q", "FETCH_HEAD"); err != nil {
		return "", err
	}
	out, err := g.run(ctx, "rev-parse", "HEAD")
	if err != nil {
		return "", err
	}
	commit := strings.TrimSpace(out)
	if r.Checksum != "" && !strings.HasPrefix(commit, r.Checksum) {
		return "", fmt.Errorf("%s is commit %s, not the expected %s", ref, commit, r.Checksum)
	}
	if r.Submodules {
		if _, err := g.run(ctx, "submodule", "update", "-q", "--init", "--recursive", "--depth=1"); err != nil {
			return "", err
		}
	}
	if !r.KeepGitDir {
		if err := os.RemoveAll(filepath.Join(dst, ".git")); err != nil {
			return "", err
		}
	}
	if r.Subdir != "" {
		if err := checkSubdir(dst, r.Subdir); err != nil {
			return "", err
		}
	}
	return commit, nil
}

// checkSubdir makes sure that every element of sub under root is a
// directory, not a symlink that could lead out of the checkout.
func checkSubdir(root, sub string) error {
	p := root
	for _, el := range strings.Split(filepath.Clean(sub), string(filepath.Separator)) {
		if el == "" || el == "." {
			continue
		}
		if el == ".." {
			return fmt.Errorf("subdirectory %q leaves the repository", sub)
		}
		p = filepath.Join(p, el)
		fi, err := os.Lstat(p)
		if err != nil {
			return fmt.Errorf("subdirectory %q: %w", sub, err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("subdirectory %q: %s is not a directory", sub, el)
		}
	}
	return nil
}

// gitCmd runs git in one repository, without prompts or the system's git
// config; the user's own config (credential helpers, insteadOf) applies
// unless untrusted, which also keeps the SSH agent and file:// out.
type gitCmd struct {
	dir       string
	untrusted bool
}

func (g gitCmd) run(ctx context.Context, args ...string) (string, error) {
	pre := []string{"-c", "protocol.file.allow=user", "-c", "advice.detachedHead=false"}
	env := append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1", "LC_ALL=C")
	if g.untrusted {
		pre = []string{"-c", "protocol.file.allow=never", "-c", "protocol.ext.allow=never", "-c", "advice.detachedHead=false"}
		env = []string{"PATH=" + os.Getenv("PATH"), "HOME=/nonexistent", "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1",
			"GIT_CONFIG_GLOBAL=/dev/null", "GIT_SSH_COMMAND=false", "LC_ALL=C"}
		for _, k := range []string{"http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"} {
			if v, ok := os.LookupEnv(k); ok {
				env = append(env, k+"="+v)
			}
		}
	}
	cmd := exec.CommandContext(ctx, "git", append(pre, args...)...)
	cmd.Dir = g.dir
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			msg := strings.TrimSpace(stderr.String())
			if msg == "" {
				msg = ee.Error()
			}
			return "", fmt.Errorf("git %s: %s", args[0], Redact(msg))
		}
		return "", fmt.Errorf("running git: %w", err)
	}
	return stdout.String(), nil
}

// userinfo matches credentials in a URL, "scheme://user:password@".
// (Compiled on first use, not when strata starts.)
var userinfo = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(://)[^/@\s]+@`) })

// Redact removes credentials from URLs in s.
func Redact(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		u.User = nil
		return u.String()
	}
	return userinfo().ReplaceAllString(s, "${1}")
}
