package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/moby/patternmatcher/ignorefile"
	"github.com/spf13/cobra"

	"github.com/strata-build/strata/internal/build"
	"github.com/strata-build/strata/internal/dockerfile"
	"github.com/strata-build/strata/internal/layer"
	"github.com/strata-build/strata/internal/plan"
	"github.com/strata-build/strata/internal/userns"
)

// buildFlags are the flags of `strata build`.
type buildFlags struct {
	file          string
	tags          []string
	target        string
	buildArgs     []string
	contexts      []string
	labels        []string
	platforms     []string
	pull          bool
	noCache       bool
	noCacheFilter []string
	outputs       []string
	push          bool
	iidfile       string
	metadataFile  string
	progress      string
	network       string
	allow         []string
	jobs          int
	timestamp     string
	isolation     string
	check         bool
	compression   string
	level         int
	report        string
	reportHTML    string
	cacheFrom     []string
	cacheTo       []string
	secrets       []string
	ssh           []string
	sbom          string
	provenance    string
	attest        []string
	run           stepFlags
	quiet         bool
	load          bool
	annotations   []string
}

func newBuildCmd(g *globals) *cobra.Command {
	f := &buildFlags{}
	cmd := &cobra.Command{
		Use:   "build [flags] CONTEXT|URL|-",
		Short: "Build an image from a Dockerfile",
		Long: `Build an image from a Dockerfile, as docker buildx build does.

The context is a directory; a git repository URL
(https://host/repo.git#ref:subdir, git@host:repo.git, git://...; the
Dockerfile and -f are read from it); an HTTP(S) URL of a tar archive
(plain, gzip, bzip2, xz or zstd) or of a Dockerfile alone; or - for stdin,
which holds a tar archive of the context or a Dockerfile (no context).`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{errors.New(`"strata build" requires exactly 1 argument: the build context (a directory, a git or HTTP URL, or - for stdin)`)}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBuild(cmd.Context(), g, f, args[0])
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.file, "file", "f", "", "name of the Dockerfile (default CONTEXT/Dockerfile; - reads stdin)")
	fl.StringArrayVarP(&f.tags, "tag", "t", nil, "name and optionally a tag (name:tag), repeatable")
	fl.StringVar(&f.target, "target", "", "stage to build (default: the last)")
	fl.StringArrayVar(&f.buildArgs, "build-arg", nil, "build-time variable K=V, or K to take it from the environment")
	fl.StringArrayVar(&f.contexts, "build-context", nil, "named context NAME=DIR|docker-image://REF|oci-layout://DIR")
	fl.StringArrayVar(&f.labels, "label", nil, "label K=V on the image")
	fl.StringSliceVar(&f.platforms, "platform", nil, "target platforms, e.g. linux/amd64,linux/arm64: several give a multi-platform image (an index); default linux/amd64")
	fl.BoolVar(&f.pull, "pull", false, "always re-resolve base images from their registries")
	fl.BoolVar(&f.noCache, "no-cache", false, "do not use the build cache")
	fl.StringSliceVar(&f.noCacheFilter, "no-cache-filter", nil, "do not use the build cache for these stages")
	fl.StringArrayVarP(&f.outputs, "output", "o", nil, "output type=oci|docker|local|tar|registry|image[,dest=PATH][,compression=gzip|zstd|uncompressed][,compression-level=N][,force-compression=true]")
	fl.BoolVar(&f.push, "push", false, "push the tags to their registries (same as --output type=registry)")
	fl.StringVar(&f.iidfile, "iidfile", "", "write the image digest to this file")
	fl.StringVar(&f.metadataFile, "metadata-file", "", "write build result metadata (JSON) to this file")
	fl.StringVar(&f.progress, "progress", "auto", "progress output: auto, tty, plain, quiet, rawjson")
	fl.StringVar(&f.network, "network", "host", "network of RUN steps: host or none")
	fl.StringSliceVar(&f.allow, "allow", nil, "grant an entitlement: security.insecure (RUN --security=insecure), network.host")
	fl.IntVar(&f.jobs, "jobs", 0, "stages built at once (default: number of CPUs)")
	fl.StringVar(&f.timestamp, "timestamp", "", "build time: now, or seconds since the epoch (default SOURCE_DATE_EPOCH, else 0)")
	fl.StringVar(&f.isolation, "isolation", "auto", isolationUsage)
	fl.StringVar(&f.report, "report", "", "write the size report of the build (JSON) to this file")
	fl.StringVar(&f.reportHTML, "report-html", "", "write a self-contained HTML report of the build to this file")
	fl.StringArrayVar(&f.cacheFrom, "cache-from", nil, "cache to use: type=registry,ref=R | type=local,src=DIR (or just R)")
	fl.StringArrayVar(&f.cacheTo, "cache-to", nil, "export the build cache: type=registry,ref=R[,mode=min|max] | type=local,dest=DIR")
	fl.StringVar(&f.compression, "compression", "gzip", "compression of new layers: gzip, zstd or uncompressed (short for --output ...,compression=)")
	fl.IntVar(&f.level, "compression-level", 0, "compression level of new layers: gzip 1 (fastest) to 9, default 6 as Docker's; zstd 1 to 22, default 3 as BuildKit's")
	fl.BoolVar(&f.check, "check", false, "lint the Dockerfile first (strata lint) and fail on errors")
	fl.StringArrayVar(&f.secrets, "secret", nil, "secret for RUN --mount=type=secret: id=ID,src=FILE or id=ID,env=VAR")
	fl.StringArrayVar(&f.ssh, "ssh", nil, "SSH agent for RUN --mount=type=ssh: default or ID[=SOCKET] (default $SSH_AUTH_SOCK)")
	fl.StringVar(&f.sbom, "sbom", "", "attach an SPDX SBOM of the image, made from its layers (same as --attest type=sbom): true or false")
	fl.Lookup("sbom").NoOptDefVal = "true"
	fl.StringVar(&f.provenance, "provenance", "", "attach SLSA provenance (same as --attest type=provenance): true (mode=min), false, mode=min or mode=max")
	fl.Lookup("provenance").NoOptDefVal = "true"
	fl.StringArrayVar(&f.attest, "attest", nil, "attestation to attach: type=sbom | type=provenance[,mode=min|max], [,disabled=true]")
	f.run.register(fl)
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "print only the image ID on stdout (same as --progress=quiet)")
	fl.StringArrayVar(&f.annotations, "annotation", nil, "annotation on the image: KEY=VALUE (manifest), manifest[PLATFORM]:KEY=VALUE or index:KEY=VALUE, repeatable")
	fl.BoolVar(&f.load, "load", false, "load the image into the running Docker (DOCKER_HOST, /var/run/docker.sock) or podman")
	return cmd
}

