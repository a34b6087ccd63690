package registry

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Repository is a session with one repository for blob-level work, one
// request per step so that callers decide what to send: existence checks,
// cross-repository mounts, uploads of blobs whose digest and size are
// already known (nothing is read twice or hashed again), and manifests by
// tag. The build cache exporter uses it to push only what a repository
// lacks. Requests that fail with a network error, 408, 429 or a 5xx are
// retried like Pull and Push do (Options.RetryBackoff).
type Repository struct {
	repo    name.Repository
	tag     string
	client  *http.Client
	backoff time.Duration
}

// Repository opens a session with the repository of ref (a tag) for pushing,
// also allowed to pull from mountFrom (repositories of the same registry
// blobs may be mounted from; others are ignored).
func (c *Client) Repository(ctx context.Context, ref string, mountFrom []string) (*Repository, error) {
	r, opts, err := c.pushTarget(ref)
	if err != nil {
		return nil, fmt.Errorf("opening %q: %w", ref, err)
	}
	repo := r.Context()
	scopes := []string{repo.Scope(transport.PushScope)}
	for _, m := range mountFrom {
		if mr, err := name.NewRepository(m, name.Insecure); err == nil && mr.RegistryStr() == repo.RegistryStr() {
			scopes = append(scopes, mr.Scope(transport.PullScope))
		}
	}
	auth, err := authn.DefaultKeychain.Resolve(repo)
	if err != nil {
		return nil, fmt.Errorf("opening %q: %w", ref, err)
	}
	base := opts.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	tr, err := transport.NewWithContext(ctx, repo.Registry, auth, transport.NewUserAgent(base, "strata"), scopes)
	if err != nil {
		return nil, fmt.Errorf("opening %q: %w", ref, classify(err))
	}
	return &Repository{repo: repo, tag: r.Identifier(), client: &http.Client{Transport: tr},
		backoff: cmpOr(opts.RetryBackoff, time.Second)}, nil
}

// SameRegistry reports whether repo (a repository name) is on this
// repository's registry, where blobs can be mounted from it.
func (r *Repository) SameRegistry(repo string) bool {
	mr, err := name.NewRepository(repo, name.Insecure)
	return err == nil && mr.RegistryStr() == r.repo.RegistryStr()
}

func (r *Repository) url(path string, query url.Values) string {
	u := url.URL{Scheme: r.repo.Scheme(), Host: r.repo.RegistryStr(), Path: "/v2/" + r.repo.RepositoryStr() + "/" + path}
	if query != nil {
		u.RawQuery = query.Encode()
	}
	return u.String()
}

// HasBlob reports whether the repository has blob d (HEAD).
func (r *Repository) HasBlob(ctx context.Context, d v1.Hash) (bool, error) {
	resp, err := r.do(ctx, http.MethodHead, r.url("blobs/"+d.String(), nil), nil, nil)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, classify(transport.CheckError(resp, http.StatusOK))
}

