package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	digest "github.com/opencontainers/go-digest"

	"github.com/strata-build/strata/internal/export"
	"github.com/strata-build/strata/internal/plan"
	"github.com/strata-build/strata/internal/store"
)

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// baseState returns the state a stage starts from.
func (r *run) baseState(ctx context.Context, s *plan.Stage) (*state, error) {
	switch s.Base.Kind {
	case plan.Scratch:
		platform, err := r.stagePlatform(s)
		if err != nil {
			return nil, err
		}
		st := r.emptyState(platform)
		st.key = baseKey("scratch", platform)
		st.stage = r.progressStage(s)
		return st, nil
	case plan.StageRef:
		parent, err := r.futures[s.Base.Stage].wait(ctx)
		if err != nil {
			return nil, err
		}
		c := parent.clone()
		c.cmdSet, c.workdirSet = false, false
		c.stage = r.progressStage(s)
		return c, nil
	default:
		platform, err := r.stagePlatform(s)
		if err != nil {
			return nil, err
		}
		from := &stageFrom{name: func(ref string, onbuild int) string {
			return fromVertexName(r.progressStage(s), len(s.Commands)+onbuild+1, ref)
		}}
		img, err := r.resolveSourceAs(ctx, s.Base, platform, from)
		if err != nil {
			return nil, r.posErr(s.Line, err)
		}
		st, err := r.imageState(img)
		if err != nil {
			return nil, err
		}
		st.stage = r.progressStage(s)
		if from.v != nil {
			st.showExtraction(&extraction{v: from.v, wait: r.waiting})
		}
		r.checkBasePlatform(s, platform, st)
		h, err := img.Digest()
		if err != nil {
			return nil, err
		}
		st.key = baseKey("image", h.String())
		return st, nil
	}
}

// emptyState is the state of FROM scratch on platform, as BuildKit makes it.
func (r *run) emptyState(platform string) *state {
	st := &state{escape: r.plan.File.Escape}
	if p, err := v1.ParsePlatform(platform); err == nil {
		st.img.OS, st.img.Architecture, st.img.Variant = p.OS, p.Architecture, p.Variant
	}
	st.img.RootFS.Type = "layers"
	st.img.Config.WorkingDir = "/"
	st.img.Config.Env = []string{"PATH=" + defaultPath}
	st.env = []string{"PATH=" + defaultPath}
	return st
}

// imageState is the state of FROM img.
func (r *run) imageState(img v1.Image) (*state, error) {
	raw, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading image config: %w", err)
	}
	st := &state{escape: r.plan.File.Escape}
	if err := json.Unmarshal(raw, &st.img); err != nil {
		return nil, fmt.Errorf("decoding image config: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("reading image layers: %w", err)
	}
	for _, l := range layers {
		st.layers = append(st.layers, &layerRef{layer: l})
	}
	if si, ok := img.(shownImage); ok { // a --from image: its own vertex
		st.showExtraction(&extraction{v: si.from, wait: r.waiting})
	}
	st.img.Created = nil
	st.img.Config.OnBuild = st.img.Config.OnBuild[:len(st.img.Config.OnBuild):len(st.img.Config.OnBuild)]
	// BuildKit gives every stage a PATH when its base image has none.
	if _, ok := getEnv(st.img.Config.Env, "PATH"); !ok {
		st.img.Config.Env = append(st.img.Config.Env, "PATH="+defaultPath)
	}
	st.env = append([]string(nil), st.img.Config.Env...)
	return st, nil
}

// resolveSource returns the image for platform that a FROM or --from
// source names: a named context or an image reference (the store first
// unless --pull).
// An image it fetches is shown as "FROM ref@digest", the vertex its
// layers are shown extracted on (imageState).
func (r *run) resolveSource(ctx context.Context, src plan.Source, platform string) (v1.Image, error) {
	from := &stageFrom{}
	img, err := r.resolveSourceAs(ctx, src, platform, from)
	if err != nil || from.v == nil {
		return img, err
	}
	return shownImage{Image: img, from: from.v}, nil
}

// shownImage is an image with the vertex that fetched it.
type shownImage struct {
	v1.Image
	from Vertex
}

// resolveSourceAs is resolveSource for a stage's FROM, shown as the
// vertex from names.
func (r *run) resolveSourceAs(ctx context.Context, src plan.Source, platform string, from *stageFrom) (v1.Image, error) {
	if src.Kind == plan.ContextRef {
		c := r.opts.Contexts[src.Ref]
		switch {
		case c.Image != "":
			return r.resolveImage(ctx, c.Image, platform, from)
		case c.Layout != "":
			img, err := r.layoutImage(ctx, c.Layout, platform)
			if err == nil {
				r.recordBase("oci-layout://"+c.Layout, platform, img, true)
			}
			return img, err
		default:
			return nil, fmt.Errorf("build context %q is a directory, not an image", src.Ref)
		}
	}
	return r.resolveImage(ctx, src.Ref, platform, from)
}

// resolveImage finds ref for platform in the store (a tagged index's entry,
// or a tagged image of that platform), or pulls it, stores it and adds it
// to the tag; the same reference and platform are resolved once per build.
// The progress shows it as BuildKit does: "[internal] load metadata for
// ref", then the FROM vertex (from) with a status per layer pulled (none
// when the store had the image; it is not "CACHED": that mark is the build
// cache's).
func (r *run) resolveImage(ctx context.Context, ref, platform string, from *stageFrom) (v1.Image, error) {
	ran := false
	v, err, _ := r.images.Do(ref+"\x00"+platform, func() (any, error) {
		ran = true
		return r.fetchImage(ctx, ref, platform, from)
	})
	if err != nil {
		return nil, err
	}
	img := v.(v1.Image)
	if !ran { // another stage resolved it: nothing to fetch for this one
		r.fromVertex(from, ref, img).Done(false, nil)
	}
	r.recordBase(ref, platform, img, false)
	return img, nil
}

