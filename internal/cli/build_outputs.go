package cli

// Where a build goes: the outputs and tags it is checked against before
// anything runs, and what is written once it is done.

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/internal/build"
	"github.com/strata-build/strata/internal/export"
	"github.com/strata-build/strata/internal/layer"
	"github.com/strata-build/strata/internal/registry"
	"github.com/strata-build/strata/internal/store"
)

// parseOutputs reads --output values (and --push); def is the compression
// of --compression and --compression-level, which outputs that name none
// get.
func parseOutputs(in []string, push bool, def layer.Compression) ([]output, error) {
	var outs []output
	dockerTypes := false
	for _, o := range in {
		out := output{spec: o}
		var comp outputCompression
		fields, err := csv.NewReader(strings.NewReader(o)).Read() // buildx: "name=a,b" quoted
		if err != nil {
			return nil, fmt.Errorf("invalid --output %q: %w", o, err)
		}
		for _, field := range fields {
			k, v, ok := strings.Cut(field, "=")
			if !ok && len(in) == 1 && !strings.Contains(o, "=") {
				k, v = "dest", o // buildx's -o DIR shorthand means type=local,
				out.typ = "local"
				if o == "-" { // and -o - a filesystem tar on stdout
					out.typ = "tar"
				}
			}
			var err error
			switch k {
			case "type":
				out.typ = v
			case "dest":
				out.dest = v
			case "push":
				if v == "true" {
					push = true
				}
			case "oci-mediatypes":
				b, perr := strconv.ParseBool(v)
				if perr != nil {
					return nil, fmt.Errorf("invalid --output %q: oci-mediatypes must be true or false", o)
				}
				out.dockerTypes = !b
				dockerTypes = dockerTypes || !b
			case "compression", "compression-level", "force-compression":
				err = comp.set(k, v)
			case "name":
				for _, n := range strings.Split(v, ",") {
					if _, perr := name.NewTag(n); perr != nil {
						return nil, fmt.Errorf("invalid --output %q: invalid name %q: %w", o, n, perr)
					}
					out.names = append(out.names, n)
				}
			default:
				return nil, fmt.Errorf("invalid --output %q: unknown key %q", o, k)
			}
			if err != nil {
				return nil, fmt.Errorf("invalid --output %q: %w", o, err)
			}
		}
		switch out.typ {
		case "oci", "docker", "tar":
			if out.dest == "" {
				out.dest = "-" // stdout, as buildx when it is not a terminal
			}
		case "local":
			if out.dest == "" || out.dest == "-" {
				return nil, fmt.Errorf("invalid --output %q: type=local needs dest=DIR", o)
			}
		case "registry", "image":
		default:
			return nil, fmt.Errorf("invalid --output %q: type must be oci, docker, local, tar, registry or image", o)
		}
		if comp.key != "" && (out.typ == "local" || out.typ == "tar") {
			return nil, fmt.Errorf("invalid --output %q: %s applies to image, registry, oci and docker outputs, not type=%s", o, comp.key, out.typ)
		}
		lc, err := comp.resolve(def)
		if err != nil {
			return nil, fmt.Errorf("invalid --output %q: %w", o, err)
		}
		out.comp = lc
		outs = append(outs, out)
	}
	if push {
		var none outputCompression
		lc, err := none.resolve(def)
		if err != nil {
			return nil, err
		}
		outs = append(outs, output{typ: "registry", dockerTypes: dockerTypes, comp: lc})
	}
	return outs, nil
}

// outputCompression is what an --output says of compression.
type outputCompression struct {
	key   string // the first compression key given, for errors
	kind  layer.Kind
	level *int
	force bool
}

// set reads one of compression=, compression-level=, force-compression=
// as BuildKit's util/compression.ParseAttributes reads them.
func (c *outputCompression) set(k, v string) error {
	if c.key == "" {
		c.key = k
	}
	switch k {
	case "compression":
		kind, err := layer.ParseKind(v)
		if err != nil {
			return err
		}
		c.kind = kind
	case "compression-level":
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("non-integer value %q specified for compression-level", v)
		}
		c.level = &n
	case "force-compression":
		if v == "" {
			c.force = true
			return nil
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("non-bool value %q specified for force-compression", v)
		}
		c.force = b
	}
	return nil
}

