package registry

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/errgroup"
)

// uploader pushes to one repository: blobs Options.Jobs at once, each
// retried and reported (layers only; configs are not shown), then
// manifests, children before the indexes that list them.
type uploader struct {
	repo   name.Repository
	pusher *remote.Pusher // go-containerregistry's retries off
	opts   Options
	policy retryPolicy
}

func newUploader(ctx context.Context, repo name.Repository, opts Options) (*uploader, error) {
	p, err := remote.NewPusher(blobOptions(ctx, opts)...)
	if err != nil {
		return nil, err
	}
	return &uploader{repo: repo, pusher: p, opts: opts, policy: policyFor(opts)}, nil
}

func (u *uploader) jobs() int { return cmpOr(u.opts.Jobs, DefaultJobs) }

// pushImage uploads img's blobs, then its manifest as ref.
func (u *uploader) pushImage(ctx context.Context, ref name.Reference, img v1.Image) error {
	if err := u.uploadBlobs(ctx, []v1.Image{img}); err != nil {
		return err
	}
	return u.put(ctx, ref, img)
}

// pushIndex uploads the blobs of every image idx reaches (one pool for
// all platforms), their manifests, nested indexes, then idx as ref.
func (u *uploader) pushIndex(ctx context.Context, ref name.Reference, idx v1.ImageIndex) error {
	var imgs []v1.Image
	var indexes []v1.ImageIndex // post-order: children first
	if err := walkIndex(idx, &imgs, &indexes); err != nil {
		return err
	}
	if err := u.uploadBlobs(ctx, imgs); err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(u.jobs())
	for _, img := range imgs {
		g.Go(func() error {
			d, err := img.Digest()
			if err != nil {
				return err
			}
			return u.put(gctx, u.repo.Digest(d.String()), img)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for _, child := range indexes {
		d, err := child.Digest()
		if err != nil {
			return err
		}
		if err := u.put(ctx, u.repo.Digest(d.String()), child); err != nil {
			return err
		}
	}
	return u.put(ctx, ref, idx)
}

// walkIndex appends the images idx reaches to imgs and its nested
// indexes, children first, to indexes.
func walkIndex(idx v1.ImageIndex, imgs *[]v1.Image, indexes *[]v1.ImageIndex) error {
	m, err := idx.IndexManifest()
	if err != nil {
		return fmt.Errorf("reading image index: %w", err)
	}
	for _, d := range m.Manifests {
		switch {
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return err
			}
			if err := walkIndex(child, imgs, indexes); err != nil {
				return err
			}
			*indexes = append(*indexes, child)
		case d.MediaType.IsImage():
			img, err := idx.Image(d.Digest)
			if err != nil {
				return err
			}
			*imgs = append(*imgs, img)
		default:
			return fmt.Errorf("index entry %s: unsupported media type %s", d.Digest, d.MediaType)
		}
	}
	return nil
}

// put uploads a manifest, retried.
func (u *uploader) put(ctx context.Context, ref name.Reference, t remote.Taggable) error {
	return u.policy.do(ctx, func(int) error { return u.pusher.Put(ctx, ref, t) }, nil)
}

// uploadBlobs uploads the layers and configs of imgs, each digest once.
func (u *uploader) uploadBlobs(ctx context.Context, imgs []v1.Image) error {
	type blob struct {
		l     v1.Layer
		layer bool // reported to Progress
	}
	var blobs []blob
	seen := map[v1.Hash]bool{}
	add := func(l v1.Layer, layer bool) error {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		if !seen[d] {
			seen[d] = true
			blobs = append(blobs, blob{l, layer})
		}
		return nil
	}
	for _, img := range imgs {
		layers, err := img.Layers()
		if err != nil {
			return err
		}
		for _, l := range layers {
			if err := add(l, true); err != nil {
				return err
			}
		}
		cfg, err := partial.ConfigLayer(img)
		if err != nil {
			return err
		}
		if err := add(cfg, false); err != nil {
			return err
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(u.jobs())
	for _, b := range blobs {
		g.Go(func() error { return u.upload(gctx, b.l, b.layer) })
	}
	return g.Wait()
}

// upload uploads one blob, retried, telling Progress (when report) how
// it goes.
func (u *uploader) upload(ctx context.Context, l v1.Layer, report bool) error {
	d, err := l.Digest()
	if err != nil {
		return err
	}
	size, err := l.Size()
	if err != nil {
		return err
	}
	rep := reporter{d: d, size: size}
	if report {
		rep.p = u.opts.Progress
	}
	rep.send(Event{Kind: Started})
	var moved atomic.Bool
	err = u.policy.do(ctx, func(int) error {
		moved.Store(false)
		return u.pusher.Upload(ctx, u.repo, reportingLayer(l, rep, &moved))
	}, func(attempt int, err error, wait time.Duration) {
		rep.send(Event{Kind: Retrying, Attempt: attempt, Err: classify(err), Wait: wait})
	})
	if err != nil {
		return fmt.Errorf("uploading blob %s: %w", d, err)
	}
	switch ml, ok := l.(*remote.MountableLayer); {
	case moved.Load():
		rep.send(Event{Kind: Done, Bytes: size})
	case ok && ml.Reference.Context() != u.repo:
		rep.send(Event{Kind: Mounted})
	default:
		rep.send(Event{Kind: Exists})
	}
	return nil
}

// reportingLayer is l whose compressed stream reports its bytes to rep
// and sets moved when it is opened (go-containerregistry opens it only to
// upload). A mountable layer stays mountable.
func reportingLayer(l v1.Layer, rep reporter, moved *atomic.Bool) v1.Layer {
	rl := &countedLayer{Layer: l, rep: rep, moved: moved}
	if ml, ok := l.(*remote.MountableLayer); ok {
		return &remote.MountableLayer{Layer: rl, Reference: ml.Reference}
	}
	return rl
}

type countedLayer struct {
	v1.Layer
	rep   reporter
	moved *atomic.Bool
}

func (c *countedLayer) Compressed() (io.ReadCloser, error) {
	rc, err := c.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	c.moved.Store(true)
	return &progressReader{rc: rc, r: c.rep, fin: rc.Close}, nil
}