// needRoot refuses what cannot work as an ordinary user outside a user
// namespace (where userns.Enter could make none): writing layers needs
// files of any owner.
func needRoot(what string) error {
	if os.Geteuid() == 0 {
		return nil
	}
	return fmt.Errorf("%s needs root, or a user namespace, and none can be made here: run strata as root (in a container: --user 0), or allow user namespaces", what)
}

func runBuild(ctx context.Context, g *globals, f *buildFlags, contextArg string) error {
	if f.quiet {
		f.progress = "quiet"
	}
	if g.outside != nil {
		if err := f.outsideRefusal(contextArg); err != nil {
			return err
		}
	}
	outs, err := f.destinations(g.stdio.Out)
	if err != nil {
		return err
	}
	filesTarHint(f.outputs, g.stdio.Out, g.stdio.Err)
	tmp, err := os.MkdirTemp("", "strata-context-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	src, err := localContext(ctx, g.stdio.In, contextArg, f.file, tmp)
	if err != nil {
		return err
	}
	f.file = src.File
	ld := &loads{}
	opts, err := f.options(g, src, contextArg, ld)
	if err != nil {
		return err
	}
	if g.outside != nil {
		if err := outsideFetchRefusal(opts.File); err != nil {
			return err
		}
		opts.CachedOnly, opts.KeyOwners = true, userns.NamespaceOwners()
	} else if err := needRoot("building"); err != nil {
		return err
	}
	def, _ := f.compressionFlags() // checked by destinations
	lc := buildCompression(outs, def)
	opts.Compression, opts.ForceCompression = lc.Compression, lc.Force
	if f.check {
		if err := runBuildCheckFor(ctx, g, opts.File, opts.ContextDir, opts.Platforms, g.stdio.Err); err != nil {
			return err
		}
	}
	checks, err := buildChecks(opts)
	if err != nil {
		printCheckWarnings(f.progress, g.stdio.Err, build.Discard{}, checks)
		return err
	}
	st, done, err := g.openStoreLeased(ctx)
	if err != nil {
		return err
	}
	defer done()
	var progress *counting // the registry's warnings go to it
	// The sandbox's notice (a mode weaker than the builtin, at the first
	// RUN): in a TTY display's warnings, else a line of its own.
	notice := func(msg string) {
		if t, ok := progress.Progress.(*tracker); ok {
			if _, tty := t.d.(*ttyDisplay); tty {
				progress.Warn(msg)
				return
			}
		}
		fmt.Fprintln(g.stdio.Err, msg)
	}
	b, err := g.builder(ctx, st, f.isolation, opts.Platforms[0], func(msg string) { progress.Warn(msg) }, notice)
	if err != nil {
		return err
	}
	progress, endProgress, err := newProgress(f.progress, g.stdio.Err)
	if err != nil {
		return usageError{err}
	}
	opts.Progress = progress
	ld.show(progress)
	start := time.Now()
	res, err := b.Build(ctx, opts)
	endProgress()
	if err != nil {
		printCheckWarnings(f.progress, g.stdio.Err, progress, checks)
		return err
	}
	for _, a := range res.UnusedBuildArgs {
		if a == checkArg { // read by the build checks
			continue
		}
		progress.Warn(fmt.Sprintf("build-arg %s was not consumed by any ARG", a))
	}
	for i := range outs {
		outs[i].progress = transferMode(f.progress)
	}
	if err := deliver(ctx, g, st, res, f.tags, outs); err != nil {
		return err
	}
	if f.load {
		if err := loadResult(ctx, res, f.tags, g.stdio.Err); err != nil {
			return err
		}
	}
	if err := writeResultFiles(f, res); err != nil {
		return err
	}
	if err := f.writeReports(ctx, res, opts); err != nil {
		return err
	}
	printCheckWarnings(f.progress, g.stdio.Err, progress, checks)
	sumStdio := g.stdio
	if slices.ContainsFunc(outs, func(o output) bool { return o.dest == "-" }) {
		sumStdio.Out = io.Discard // stdout holds the output, not the ID
	}
	if err := summarize(sumStdio, f.progress, res, f.tags, time.Since(start), progress); err != nil {
		return err
	}
	if f.progress == "quiet" || f.progress == "rawjson" {
		return nil
	}
	return printBuildReport(ctx, g.stdio.Err, res)
}

// options turns flags into build options, reading the Dockerfile and
// .dockerignore of the context src (contextArg made local).
func (f *buildFlags) options(g *globals, src contextSource, contextArg string, ld *loads) (build.Options, error) {
	var opts build.Options
	contextDir := src.Dir
	if contextDir == "" { // a Dockerfile on stdin
		if f.file != "" && f.file != "-" {
			return opts, usageError{errors.New("with - as context the Dockerfile is read from stdin; drop -f")}
		}
		f.file = "-"
	}
	if contextDir != "" {
		if fi, err := os.Stat(contextDir); err != nil || !fi.IsDir() {
			return opts, usageError{fmt.Errorf("unable to prepare context: path %q not found or not a directory", contextArg)}
		}
	}
	runOpts, err := f.run.options()
	if err != nil {
		return opts, usageError{err}
	}
	var anns []build.Annotation
	for _, a := range f.annotations {
		an, err := build.ParseAnnotation(a)
		if err != nil {
			return opts, usageError{err}
		}
		anns = append(anns, an)
	}
	df, dfPath, err := ld.dockerfile(src.Stdin, f.file, contextDir)
	if err != nil {
		return opts, err
	}
	file, err := dockerfile.Parse(filepath.Base(dfPath), df)
	if err != nil {
		return opts, err
	}
	ignore, err := ld.dockerignore(dfPath, contextDir)
	if err != nil {
		return opts, err
	}
	args, err := parseBuildArgs(f.buildArgs)
	if err != nil {
		return opts, usageError{err}
	}
	labels, err := parseKV("--label", f.labels)
	if err != nil {
		return opts, usageError{err}
	}
	contexts, err := parseContexts(f.contexts)
	if err != nil {
		return opts, usageError{err}
	}
	ts, err := parseTimestamp(f.timestamp)
	if err != nil {
		return opts, usageError{err}
	}
	secrets, err := parseSecrets(f.secrets)
	if err != nil {
		return opts, usageError{err}
	}
	ssh, err := parseSSH(f.ssh)
	if err != nil {
		return opts, usageError{err}
	}
	cacheFrom, err := parseCacheSpecs("--cache-from", f.cacheFrom)
	if err != nil {
		return opts, usageError{err}
	}
	cacheTo, err := parseCacheSpecs("--cache-to", f.cacheTo)
	if err != nil {
		return opts, usageError{err}
	}
	for _, c := range cacheTo {
		if c.Type != "local" {
			continue
		}
		if err := checkDirDest(c.Dir); err != nil {
			return opts, usageError{fmt.Errorf("invalid --cache-to dest %q: %w", c.Dir, err)}
		}
	}
	if f.network != "host" && f.network != "none" && f.network != "default" {
		return opts, usageError{fmt.Errorf("invalid --network %q: use host or none", f.network)}
	}
	platforms, err := build.Platforms(f.platforms)
	if err != nil {
		return opts, usageError{err}
	}
	withSBOM, prov, err := parseAttestations(f.sbom, f.provenance, f.attest)
	if err != nil {
		return opts, usageError{err}
	}
	dfName := "Dockerfile"
	if f.file != "" && f.file != "-" {
		dfName = filepath.Base(f.file)
	}
	for _, a := range f.allow {
		// network.host is granted already: RUN steps share the host's
		// network unless --network none (docs/security.md).
		if a != build.EntitlementInsecure && a != "network.host" {
			return opts, usageError{fmt.Errorf("invalid --allow %q: use %s or network.host", a, build.EntitlementInsecure)}
		}
	}
	return build.Options{
		File: file, ContextDir: contextDir, Ignore: ignore, Contexts: contexts,
		Target: f.target, BuildArgs: args, Labels: labels, Platforms: platforms,
		Secrets: secrets, SSH: ssh, CacheFrom: cacheFrom, CacheTo: cacheTo,
		Pull: f.pull, NoCache: f.noCache, NoCacheFilter: f.noCacheFilter, Jobs: f.jobs, Timestamp: ts, Network: f.network, Run: runOpts, Annotations: anns,
		Allow: f.allow, SBOM: withSBOM, Provenance: prov, DockerfilePath: dfName, Names: f.tags, ClockTime: f.timestamp == "now",
	}, nil
}

// compressionFlags is the compression --compression and
// --compression-level ask for; the level is checked against the kind of
// each output that takes it.
func (f *buildFlags) compressionFlags() (layer.Compression, error) {
	kind, err := layer.ParseKind(f.compression)
	if err != nil {
		return layer.Compression{}, fmt.Errorf("invalid --compression %q: %w", f.compression, err)
	}
	return layer.Compression{Kind: kind, Level: f.level}, nil
}

// readDockerfile reads -f (relative to the working directory, like docker),
// stdin for "-", or CONTEXT/Dockerfile.
func readDockerfile(stdin io.Reader, file, contextDir string) ([]byte, string, error) {
	if file == "-" {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, "", fmt.Errorf("reading Dockerfile from stdin: %w", err)
		}
		return b, "Dockerfile", nil
	}
	if file == "" {
		file = filepath.Join(contextDir, "Dockerfile")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, "", fmt.Errorf("reading Dockerfile: %w", err)
	}
	return b, file, nil
}

