package cli

// strata images --format and --filter, as docker images takes them.

import (
	"cmp"
	"context"
	"fmt"
	"path"
	"strings"
	"time"
)

// imageLine is an images row as --format templates and json see it,
// named as docker images names them (CompressedSize and Platform are
// strata's).
type imageLine struct {
	ID, Repository, Tag, Digest, Platform, CreatedSince, CreatedAt, Size, CompressedSize string
}

var imageColumns = map[string]string{"ID": "IMAGE ID", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CompressedSize": "COMPRESSED"}

func (r imageRow) line(now time.Time) imageLine {
	l := imageLine{ID: r.id, Repository: r.repo, Tag: r.tag, Digest: r.digest.String(), Platform: cmp.Or(r.platform, "-"),
		CreatedSince: ago(r.created, now), Size: dockerSize(r.size), CompressedSize: dockerSize(r.compressed)}
	if !r.created.IsZero() {
		l.CreatedAt = r.created.Format("2006-01-02 15:04:05 -0700 MST")
	}
	return l
}

// filterImages keeps the rows every --filter accepts (filters of one key
// are alternatives, as docker has them).
func filterImages(ctx context.Context, g *globals, rows []imageRow, filters []string) ([]imageRow, error) {
	byKey := map[string][]string{}
	for _, f := range filters {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return nil, usageError{fmt.Errorf("invalid --filter %q: use KEY=VALUE", f)}
		}
		switch k {
		case "dangling", "reference", "label", "before", "since":
		default:
			return nil, usageError{fmt.Errorf("invalid --filter %q: unknown key %q (dangling, reference, label, before, since)", f, k)}
		}
		if k == "dangling" && v != "true" && v != "false" {
			return nil, usageError{fmt.Errorf("invalid --filter %q: dangling is true or false", f)}
		}
		byKey[k] = append(byKey[k], v)
	}
	times := map[string]time.Time{}
	for _, k := range []string{"before", "since"} {
		for _, ref := range byKey[k] {
			t, err := createdOf(ctx, g, ref)
			if err != nil {
				return nil, fmt.Errorf("--filter %s=%s: %w", k, ref, err)
			}
			times[k+"="+ref] = t
		}
	}
	var out []imageRow
	for _, r := range rows {
		if keepImage(r, byKey, times) {
			out = append(out, r)
		}
	}
	return out, nil
}

func keepImage(r imageRow, byKey map[string][]string, times map[string]time.Time) bool {
	oneOf := func(k string, ok func(v string) bool) bool {
		vs := byKey[k]
		if len(vs) == 0 {
			return true
		}
		for _, v := range vs {
			if ok(v) {
				return true
			}
		}
		return false
	}
	// Every listed image has a tag: none is dangling.
	return oneOf("dangling", func(v string) bool { return v == "false" }) &&
		oneOf("reference", func(v string) bool {
			m1, _ := path.Match(v, r.repo)
			m2, _ := path.Match(v, r.repo+":"+r.tag)
			return m1 || m2
		}) &&
		oneOf("label", func(v string) bool {
			k, val, withValue := strings.Cut(v, "=")
			got, ok := r.labels[k]
			return ok && (!withValue || got == val)
		}) &&
		oneOf("before", func(v string) bool { return r.created.Before(times["before="+v]) }) &&
		oneOf("since", func(v string) bool { return r.created.After(times["since="+v]) })
}

// createdOf is the created time of the image ref names.
func createdOf(ctx context.Context, g *globals, ref string) (time.Time, error) {
	s, err := g.openStore(ctx)
	if err != nil {
		return time.Time{}, err
	}
	defer s.Close()
	c, err := resolveImage(ctx, s, ref, "")
	if err != nil {
		return time.Time{}, err
	}
	cf, err := c.Image.ConfigFile()
	if err != nil {
		return time.Time{}, err
	}
	return cf.Created.Time, nil
}