// PushBlob uploads blob d of size bytes, read from open, unless from (a
// repository of the same registry, or "") lets the registry mount it; a
// registry that declines the mount gets the upload. It reports whether
// the blob was mounted.
func (r *Repository) PushBlob(ctx context.Context, d v1.Hash, size int64, from string, open func() (io.ReadCloser, error)) (mounted bool, err error) {
	q := url.Values{}
	if from != "" && r.SameRegistry(from) {
		mr, _ := name.NewRepository(from, name.Insecure)
		q.Set("mount", d.String())
		q.Set("from", mr.RepositoryStr())
	}
	resp, err := r.do(ctx, http.MethodPost, r.url("blobs/uploads/", q), nil, nil)
	if err != nil {
		return false, fmt.Errorf("pushing blob %s: %w", d, err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusCreated {
		return true, nil
	}
	if err := transport.CheckError(resp, http.StatusAccepted); err != nil {
		return false, fmt.Errorf("pushing blob %s: %w", d, classify(err))
	}
	loc, err := resp.Location()
	if err != nil {
		return false, fmt.Errorf("pushing blob %s: upload location: %w", d, err)
	}
	lq := loc.Query()
	lq.Set("digest", d.String())
	loc.RawQuery = lq.Encode()
	hdr := http.Header{"Content-Type": {"application/octet-stream"}}
	resp, err = r.do(ctx, http.MethodPut, loc.String(), hdr, &reqBody{open: open, size: size})
	if err != nil {
		return false, fmt.Errorf("pushing blob %s: %w", d, err)
	}
	resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusCreated); err != nil {
		return false, fmt.Errorf("pushing blob %s: %w", d, classify(err))
	}
	return false, nil
}

// Manifest returns the manifest the session's tag names and its media
// type; an error wrapping ErrNotFound when there is none.
func (r *Repository) Manifest(ctx context.Context) ([]byte, types.MediaType, error) {
	hdr := http.Header{"Accept": {string(types.OCIManifestSchema1), string(types.DockerManifestSchema2), string(types.OCIImageIndex), string(types.DockerManifestList)}}
	raw, resp, err := r.get(ctx, r.url("manifests/"+r.tag, nil), hdr)
	if err != nil {
		return nil, "", fmt.Errorf("reading manifest %s: %w", r.tag, err)
	}
	return raw, types.MediaType(resp.Header.Get("Content-Type")), nil
}

// Blob reads a small blob (a config) whole, verifying its digest.
func (r *Repository) Blob(ctx context.Context, d v1.Hash) ([]byte, error) {
	raw, _, err := r.get(ctx, r.url("blobs/"+d.String(), nil), nil)
	if err != nil {
		return nil, fmt.Errorf("reading blob %s: %w", d, err)
	}
	if got, _, _ := v1.SHA256(bytes.NewReader(raw)); got != d {
		return nil, fmt.Errorf("reading blob %s: got digest %s", d, got)
	}
	return raw, nil
}

func (r *Repository) get(ctx context.Context, u string, hdr http.Header) ([]byte, *http.Response, error) {
	resp, err := r.do(ctx, http.MethodGet, u, hdr, nil)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		return nil, nil, classify(err)
	}
	raw, err := io.ReadAll(resp.Body)
	return raw, resp, err
}

// PutManifest tags raw (of media type mt) with the session's tag.
func (r *Repository) PutManifest(ctx context.Context, raw []byte, mt types.MediaType) error {
	hdr := http.Header{"Content-Type": {string(mt)}}
	b := &reqBody{open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil }, size: int64(len(raw))}
	resp, err := r.do(ctx, http.MethodPut, r.url("manifests/"+r.tag, nil), hdr, b)
	if err != nil {
		return fmt.Errorf("pushing manifest: %w", err)
	}
	resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusCreated, http.StatusOK); err != nil {
		return fmt.Errorf("pushing manifest: %w", classify(err))
	}
	return nil
}

// reqBody is a request body that can be opened again for a retry.
type reqBody struct {
	open func() (io.ReadCloser, error)
	size int64
}

// do sends a request, again after a network error, 408, 429 or 5xx (3
// retries, waiting backoff, then ×3 each time).
func (r *Repository) do(ctx context.Context, method, u string, hdr http.Header, b *reqBody) (*http.Response, error) {
	wait := r.backoff
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, method, u, nil)
		if err != nil {
			return nil, err
		}
		for k, v := range hdr {
			req.Header[k] = v
		}
		if b != nil {
			rc, err := b.open()
			if err != nil {
				return nil, err
			}
			req.Body, req.ContentLength = rc, b.size
		}
		resp, err := r.client.Do(req)
		if attempt == 3 || ctx.Err() != nil || (err == nil && !retryStatus(resp.StatusCode)) {
			if err != nil {
				return nil, classify(err)
			}
			return resp, nil
		}
		if err == nil {
			resp.Body.Close()
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		wait *= 3
	}
}

func retryStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}