// readIgnore reads <Dockerfile>.dockerignore next to the Dockerfile, or
// CONTEXT/.dockerignore.
func readIgnore(dfPath, contextDir string) ([]string, error) {
	if contextDir == "" {
		return nil, nil
	}
	for _, p := range []string{dfPath + ".dockerignore", filepath.Join(contextDir, ".dockerignore")} {
		fh, err := os.Open(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", p, err)
		}
		defer fh.Close()
		pats, err := ignorefile.ReadAll(fh)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", p, err)
		}
		return pats, nil
	}
	return nil, nil
}

func parseBuildArgs(in []string) (map[string]string, error) {
	out := map[string]string{}
	for _, a := range in {
		k, v, ok := strings.Cut(a, "=")
		if k == "" {
			return nil, fmt.Errorf("invalid --build-arg %q", a)
		}
		if !ok {
			env, set := os.LookupEnv(k)
			if !set {
				continue
			}
			v = env
		}
		out[k] = v
	}
	return out, nil
}

func parseKV(flag string, in []string) (map[string]string, error) {
	out := map[string]string{}
	for _, a := range in {
		k, v, _ := strings.Cut(a, "=")
		if k == "" {
			return nil, fmt.Errorf("invalid %s %q: want K=V", flag, a)
		}
		out[k] = v
	}
	return out, nil
}

