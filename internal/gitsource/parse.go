package gitsource

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// The patterns are compiled on first use, not when strata starts (every
// start of strata pays for what its packages compile then).
var (
	// scheme is a URL's "scheme://".
	scheme = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9]+://`) })
	// scpStyle is "user@host:path[?query][#fragment]", git's implicit ssh.
	scpStyle = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^([a-zA-Z0-9-_]+)@([a-zA-Z0-9-.]+):(.*?)(?:\?(.*?))?(?:#(.*))?$`)
	})
)

// Parse reads s as docker build reads a context argument: ok is false when
// s is not a git reference at all (a local path, an HTTP URL of anything
// but a ".git" path), and err says why a git reference is invalid. The
// forms: "http(s)://host/path.git", "git://...", "ssh://...",
// "user@host:path", "github.com/org/repo"; each with "#ref:subdir" and
// the query keys ref, tag, branch, subdir, checksum (commit),
// keep-git-dir, submodules, mtime and fetch-by-commit.
func Parse(s string) (r Ref, ok bool, err error) {
	var query url.Values
	var fragment string
	switch {
	case strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../"):
		return Ref{}, false, nil
	case strings.HasPrefix(s, "github.com/"):
		u, err := url.Parse("https://" + s)
		if err != nil {
			return Ref{}, false, nil
		}
		r.Remote, query, fragment = remoteOf(u), u.Query(), u.Fragment
	case scheme().MatchString(s):
		proto := strings.ToLower(strings.TrimSuffix(scheme().FindString(s), "://"))
		u, err := url.Parse(s)
		if err != nil {
			return Ref{}, false, nil
		}
		switch proto {
		case "http", "https":
			if !strings.HasSuffix(u.Path, ".git") {
				return Ref{}, false, nil
			}
		case "ssh", "git":
		default:
			return Ref{}, false, nil
		}
		r.Remote, query, fragment = remoteOf(u), u.Query(), u.Fragment
	case strings.Contains(s, "@") && scpStyle().MatchString(s):
		m := scpStyle().FindStringSubmatch(s)
		r.Remote, fragment = m[1]+"@"+m[2]+":"+m[3], m[5]
		if query, err = url.ParseQuery(m[4]); err != nil {
			return Ref{}, true, fmt.Errorf("parsing git reference %q: %w", Redact(s), err)
		}
	default:
		return Ref{}, false, nil
	}
	ref, subdir, _ := strings.Cut(fragment, ":")
	r.Ref, r.Subdir, r.Submodules = ref, cleanSubdir(subdir), true
	if err := r.loadQuery(query); err != nil {
		return Ref{}, true, fmt.Errorf("parsing git reference %q: %w", Redact(s), err)
	}
	return r, true, nil
}

// remoteOf is u without fragment and query.
func remoteOf(u *url.URL) string {
	v := *u
	v.Fragment, v.RawFragment, v.RawQuery = "", "", ""
	return v.String()
}

func cleanSubdir(s string) string {
	if s == "" {
		return ""
	}
	return strings.TrimPrefix(path.Join("/", s), "/")
}

// loadQuery applies the query keys BuildKit accepts.
func (r *Ref) loadQuery(q url.Values) error {
	var tag, branch string
	for k, vs := range q {
		if len(vs) > 1 {
			return fmt.Errorf("query %q has multiple values", k)
		}
		v := ""
		if len(vs) == 1 {
			v = vs[0]
		}
		if v == "" && k != "submodules" && k != "keep-git-dir" && k != "fetch-by-commit" {
			return fmt.Errorf("query %q has no value", k)
		}
		var err error
		switch k {
		case "ref":
			err = set(&r.Ref, v, "ref")
		case "tag":
			tag = v
		case "branch":
			branch = v
		case "subdir":
			err = set(&r.Subdir, cleanSubdir(v), "subdir")
		case "checksum", "commit":
			r.Checksum = v
		case "keep-git-dir":
			r.KeepGitDir, err = boolOrTrue(k, v)
		case "submodules":
			r.Submodules, err = boolOrTrue(k, v)
		case "fetch-by-commit":
			_, err = boolOrTrue(k, v)
		case "mtime":
			// File times do not reach the image: new layers are clamped
			// to the build time (SOURCE_DATE_EPOCH).
			if v != "checkout" && v != "commit" {
				err = fmt.Errorf("invalid mtime value: %q (must be \"checkout\" or \"commit\")", v)
			}
		default:
			err = fmt.Errorf("unexpected query %q", k)
		}
		if err != nil {
			return err
		}
	}
	if tag != "" && branch != "" {
		return errors.New("branch conflicts with tag")
	}
	if tag != "" {
		return set(&r.Ref, "refs/tags/"+strings.TrimPrefix(tag, "refs/tags/"), "ref")
	}
	if branch != "" {
		return set(&r.Ref, "refs/heads/"+strings.TrimPrefix(branch, "refs/heads/"), "ref")
	}
	return nil
}

// set sets *dst to v unless it already holds another value.
func set(dst *string, v, what string) error {
	if *dst != "" && *dst != v {
		return fmt.Errorf("%s conflicts: %q vs %q", what, *dst, v)
	}
	*dst = v
	return nil
}

func boolOrTrue(k, v string) (bool, error) {
	if v == "" {
		return true, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("invalid %s value: %q", k, v)
	}
	return b, nil
}
