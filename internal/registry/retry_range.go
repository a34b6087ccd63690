package registry

import (
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// httpClient is an HTTP client for d's repository with pull scope: tokens
// from the Docker config and credential helpers as for every request of
// this package, no retries (the reader retries).
func (d *downloader) httpClient() (*http.Client, error) {
	d.clientOnce.Do(func() {
		auth, err := authn.DefaultKeychain.Resolve(d.repo)
		if err != nil {
			d.clientErr = err
			return
		}
		base := d.opts.Transport
		if base == nil {
			base = remote.DefaultTransport
		}
		rt, err := transport.NewWithContext(d.ctx, d.repo.Registry, auth, base, []string{d.repo.Scope(transport.PullScope)})
		if err != nil {
			d.clientErr = err
			return
		}
		d.client = &http.Client{Transport: rt}
	})
	return d.client, d.clientErr
}

// fetch opens blob h (of size bytes) from byte skip on: a Range request
// when skip > 0; from a registry that refuses the range or answers with
// the whole blob, the first skip bytes are read and dropped.
func (d *downloader) fetch(h v1.Hash, size, skip int64) (io.ReadCloser, error) {
	if skip > 0 && skip < size {
		resp, err := d.get(h, fmt.Sprintf("bytes=%d-%d", skip, size-1))
		if err != nil {
			return nil, err
		}
		if resp.StatusCode == http.StatusPartialContent && strings.HasPrefix(resp.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-", skip)) {
			return resp.Body, nil
		}
		if resp.StatusCode == http.StatusOK {
			return skipped(resp.Body, skip)
		}
		resp.Body.Close() // a refused or odd range: the whole blob then
	}
	resp, err := d.get(h, "")
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("reading blob %s: unexpected status %s", h, resp.Status)
	}
	return skipped(resp.Body, skip)
}

// get sends GET for blob h, with a Range header when rng is set; any
// status but 200, 206 and 416 is an error.
func (d *downloader) get(h v1.Hash, rng string) (*http.Response, error) {
	c, err := d.httpClient()
	if err != nil {
		return nil, err
	}
	u := fmt.Sprintf("%s://%s/v2/%s/blobs/%s", d.repo.Registry.Scheme(), d.repo.RegistryStr(), d.repo.RepositoryStr(), h)
	req, err := http.NewRequestWithContext(d.ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	if err := transport.CheckError(resp, http.StatusOK, http.StatusPartialContent, http.StatusRequestedRangeNotSatisfiable); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return resp, nil
}

// skipped is rc after its first n bytes.
func skipped(rc io.ReadCloser, n int64) (io.ReadCloser, error) {
	if n > 0 {
		if _, err := io.CopyN(io.Discard, rc, n); err != nil {
			rc.Close()
			return nil, err
		}
	}
	return rc, nil
}