// resolve is the output's compression: its own kind and level, else
// those of --compression and --compression-level (a level given for
// another kind than the output's is refused).
func (c *outputCompression) resolve(def layer.Compression) (build.LayerCompression, error) {
	comp := def
	if c.kind != "" {
		comp.Kind = c.kind
	}
	if c.level != nil {
		comp.Level = *c.level
	}
	if err := comp.Validate(); err != nil {
		if c.level == nil && def.Level != 0 {
			return build.LayerCompression{}, fmt.Errorf("invalid --compression-level %d: %w", def.Level, err)
		}
		return build.LayerCompression{}, err
	}
	return build.LayerCompression{Compression: comp.Normalized(), Force: c.force}, nil
}

// buildCompression is what the build's steps compress their layers as:
// the first image or registry output's compression, else the first
// output's, else --compression's. Outputs asking for another get their
// layers converted (build.Recompressed).
func buildCompression(outs []output, def layer.Compression) build.LayerCompression {
	for _, o := range outs {
		if o.typ == "image" || o.typ == "registry" {
			return o.comp
		}
	}
	for _, o := range outs {
		if o.typ != "local" && o.typ != "tar" {
			return o.comp
		}
	}
	var none outputCompression
	lc, _ := none.resolve(def) // checked by destinations
	return lc
}

// filesTarHint says, when `-o -` goes into a pipe, that it is the image's
// files (as buildx's -o -), not an archive docker load reads: the pipe
// `strata build -o - . | docker load` fails in docker with a message that
// names neither.
func filesTarHint(outputs []string, stdout, stderr io.Writer) {
	if !slices.Equal(outputs, []string{"-"}) {
		return
	}
	if f, ok := stdout.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeNamedPipe != 0 {
			fmt.Fprintln(stderr, "strata: -o - writes the image's files as a tar, as buildx does; to pipe the image into docker load use -o type=docker (or --load)")
		}
	}
}

// destinations parses and checks every place the build writes to (tags,
// outputs, result and report files) before anything runs: a bad one is a
// usage error then, not a failure after the build with some tags made.
func (f *buildFlags) destinations(stdout io.Writer) ([]output, error) {
	for _, t := range f.tags {
		if _, err := name.NewTag(t); err != nil {
			return nil, usageError{fmt.Errorf("invalid tag %q: %w", t, err)}
		}
	}
	def, err := f.compressionFlags()
	if err != nil {
		return nil, usageError{err}
	}
	outs, err := parseOutputs(f.outputs, f.push, def)
	if err != nil {
		return nil, usageError{err}
	}
	if len(outs) == 0 {
		var none outputCompression
		if _, err := none.resolve(def); err != nil {
			return nil, usageError{err}
		}
	}
	toStdout := 0
	if f.quiet {
		toStdout++ // the image ID
	}
	for _, o := range outs {
		if err := checkOutput(o, f.tags); err != nil {
			return nil, usageError{err}
		}
		if o.dest == "-" {
			toStdout++
			if isTerminal(stdout) {
				return nil, usageError{fmt.Errorf("invalid --output %q: refusing to write a %s archive to the terminal: redirect stdout or give dest=FILE", o.spec, o.typ)}
			}
		}
	}
	if toStdout > 1 {
		return nil, usageError{errors.New("more than one thing would go to stdout (outputs with dest=- or no dest, -q): give the others dest=FILE")}
	}
	if err := checkPlatformOutputs(outs, f.platforms); err != nil {
		return nil, usageError{err}
	}
	files := []struct{ flag, path string }{
		{"--iidfile", f.iidfile}, {"--metadata-file", f.metadataFile},
		{"--report", f.report}, {"--report-html", f.reportHTML},
	}
	for _, fl := range files {
		if fl.path == "" {
			continue
		}
		if err := checkFileDest(fl.path); err != nil {
			return nil, usageError{fmt.Errorf("invalid %s %q: %w", fl.flag, fl.path, err)}
		}
	}
	return outs, nil
}

