package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// downloader reads the blobs of one repository for a pulled image or
// index: each layer through a resumingReader, reported to Options.Progress.
// Like go-containerregistry's lazy images, it keeps the context of the
// pull that made it: layers are read after Pull returns.
type downloader struct {
	ctx    context.Context
	repo   name.Repository
	opts   Options
	policy retryPolicy

	clientOnce sync.Once
	client     *http.Client // authenticated for repo, no retries
	clientErr  error
}

func newDownloader(ctx context.Context, repo name.Repository, opts Options) (*downloader, error) {
	return &downloader{ctx: ctx, repo: repo, opts: opts, policy: policyFor(opts)}, nil
}

// pulledImage is a remote image whose config and layers are read by a
// downloader (go-containerregistry's own config read keeps a config cut
// short, so it is not retried there).
type pulledImage struct {
	inner v1.Image
	d     *downloader

	cfgOnce sync.Once
	cfg     []byte
	cfgErr  error
}

var _ partial.CompressedImageCore = (*pulledImage)(nil)

// pulled is img read through d.
func (d *downloader) image(img v1.Image) (v1.Image, error) {
	return partial.CompressedToImage(&pulledImage{inner: img, d: d})
}

func (i *pulledImage) MediaType() (types.MediaType, error) { return i.inner.MediaType() }
func (i *pulledImage) RawManifest() ([]byte, error)        { return i.inner.RawManifest() }

func (i *pulledImage) RawConfigFile() ([]byte, error) {
	i.cfgOnce.Do(func() {
		m, err := partial.Manifest(i)
		if err != nil {
			i.cfgErr = err
			return
		}
		if m.Config.Data != nil {
			i.cfg = m.Config.Data
			return
		}
		i.cfg, i.cfgErr = i.d.readAll(m.Config)
	})
	return i.cfg, i.cfgErr
}

func (i *pulledImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	m, err := partial.Manifest(i)
	if err != nil {
		return nil, err
	}
	if h == m.Config.Digest {
		return &pulledLayer{desc: m.Config, d: i.d}, nil
	}
	for n, desc := range m.Layers {
		if desc.Digest == h {
			return &pulledLayer{desc: desc, d: i.d, img: i, n: n, report: true}, nil
		}
	}
	return nil, fmt.Errorf("blob %s not in manifest", h)
}

// pulledIndex is a remote index whose images' layers are read by a
// downloader.
type pulledIndex struct {
	imageIndex
	d *downloader
}

// imageIndex names the embedded index apart from its ImageIndex method.
type imageIndex = v1.ImageIndex

func (x *pulledIndex) Image(h v1.Hash) (v1.Image, error) {
	img, err := x.imageIndex.Image(h)
	if err != nil {
		return nil, err
	}
	return x.d.image(img)
}

func (x *pulledIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	idx, err := x.imageIndex.ImageIndex(h)
	if err != nil {
		return nil, err
	}
	return &pulledIndex{imageIndex: idx, d: x.d}, nil
}

// pulledLayer is a blob of a pulled image whose stream resumes where it
// broke; a layer (report) has its diff ID from the image's config.
type pulledLayer struct {
	desc   v1.Descriptor
	d      *downloader
	img    *pulledImage
	n      int // index in the manifest's layers
	report bool
}

func (l *pulledLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *pulledLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *pulledLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }

// DiffID implements partial.WithDiffID from the config, so that nobody
// reads the layer to learn it.
func (l *pulledLayer) DiffID() (v1.Hash, error) {
	if l.img == nil {
		return v1.Hash{}, fmt.Errorf("blob %s is not a layer", l.desc.Digest)
	}
	raw, err := l.img.RawConfigFile()
	if err != nil {
		return v1.Hash{}, err
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(raw))
	if err != nil {
		return v1.Hash{}, err
	}
	if l.n >= len(cfg.RootFS.DiffIDs) {
		return v1.Hash{}, fmt.Errorf("config lists %d diff IDs, layer %d has none", len(cfg.RootFS.DiffIDs), l.n)
	}
	return cfg.RootFS.DiffIDs[l.n], nil
}

