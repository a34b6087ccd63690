package registry

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// foreign reads a layer the registry does not serve from the URLs its
// descriptor lists (a foreign, non-distributable layer: Windows base
// layers), as go-containerregistry and containerd do: the registry first,
// then each URL in turn. A URL must be https, or http when the registry
// itself is (a local one); no credential of the registry's is sent there.
// What arrives is checked against the descriptor's size and digest.
func (d *downloader) foreign(desc v1.Descriptor) (io.ReadCloser, error) {
	insecure := d.repo.Registry.Scheme() == "http"
	base := d.opts.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	client := &http.Client{Transport: base}
	var errs []error
	for _, s := range desc.URLs {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "https" && !(insecure && u.Scheme == "http")) || u.Host == "" {
			errs = append(errs, fmt.Errorf("foreign layer URL %q: want https (http only from a registry served over http)", s))
			continue
		}
		req, err := http.NewRequestWithContext(d.ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		resp, err := client.Do(req)
		if err != nil {
			errs = append(errs, fmt.Errorf("fetching foreign layer from %s: %w", u.Redacted(), err))
			continue
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			errs = append(errs, fmt.Errorf("fetching foreign layer from %s: %s", u.Redacted(), resp.Status))
			continue
		}
		return &verifiedBody{rc: resp.Body, h: desc.Digest, size: desc.Size, hash: sha256.New()}, nil
	}
	return nil, errors.Join(errs...)
}

// verifiedBody delivers a body and, at its end, checks its size and digest.
type verifiedBody struct {
	rc   io.ReadCloser
	h    v1.Hash
	size int64
	n    int64
	hash interface {
		io.Writer
		Sum([]byte) []byte
	}
}

func (b *verifiedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.n += int64(n)
	b.hash.Write(p[:n])
	if b.n > b.size {
		return n, fmt.Errorf("verifying blob %s: more than its %d bytes", b.h, b.size)
	}
	if err == io.EOF {
		got := v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", b.hash.Sum(nil))}
		if b.n != b.size || got != b.h {
			return n, fmt.Errorf("verifying blob %s: got %d bytes, digest %s, want %d bytes", b.h, b.n, got, b.size)
		}
	}
	return n, err
}

func (b *verifiedBody) Close() error { return b.rc.Close() }