func parseContexts(in []string) (map[string]build.Context, error) {
	out := map[string]build.Context{}
	for _, a := range in {
		name, v, ok := strings.Cut(a, "=")
		if !ok || name == "" || v == "" {
			return nil, fmt.Errorf("invalid --build-context %q: want NAME=DIR|docker-image://REF|oci-layout://DIR", a)
		}
		switch {
		case strings.HasPrefix(v, "docker-image://"):
			out[name] = build.Context{Image: strings.TrimPrefix(v, "docker-image://")}
		case strings.HasPrefix(v, "oci-layout://"):
			out[name] = build.Context{Layout: strings.TrimPrefix(v, "oci-layout://")}
		case strings.Contains(v, "://"):
			return nil, fmt.Errorf("invalid --build-context %q: unsupported scheme", a)
		default:
			if fi, err := os.Stat(v); err != nil || !fi.IsDir() {
				return nil, fmt.Errorf("invalid --build-context %q: %s is not a directory", a, v)
			}
			out[name] = build.Context{Dir: v}
		}
	}
	return out, nil
}

// parseTimestamp returns the build time: --timestamp, else SOURCE_DATE_EPOCH,
// else the Unix epoch (reproducible by default).
func parseTimestamp(flag string) (time.Time, error) {
	v := flag
	if v == "" {
		v = os.Getenv("SOURCE_DATE_EPOCH")
	}
	switch v {
	case "":
		return time.Unix(0, 0).UTC(), nil
	case "now":
		return time.Now().UTC().Truncate(time.Second), nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid timestamp %q: want seconds since the epoch or now", v)
	}
	return time.Unix(n, 0).UTC(), nil
}