// fetchImage is resolveImage's work, done once per reference and platform.
func (r *run) fetchImage(ctx context.Context, ref, platform string, from *stageFrom) (v1.Image, error) {
	meta := r.vertex(r.internalPrefix(platform) + " load metadata for " + canonicalRef(ref))
	var local error
	if !r.opts.Pull {
		img, err := r.storedImage(ctx, ref, platform)
		if err == nil {
			meta.Done(false, nil)
			r.fromVertex(from, ref, img).Done(false, nil)
			return img, nil
		}
		if !errors.Is(err, store.ErrNotFound) && !errors.Is(err, errWrongPlatform) {
			err = fmt.Errorf("resolving base image %q: %w", ref, err)
			meta.Done(false, err)
			return nil, err
		}
		local = err
	}
	remote, layers, err := r.pullImage(ctx, ref, platform, local)
	meta.Done(false, err)
	if err != nil {
		return nil, err
	}
	fv := r.fromVertex(from, ref, remote)
	layers.attach(fv)
	img, err := r.storeImage(ctx, ref, remote)
	fv.Done(false, err)
	return img, err
}

// pullImage fetches ref's manifest and config for platform from the
// registry; its layers report to the returned layerStatus when read.
func (r *run) pullImage(ctx context.Context, ref, platform string, local error) (v1.Image, *layerStatus, error) {
	if r.b.registry == nil {
		if errors.Is(local, errWrongPlatform) {
			return nil, nil, fmt.Errorf("resolving base image %q: %w", ref, local)
		}
		return nil, nil, fmt.Errorf("resolving base image %q: not in the store and no registry configured", ref)
	}
	layers := &layerStatus{}
	remote, err := r.b.registry.WithProgress(layers).PullPlatform(ctx, ref, platform)
	if err != nil {
		if errors.Is(local, errWrongPlatform) {
			return nil, nil, fmt.Errorf("resolving base image %q: %w; and %w", ref, local, err)
		}
		return nil, nil, fmt.Errorf("resolving base image %q: %w", ref, err)
	}
	return remote, layers, nil
}

// storeImage writes a pulled image to the store, tagged ref, and returns
// the stored one.
func (r *run) storeImage(ctx context.Context, ref string, remote v1.Image) (v1.Image, error) {
	st := r.b.store
	h, err := st.WriteImage(ctx, remote)
	if err != nil {
		return nil, fmt.Errorf("storing base image %q: %w", ref, err)
	}
	r.tagMu.Lock()
	err = st.TagPlatform(ctx, ref, h)
	r.tagMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("storing base image %q: %w", ref, err)
	}
	return st.Image(ctx, h)
}

// storedImage is ref's image for platform in the store: ErrNotFound when
// ref is not there, errWrongPlatform when it is for other platforms only.
func (r *run) storedImage(ctx context.Context, ref, platform string) (v1.Image, error) {
	st := r.b.store
	h, err := st.Resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	img, err := st.ImageFor(ctx, h, platform)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &wrongPlatform{fmt.Sprintf("the store's %s %v", ref, err)}
	}
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading image config: %w", err)
	}
	if have := imagePlatform(cfg); !servesPlatform(have, platform) {
		return nil, &wrongPlatform{fmt.Sprintf("the store's %s is for %s, not %s", ref, store.FormatPlatform(have), platform)}
	}
	return img, nil
}

// layoutImage reads the image of an OCI layout directory (of a
// multi-platform one, platform's) and stores it.
func (r *run) layoutImage(ctx context.Context, dir, platform string) (v1.Image, error) {
	v, err, _ := r.images.Do("oci-layout://"+dir+"\x00"+platform, func() (any, error) {
		img, err := layoutImageFor(dir, platform)
		if err != nil {
			return nil, err
		}
		h, err := r.b.store.WriteImage(ctx, img)
		if err != nil {
			return nil, fmt.Errorf("storing image of OCI layout %s: %w", dir, err)
		}
		return r.b.store.Image(ctx, h)
	})
	if err != nil {
		return nil, err
	}
	return v.(v1.Image), nil
}

func digestOf(h v1.Hash) digest.Digest { return digest.Digest(h.String()) }

// contextDir returns the directory of a named context, if it is one.
func (r *run) contextDir(name string) (string, bool) {
	c, ok := r.opts.Contexts[name]
	if !ok || c.Dir == "" {
		return "", false
	}
	if _, err := os.Stat(c.Dir); err != nil {
		return "", false
	}
	return c.Dir, true
}

// layoutImageFor is the image of the OCI layout dir for platform: the one
// image it holds, or its index's entry for platform.
func layoutImageFor(dir, platform string) (v1.Image, error) {
	idx, d, err := export.ReadLayoutEntry(dir, "")
	if err != nil {
		return nil, err
	}
	if !d.MediaType.IsIndex() {
		return export.IndexImage(idx, d)
	}
	child, err := idx.ImageIndex(d.Digest)
	if err != nil {
		return nil, fmt.Errorf("reading OCI layout %s: %w", dir, err)
	}
	want, err := v1.ParsePlatform(platform)
	if err != nil {
		return nil, err
	}
	e, err := store.PlatformEntry(child, *want)
	if err != nil {
		return nil, fmt.Errorf("OCI layout %s %w", dir, err)
	}
	return child.Image(e.Digest)
}