func (l *pulledLayer) Compressed() (io.ReadCloser, error) {
	r := l.d.reader(l.desc)
	if l.report {
		r.rep.p = l.d.opts.Progress
	}
	r.rep.send(Event{Kind: Started})
	if err := r.open(); err != nil {
		if len(l.desc.URLs) == 0 {
			return nil, err
		}
		rc, ferr := l.d.foreign(l.desc)
		if ferr != nil {
			return nil, errors.Join(err, ferr)
		}
		return rc, nil
	}
	return r, nil
}

func (d *downloader) reader(desc v1.Descriptor) *resumingReader {
	return &resumingReader{d: d, h: desc.Digest, size: desc.Size, hash: sha256.New(), rep: reporter{d: desc.Digest, size: desc.Size}}
}

// readAll reads a small blob (a config) whole, resumed like a layer.
func (d *downloader) readAll(desc v1.Descriptor) ([]byte, error) {
	r := d.reader(desc)
	if err := r.open(); err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// resumingReader reads a blob; when the stream breaks (a reset, a short
// body, a 5xx on reopening) it waits and asks for the rest (a Range
// request; a registry that ignores it sends the whole blob, whose start is
// skipped), at most policy.attempts-1 times in a row without progress.
// What it delivers is checked against the blob's size and digest at the
// end: a mismatch is an error instead of io.EOF.
type resumingReader struct {
	d    *downloader
	h    v1.Hash
	size int64
	rep  reporter

	rc      io.ReadCloser
	hash    hash.Hash // of the bytes delivered
	n       int64     // bytes delivered
	failed  error     // why the last stream ended early
	failedN int64     // n when it did
	retries int       // in a row, without progress
	err     error     // final
}

func (r *resumingReader) Read(p []byte) (int, error) {
	for {
		if r.err != nil {
			return 0, r.err
		}
		if r.rc == nil {
			if err := r.open(); err != nil {
				r.err = err
				return 0, err
			}
		}
		n, err := r.rc.Read(p)
		if n > 0 {
			r.n += int64(n)
			r.hash.Write(p[:n])
			r.rep.send(Event{Kind: Transferred, Bytes: r.n})
		}
		switch {
		case err == nil:
			return n, nil
		case err == io.EOF && r.n >= r.size:
			if err := r.verify(); err != nil {
				r.err = err
				return n, err
			}
			r.rep.send(Event{Kind: Done, Bytes: r.n})
			return n, io.EOF
		case !r.resumable(err):
			r.err = err
			return n, err
		}
		if r.n > r.failedN {
			r.retries = 0 // progress since the last failure
		}
		r.rc.Close()
		r.rc, r.failed, r.failedN = nil, err, r.n
		if n > 0 {
			return n, nil
		}
	}
}

// verify checks what was delivered against the blob's size and digest.
func (r *resumingReader) verify() error {
	got := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(r.hash.Sum(nil))}
	if r.n != r.size || got != r.h {
		return fmt.Errorf("verifying blob %s: got %d bytes, digest %s, want %d bytes", r.h, r.n, got, r.size)
	}
	return nil
}

// resumable reports whether a stream that failed with err can be resumed:
// a network failure, or any end before all the blob's bytes arrived.
func (r *resumingReader) resumable(err error) bool {
	if r.d.ctx.Err() != nil {
		return false
	}
	return retryableErr(r.d.ctx, err) || r.n < r.size
}

// open opens the stream at r.n, waiting before each retry.
func (r *resumingReader) open() error {
	for {
		if r.failed != nil {
			r.retries++
			if r.retries >= r.d.policy.attempts {
				return fmt.Errorf("reading blob %s: %w", r.h, classify(r.failed))
			}
			wait := r.d.policy.wait(r.retries)
			r.rep.send(Event{Kind: Retrying, Attempt: r.retries, Err: classify(r.failed), Wait: wait})
			if err := sleep(r.d.ctx, wait); err != nil {
				return err
			}
		}
		rc, err := r.d.fetch(r.h, r.size, r.n)
		if err == nil {
			r.rc, r.failed = rc, nil
			return nil
		}
		if !retryableErr(r.d.ctx, err) {
			return fmt.Errorf("reading blob %s: %w", r.h, classify(err))
		}
		r.failed = err
	}
}

func (r *resumingReader) Close() error {
	if r.rc == nil {
		return nil
	}
	return r.rc.Close()
}

// wait is the backoff before retry n (from 1).
func (p retryPolicy) wait(n int) time.Duration {
	w := p.first
	for range n - 1 {
		w = time.Duration(float64(w) * p.factor)
	}
	return w
}