// output is one --output destination.
type output struct {
	spec      string // as given, for errors
	typ, dest string
	// comp is how its image's layers are compressed.
	comp build.LayerCompression
	// dockerTypes is oci-mediatypes=false: registries and OCI layouts get
	// Docker's media types (a manifest list of schema 2 manifests).
	dockerTypes bool
	// progress is how a push shows its layers (auto, plain, quiet).
	progress string
	// names are name= values: the output's names instead of -t's.
	names []string
}

// tagsOr is what o names the image: its name= values, else tags (-t).
func (o output) tagsOr(tags []string) []string {
	if len(o.names) > 0 {
		return o.names
	}
	return tags
}

// parseSecrets reads --secret id=ID,src=FILE|env=VAR (type=file|env allowed).
func parseSecrets(in []string) (map[string]build.Secret, error) {
	out := map[string]build.Secret{}
	for _, a := range in {
		var id string
		var sec build.Secret
		for _, field := range strings.Split(a, ",") {
			k, v, _ := strings.Cut(field, "=")
			switch k {
			case "id":
				id = v
			case "src", "source":
				sec.File = v
			case "env":
				sec.Env = v
			case "type":
				if v != "file" && v != "env" {
					return nil, fmt.Errorf("invalid --secret %q: type must be file or env", a)
				}
			default:
				return nil, fmt.Errorf("invalid --secret %q: unknown key %q", a, k)
			}
		}
		if id == "" {
			id = sec.Env
		}
		if id == "" || (sec.File == "" && sec.Env == "") {
			return nil, fmt.Errorf("invalid --secret %q: want id=ID,src=FILE or id=ID,env=VAR", a)
		}
		out[id] = sec
	}
	return out, nil
}