// checkOutput checks that o can be written with tags.
func checkOutput(o output, tags []string) error {
	var err error
	switch {
	case o.typ == "registry" && len(o.tagsOr(tags)) == 0:
		return errors.New("pushing needs at least one -t NAME (or name= in --output)")
	case o.dest == "-":
		return nil
	case o.typ == "docker" || o.typ == "tar" || o.typ == "oci" && strings.HasSuffix(o.dest, ".tar"):
		err = checkFileDest(o.dest)
	case o.typ == "oci" || o.typ == "local":
		err = checkDirDest(o.dest)
	}
	if err != nil {
		return fmt.Errorf("invalid --output type=%s,dest=%s: %w", o.typ, o.dest, err)
	}
	return nil
}

// checkFileDest checks that a file can be made at p: its dir exists and p
// is not a dir.
func checkFileDest(p string) error {
	dir := filepath.Dir(p)
	if fi, err := os.Stat(dir); err != nil {
		return err
	} else if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if fi, err := os.Stat(p); err == nil && fi.IsDir() {
		return fmt.Errorf("%s is a directory", p)
	}
	return nil
}

// checkDirDest checks that p is a dir or can be made one: its nearest
// existing ancestor is a dir.
func checkDirDest(p string) error {
	for d := filepath.Clean(p); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		gone := errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
		if gone && d != filepath.Dir(d) {
			continue
		}
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", d)
		}
		return nil
	}
}

// errDockerManifestList is BuildKit's refusal of a multi-platform image
// for type=docker (a docker archive holds one image per name).
var errDockerManifestList = errors.New("docker exporter does not currently support exporting manifest lists")

// checkPlatformOutputs refuses, before the build, outputs that cannot hold
// the images of several platforms.
func checkPlatformOutputs(outs []output, platforms []string) error {
	if plats, err := build.Platforms(platforms); err != nil || len(plats) < 2 {
		return nil // a bad --platform is reported with the other options
	}
	for _, o := range outs {
		if o.typ == "docker" {
			return fmt.Errorf("invalid --output type=docker,dest=%s: %w", o.dest, errDockerManifestList)
		}
	}
	return nil
}