// parseSSH reads --ssh default|ID[=SOCKET].
func parseSSH(in []string) (map[string]string, error) {
	out := map[string]string{}
	for _, a := range in {
		id, sock, ok := strings.Cut(a, "=")
		if !ok {
			sock = os.Getenv("SSH_AUTH_SOCK")
		}
		if id == "" || sock == "" {
			return nil, fmt.Errorf("invalid --ssh %q: no agent socket (set SSH_AUTH_SOCK or give ID=SOCKET)", a)
		}
		out[id] = sock
	}
	return out, nil
}

// parseCacheSpecs reads --cache-from/--cache-to values.
func parseCacheSpecs(flag string, in []string) ([]build.CacheSpec, error) {
	var out []build.CacheSpec
	for _, a := range in {
		spec, err := parseCacheSpec(a)
		if err != nil {
			return nil, fmt.Errorf("invalid %s %q: %w", flag, a, err)
		}
		out = append(out, spec)
	}
	return out, nil
}

// parseCacheSpec reads type=registry,ref=R[,mode=M] | type=local,src|dest=DIR,
// or just R.
func parseCacheSpec(a string) (build.CacheSpec, error) {
	spec := build.CacheSpec{Type: "registry", Mode: "max"}
	fields := strings.Split(a, ",")
	if !strings.Contains(a, "=") {
		fields = []string{"ref=" + a}
	}
	for _, field := range fields {
		k, v, _ := strings.Cut(field, "=")
		switch {
		case k == "type":
			spec.Type = v
		case k == "ref":
			spec.Ref = v
		case k == "src" || k == "dest":
			spec.Dir = v
		case k == "mode" && (v == "min" || v == "max"):
			spec.Mode = v
		case k == "mode":
			return spec, errors.New("mode is min or max")
		case k == "oci-mediatypes" || k == "compression" || k == "ignore-error" || k == "image-manifest":
		default:
			return spec, fmt.Errorf("unknown key %q", k)
		}
	}
	switch {
	case spec.Type == "registry" && spec.Ref == "":
		return spec, errors.New("type=registry needs ref=REF")
	case spec.Type == "registry":
		if _, err := name.ParseReference(spec.Ref); err != nil {
			return spec, err
		}
	case spec.Type == "local" && spec.Dir == "":
		return spec, errors.New("type=local needs src=DIR or dest=DIR")
	case spec.Type != "local":
		return spec, errors.New("type is registry or local")
	}
	return spec, nil
}

// writeReports writes --report and --report-html.
func (f *buildFlags) writeReports(ctx context.Context, res *build.Result, opts build.Options) error {
	if f.report != "" {
		if err := writeBuildReport(f.report, res); err != nil {
			return fmt.Errorf("writing --report: %w", err)
		}
	}
	if f.reportHTML != "" {
		popts := plan.Options{Target: opts.Target, BuildArgs: opts.BuildArgs, TargetPlatform: opts.Platforms[0]}
		if err := writeBuildReportHTML(ctx, f.reportHTML, res, opts.File, popts, opts.Names); err != nil {
			return fmt.Errorf("writing --report-html: %w", err)
		}
	}
	return nil
}