// deliver tags the result in the store (unless only file outputs were
// asked for) and writes every output.
func deliver(ctx context.Context, g *globals, st *store.Store, res *build.Result, tags []string, outs []output) error {
	if len(outs) == 0 {
		return tagAll(ctx, st, tags, res)
	}
	done := map[string]bool{} // a name is tagged by the first output naming it
	for _, o := range outs {
		if o.typ != "image" && o.typ != "registry" {
			continue
		}
		names := slices.DeleteFunc(slices.Clone(o.tagsOr(tags)), func(n string) bool { return done[n] })
		if len(names) == 0 {
			continue
		}
		r, err := storedResult(ctx, st, res, o.comp)
		if err != nil {
			return err
		}
		if err := tagAll(ctx, st, names, r); err != nil {
			return err
		}
		for _, n := range names {
			done[n] = true
		}
	}
	for _, o := range outs {
		r, err := build.Recompressed(ctx, st, res, o.comp)
		if err != nil {
			return fmt.Errorf("exporting to %s %s: %w", o.typ, o.dest, err)
		}
		if r.Index != nil {
			err = writeIndexOutput(ctx, g, r, o.tagsOr(tags), o)
		} else {
			err = writeOutput(ctx, g, r.Image, o.tagsOr(tags), o)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// tagAll points every tag at res in the store.
func tagAll(ctx context.Context, st *store.Store, tags []string, res *build.Result) error {
	for _, t := range tags {
		if err := st.Tag(ctx, t, res.Ref()); err != nil {
			return fmt.Errorf("tagging %s: %w", t, err)
		}
	}
	return nil
}

// storedResult is res with its layers compressed as lc asks, stored (an
// output of another compression than the build's makes other images).
func storedResult(ctx context.Context, st *store.Store, res *build.Result, lc build.LayerCompression) (*build.Result, error) {
	r, err := build.Recompressed(ctx, st, res, lc)
	if err != nil || r == res {
		return r, err
	}
	if r.Index != nil {
		_, err = st.WriteIndex(ctx, r.Index)
	} else {
		_, err = st.WriteImage(ctx, r.Image)
	}
	if err != nil {
		return nil, fmt.Errorf("storing the image compressed as %s: %w", lc.Compression, err)
	}
	return r, nil
}

func writeOutput(ctx context.Context, g *globals, img v1.Image, tags []string, o output) error {
	var err error
	if o.dockerTypes && (o.typ == "oci" || o.typ == "registry") {
		if img, err = registry.DockerImage(img); err != nil {
			return fmt.Errorf("exporting with Docker media types: %w", err)
		}
	}
	switch {
	case o.dest == "-":
		err = writeStdout(ctx, g.stdio.Out, o.typ, export.LayoutItem{Image: img, Tags: tags})
	case o.typ == "oci":
		if strings.HasSuffix(o.dest, ".tar") {
			err = export.OCIArchive(ctx, img, o.dest, tags)
		} else {
			err = export.OCILayout(ctx, img, o.dest, tags)
		}
	case o.typ == "docker":
		err = export.DockerArchive(ctx, img, o.dest, tags)
	case o.typ == "local":
		err = export.Local(ctx, img, o.dest)
	case o.typ == "tar":
		err = export.Tar(ctx, img, o.dest)
	case o.typ == "registry":
		err = pushAll(ctx, g, "linux/amd64", tags, o, img, func(c *registry.Client, t string) error { return c.Push(ctx, t, img) })
	}
	if err != nil {
		return fmt.Errorf("exporting to %s %s: %w", o.typ, o.dest, err)
	}
	return nil
}

// writeIndexOutput writes a multi-platform result as BuildKit's exporters
// do: the index to OCI layouts and registries, a directory per platform
// ("linux_arm64") to local and tar outputs; docker archives refuse it.
func writeIndexOutput(ctx context.Context, g *globals, res *build.Result, tags []string, o output) error {
	idx := res.Index
	if o.dockerTypes && (o.typ == "oci" || o.typ == "registry") {
		var err error
		if idx, err = dockerIndex(res, tags); err != nil {
			return fmt.Errorf("exporting with Docker media types: %w", err)
		}
	}
	var err error
	switch o.typ {
	case "oci":
		if o.dest == "-" {
			err = writeStdout(ctx, g.stdio.Out, o.typ, export.LayoutItem{Index: idx, Tags: tags})
		} else if strings.HasSuffix(o.dest, ".tar") {
			err = export.OCIArchiveIndex(ctx, idx, o.dest, tags)
		} else {
			err = export.OCILayoutIndex(ctx, idx, o.dest, tags)
		}
	case "docker":
		if len(res.Platforms) > 1 {
			err = errDockerManifestList
			break
		}
		warnDropped(g.stdio.Err, "a docker archive (type=docker)")
		if o.dest == "-" {
			err = writeStdout(ctx, g.stdio.Out, o.typ, export.LayoutItem{Image: res.Image, Tags: tags})
		} else {
			err = export.DockerArchive(ctx, res.Image, o.dest, tags)
		}
	case "local":
		err = writeLocalIndex(ctx, res, o.dest)
	case "tar":
		switch {
		case len(res.Platforms) == 1:
			warnDropped(g.stdio.Err, "a filesystem tar (type=tar)")
			if o.dest == "-" {
				err = export.WriteTar(ctx, res.Image, g.stdio.Out)
			} else {
				err = export.Tar(ctx, res.Image, o.dest)
			}
		case o.dest == "-":
			err = export.WriteTarPlatforms(ctx, platformImages(res), g.stdio.Out)
		default:
			err = export.TarPlatforms(ctx, platformImages(res), o.dest)
		}
	case "registry":
		err = pushAll(ctx, g, "", tags, o, idx, func(c *registry.Client, t string) error { return c.PushIndex(ctx, t, idx) })
	}
	if err != nil {
		return fmt.Errorf("exporting to %s %s: %w", o.typ, o.dest, err)
	}
	return nil
}

// platformImages lists each platform's image of res.
func platformImages(res *build.Result) []export.PlatformImage {
	out := make([]export.PlatformImage, 0, len(res.Platforms))
	for _, pr := range res.Platforms {
		out = append(out, export.PlatformImage{Platform: pr.Platform, Image: pr.Image})
	}
	return out
}

// writeResultFiles writes --iidfile and --metadata-file as buildx does:
// the image digest, or for a multi-platform build the index digest (and
// then no config digest, there being one per platform).
func writeResultFiles(f *buildFlags, res *build.Result) error {
	if f.iidfile != "" {
		id, err := imageID(res)
		if err != nil {
			return err
		}
		if err := os.WriteFile(f.iidfile, []byte(id.String()), 0o644); err != nil {
			return fmt.Errorf("writing --iidfile: %w", err)
		}
	}
	if f.metadataFile == "" {
		return nil
	}
	md, err := resultMetadata(res)
	if err != nil {
		return err
	}
	if len(f.tags) > 0 {
		md["image.name"] = strings.Join(f.tags, ",")
	}
	b, err := json.MarshalIndent(md, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(f.metadataFile, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing --metadata-file: %w", err)
	}
	return nil
}

// resultMetadata is the --metadata-file content of res, without the name.
func resultMetadata(res *build.Result) (map[string]any, error) {
	if res.Index == nil {
		cfg, err := res.Image.ConfigName()
		if err != nil {
			return nil, err
		}
		return map[string]any{
			"containerimage.digest":        res.Digest.String(),
			"containerimage.config.digest": cfg.String(),
		}, nil
	}
	mt, err := res.Index.MediaType()
	if err != nil {
		return nil, err
	}
	size, err := res.Index.Size()
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"containerimage.digest": res.IndexDigest.String(),
		"containerimage.descriptor": v1.Descriptor{
			MediaType: mt, Digest: res.IndexDigest, Size: size,
		},
	}, nil
}

// pushAll pushes what to every tag with push, each layer shown as o's
// progress says, and says what was pushed: "pushed REF@DIGEST".
func pushAll(ctx context.Context, g *globals, platform string, tags []string, o output, what interface{ Digest() (v1.Hash, error) }, push func(*registry.Client, string) error) error {
	d, err := what.Digest()
	if err != nil {
		return err
	}
	for _, t := range tags {
		c, end, err := g.transferClient(platform, o.progress, 0, pushWords)
		if err != nil {
			return err
		}
		err = push(c, t)
		end()
		if err != nil {
			return fmt.Errorf("pushing %s: %w", t, err)
		}
		if o.progress != "quiet" {
			fmt.Fprintf(g.stdio.Err, "pushed %s@%s\n", t, d)
		}
	}
	return nil
}

// transferMode is how a build's push shows its layers, from --progress:
// after the build's own display has ended, auto and tty draw in place.
func transferMode(progress string) string {
	switch progress {
	case "quiet", "rawjson":
		return "quiet"
	case "plain":
		return "plain"
	}
	return "auto"
}

// writeStdout writes an oci, docker or tar output to w (dest=- or none):
// `strata build -o type=docker . | docker load`.
func writeStdout(ctx context.Context, w io.Writer, typ string, it export.LayoutItem) error {
	switch typ {
	case "docker":
		return export.WriteDockerArchive(ctx, w, it.Image, it.Tags)
	case "tar":
		return export.WriteTar(ctx, it.Image, w)
	}
	return export.WriteOCIArchiveMulti(ctx, w, []export.LayoutItem{it})
}

// imageID is the ID docker and buildx give a build's result: the config
// digest of a single image (what docker load and docker images show),
// the index digest of a multi-platform one. --metadata-file has both.
func imageID(res *build.Result) (v1.Hash, error) {
	if res.Index != nil && len(res.Platforms) > 1 {
		return res.IndexDigest, nil
	}
	return res.Image.ConfigName()
}
