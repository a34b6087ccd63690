// Package registry pulls and pushes images over the registry API with
// go-containerregistry: authentication from the Docker config and credential
// helpers, retries, plain HTTP for localhost like Docker, insecure registries
// and mirrors: Docker's for docker.io, and containers-registries.conf(5)'s
// for any registry (Options.RegistriesConf; see RegistriesConf).
//
// Mirrors and insecure registries come from Options and from a config file
// (Options.ConfigFile; the CLI passes DefaultConfigFile, that is
// $XDG_CONFIG_HOME/strata/registries.json or ~/.config/strata/registries.json).
// It uses the key names of Docker's daemon.json:
//
//	{
//	  "registry-mirrors": ["127.0.0.1:5000", "https://mirror.gcr.io"],
//	  "insecure-registries": ["build-cache.internal:5000"]
//	}
//
// These mirrors serve docker.io only. Pulling docker.io/library/golang:1.26 with
// mirror "127.0.0.1:5000" first tries 127.0.0.1:5000/library/golang:1.26;
// mirrors are tried in order (Options first, then the file) and docker.io
// last. An "http://" mirror is reached over plain HTTP. Registries on
// localhost, 127.0.0.0/8 and ::1 always are, as in Docker. registries.conf
// sources follow these mirrors for docker.io.
//
// Big images: a push uploads Options.Jobs blobs at once (every platform of
// an index in one pool), a pulled image's layers are read by whoever
// stores them (store.WriteImage, 4 at once); blob transfers that fail
// half-way are retried here, downloads resumed with a Range request, and
// each layer's start, bytes, retries (error and wait) and end (done,
// exists, mounted) go to Options.Progress. See retry.go for what
// go-containerregistry retries itself and what it does not.
package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// DefaultPlatform is pulled from an index when Options.Platform is empty.
const DefaultPlatform = "linux/amd64"

// Options configure a Client.
type Options struct {
	// Mirrors are registries ("host:port" or URLs) tried before docker.io.
	Mirrors []string
	// Insecure are registries reached over plain HTTP (localhost and
	// 127.0.0.0/8 always are).
	Insecure []string
	// Platform selected from an index, e.g. "linux/amd64".
	Platform string
	// Transport, when set, replaces http.DefaultTransport (tests).
	Transport http.RoundTripper
	// ConfigFile, when set, is a registries.json (see the package doc)
	// whose mirrors and insecure registries are added to these; it is
	// read on first use and may be missing.
	ConfigFile string
	// RegistriesConf are containers-registries.conf(5) files read in
	// order on first use (see RegistriesConf; RegistriesConfFiles lists
	// podman's); missing ones are skipped.
	RegistriesConf []string
	// Warn, when set, is told of a mirror that failed before the next
	// source is tried.
	Warn func(msg string)
	// RetryBackoff is the wait before the first retry of a request that
	// failed with a 5xx, 408, 429 or a network error (3 retries, ×3 each);
	// 0 means one second. A blob download that breaks half-way resumes
	// after the same waits (see retry.go).
	RetryBackoff time.Duration
	// Jobs is how many blobs a push uploads at once (all platforms of a
	// multi-platform image share them); 0 means DefaultJobs. Pulls are
	// read by their caller (store.WriteImage), which sets its own bound.
	Jobs int
	// Progress, when set, is told how each layer of a push or pull goes.
	Progress Progress
}

// Client talks to registries.
type Client struct {
	opts Options

	loadOnce sync.Once
	loaded   Options // opts merged with ConfigFile
	conf     RegistriesConf
	loadErr  error
}

// New returns a Client.
func New(opts Options) *Client { return &Client{opts: opts} }

// WithProgress returns a client like c whose pushes and pulls report to p.
func (c *Client) WithProgress(p Progress) *Client {
	opts := c.opts
	opts.Progress = p
	return New(opts)
}

// WithJobs returns a client like c that moves up to n blobs at once.
func (c *Client) WithJobs(n int) *Client {
	opts := c.opts
	opts.Jobs = n
	return New(opts)
}

// Config is the content of a registries.json file.
type Config struct {
	Mirrors  []string `json:"registry-mirrors,omitempty"`
	Insecure []string `json:"insecure-registries,omitempty"`
}

// DefaultConfigFile is the per-user registries.json path.
func DefaultConfigFile() string {
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "strata", "registries.json")
}

// LoadConfig reads a registries.json; a missing file is an empty Config.
func LoadConfig(path string) (Config, error) {
	var c Config
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("reading registry config: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("parsing registry config %s: %w", path, err)
	}
	return c, nil
}

// options returns the client's options merged with its config file.
func (c *Client) options() (Options, error) {
	c.loadOnce.Do(func() {
		c.loaded = c.opts
		if c.conf, c.loadErr = LoadRegistriesConf(c.opts.RegistriesConf); c.loadErr != nil || c.opts.ConfigFile == "" {
			return
		}
		cfg, err := LoadConfig(c.opts.ConfigFile)
		if err != nil {
			c.loadErr = err
			return
		}
		c.loaded.Mirrors = append(slices.Clone(c.opts.Mirrors), cfg.Mirrors...)
		c.loaded.Insecure = append(slices.Clone(c.opts.Insecure), cfg.Insecure...)
	})
	return c.loaded, c.loadErr
}

// Pull fetches the image ref names for the client's platform. The returned
// image is lazy: layers are fetched when read.
func (c *Client) Pull(ctx context.Context, ref string) (v1.Image, error) {
	return c.PullPlatform(ctx, ref, "")
}

// PullPlatform fetches the image ref names for platform ("os/arch[/variant]";
// empty: the client's platform). An index without that platform is an
// error naming the platforms it has.
func (c *Client) PullPlatform(ctx context.Context, ref, platform string) (v1.Image, error) {
	img, err := c.pull(ctx, ref, platform)
	if err != nil {
		return nil, fmt.Errorf("pulling %q: %w", ref, err)
	}
	return img, nil
}

func (c *Client) pull(ctx context.Context, ref, platform string) (v1.Image, error) {
	opts, err := c.options()
	if err != nil {
		return nil, err
	}
	plat, err := v1.ParsePlatform(cmpOr(platform, cmpOr(opts.Platform, DefaultPlatform)))
	if err != nil {
		return nil, fmt.Errorf("parsing platform: %w", err)
	}
	sources, err := candidates(ref, opts, c.conf)
	if err != nil {
		return nil, err
	}
	ropts := append(remoteOptions(ctx, opts), remote.WithPlatform(*plat))
	var mirrorErrs []string
	for i, src := range sources {
		img, err := remote.Image(src.ref, ropts...)
		if err == nil {
			d, err := newDownloader(ctx, src.ref.Context(), opts)
			if err != nil {
				return nil, err
			}
			return d.image(img)
		}
		if i == len(sources)-1 || ctx.Err() != nil {
			return nil, lastError(err, src.ref.Context().RegistryStr(), mirrorErrs)
		}
		if src.mirror != "" {
			why := explain(classify(err), src.mirror)
			mirrorErrs = append(mirrorErrs, fmt.Sprintf("%s: %v", src.mirror, why))
			if opts.Warn != nil {
				opts.Warn(fmt.Sprintf("pulling %s from mirror %s: %v; trying %s", ref, src.mirror, why, sources[i+1].ref.Context().RegistryStr()))
			}
		}
	}
	panic("unreachable")
}

// PullIndex fetches the index ref names (lazily: manifests and blobs are
// read when asked for); nil when ref names a single image.
func (c *Client) PullIndex(ctx context.Context, ref string) (v1.ImageIndex, error) {
	idx, err := c.pullIndex(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("pulling %q: %w", ref, err)
	}
	return idx, nil
}

func (c *Client) pullIndex(ctx context.Context, ref string) (v1.ImageIndex, error) {
	opts, err := c.options()
	if err != nil {
		return nil, err
	}
	sources, err := candidates(ref, opts, c.conf)
	if err != nil {
		return nil, err
	}
	ropts := remoteOptions(ctx, opts)
	for i, src := range sources {
		desc, err := remote.Get(src.ref, ropts...)
		if err == nil {
			if !desc.MediaType.IsIndex() {
				return nil, nil
			}
			idx, err := desc.ImageIndex()
			if err != nil {
				return nil, err
			}
			d, err := newDownloader(ctx, src.ref.Context(), opts)
			if err != nil {
				return nil, err
			}
			return &pulledIndex{imageIndex: idx, d: d}, nil
		}
		if i == len(sources)-1 || ctx.Err() != nil {
			return nil, lastError(err, src.ref.Context().RegistryStr(), nil)
		}
	}
	panic("unreachable")
}

// Push uploads img as ref: its blobs Options.Jobs at once, each retried
// and reported to Options.Progress, then its manifest.
func (c *Client) Push(ctx context.Context, ref string, img v1.Image) error {
	if err := c.push(ctx, ref, img); err != nil {
		return fmt.Errorf("pushing %q: %w", ref, err)
	}
	return nil
}

func (c *Client) push(ctx context.Context, ref string, img v1.Image) error {
	r, opts, err := c.pushTarget(ref)
	if err != nil {
		return err
	}
	u, err := newUploader(ctx, r.Context(), opts)
	if err != nil {
		return err
	}
	if err := u.pushImage(ctx, r, img); err != nil {
		return explain(classify(err), r.Context().RegistryStr())
	}
	return nil
}

// PushIndex uploads a multi-platform image (every platform's image, then
// the index) as ref; the blobs of all platforms share one pool of
// Options.Jobs uploads, retried and reported as Push's. A registry that refuses an OCI index (400
// MANIFEST_INVALID, 415) gets it as a Docker manifest list of Docker
// schema 2 manifests instead (DockerIndex), and Options.Warn is told.
func (c *Client) PushIndex(ctx context.Context, ref string, idx v1.ImageIndex) error {
	if err := c.pushIndex(ctx, ref, idx); err != nil {
		return fmt.Errorf("pushing %q: %w", ref, err)
	}
	return nil
}

func (c *Client) pushIndex(ctx context.Context, ref string, idx v1.ImageIndex) error {
	r, opts, err := c.pushTarget(ref)
	if err != nil {
		return err
	}
	u, err := newUploader(ctx, r.Context(), opts)
	if err != nil {
		return err
	}
	err = u.pushIndex(ctx, r, idx)
	if mt, _ := idx.MediaType(); err != nil && mt == types.OCIImageIndex && refusesOCIIndex(err) {
		list, dropped, lerr := DockerIndex(idx)
		if lerr != nil {
			return fmt.Errorf("%w; and as a Docker manifest list: %w", classify(err), lerr)
		}
		if opts.Warn != nil {
			msg := fmt.Sprintf("%s refused an OCI image index (%v): pushing a Docker manifest list instead", r.Context().RegistryStr(), classify(err))
			if dropped > 0 {
				msg += fmt.Sprintf(", without its %d attestation manifests", dropped)
			}
			opts.Warn(msg)
		}
		quiet := *u // its blobs are there: no second report of each
		quiet.opts.Progress = nil
		err = quiet.pushIndex(ctx, r, list)
	}
	if err != nil {
		return explain(classify(err), r.Context().RegistryStr())
	}
	return nil
}

// pushTarget is a push destination and the options to reach it with.
func (c *Client) pushTarget(ref string) (name.Reference, Options, error) {
	opts, err := c.options()
	if err != nil {
		return nil, opts, err
	}
	r, err := c.pushRef(ref, opts)
	return r, opts, err
}

// pushRef parses a push destination, insecure when registries.conf says so.
func (c *Client) pushRef(ref string, opts Options) (name.Reference, error) {
	r, err := parse(ref, opts.Insecure)
	if err != nil {
		return nil, err
	}
	if reg := c.conf.find(refString(r)); reg != nil && reg.Insecure {
		return parse(ref, append(slices.Clone(opts.Insecure), r.Context().RegistryStr()))
	}
	return r, nil
}

func remoteOptions(ctx context.Context, opts Options) []remote.Option {
	tr := opts.Transport
	if tr == nil {
		tr = remote.DefaultTransport
	}
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(authn.DefaultKeychain),
		remote.WithTransport(tr),
		remote.WithUserAgent("strata"),
		remote.WithRetryBackoff(remote.Backoff{Duration: cmpOr(opts.RetryBackoff, time.Second), Factor: 3, Jitter: 0.1, Steps: 4}),
		remote.WithRetryStatusCodes(http.StatusRequestTimeout, http.StatusTooManyRequests,
			http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout),
	}
}

// candidates lists where to look for ref: for docker.io the Docker-style
// mirrors (Options and registries.json) first; then registries.conf's
// mirrors and location for the registry matching ref, or ref itself.
func candidates(ref string, opts Options, conf RegistriesConf) ([]source, error) {
	r, err := parse(ref, opts.Insecure)
	if err != nil {
		return nil, err
	}
	var out []source
	if r.Context().RegistryStr() == name.DefaultRegistry {
		for _, m := range opts.Mirrors {
			mr, err := mirrorRef(r, m, opts.Insecure)
			if err != nil {
				return nil, err
			}
			out = append(out, source{ref: mr, mirror: m})
		}
	}
	rest, err := conf.pullSources(r, opts.Insecure)
	if err != nil {
		return nil, err
	}
	return append(out, rest...), nil
}

// mirrorRef is r (on docker.io) on mirror m.
func mirrorRef(r name.Reference, mirror string, insecure []string) (name.Reference, error) {
	host, plain := hostOf(mirror)
	sep := ":"
	if _, ok := r.(name.Digest); ok {
		sep = "@"
	}
	s := host + "/" + r.Context().RepositoryStr() + sep + r.Identifier()
	if plain {
		insecure = append(slices.Clone(insecure), host)
	}
	mr, err := parse(s, insecure)
	if err != nil {
		return nil, fmt.Errorf("using mirror %q: %w", mirror, err)
	}
	return mr, nil
}

// parse parses ref, marking it insecure (plain HTTP) when its registry is
// listed or is a loopback address.
func parse(ref string, insecure []string) (name.Reference, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("parsing reference: %w", err)
	}
	reg := r.Context().RegistryStr()
	if !isLoopback(reg) && !slices.ContainsFunc(insecure, func(s string) bool { h, _ := hostOf(s); return h == reg }) {
		return r, nil
	}
	return name.ParseReference(ref, name.Insecure)
}

// hostOf strips a URL scheme (and trailing slash) from a registry
// address, and reports whether the scheme was http.
func hostOf(s string) (string, bool) {
	s = strings.TrimSuffix(s, "/")
	if h, ok := strings.CutPrefix(s, "http://"); ok {
		return h, true
	}
	return strings.TrimPrefix(s, "https://"), false
}

func isLoopback(reg string) bool {
	host := reg
	if h, _, err := net.SplitHostPort(reg); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Errors callers may branch on; Pull and Push wrap them with the cause.
var (
	ErrUnauthorized = errors.New("unauthorized")
	ErrNotFound     = errors.New("not found")
	ErrTimeout      = errors.New("timed out")
)

// Error is a registry failure in a few words, keeping its cause.
type Error struct {
	Kind  error // ErrUnauthorized, ErrNotFound, ErrTimeout, or nil
	Msg   string
	Cause error
}

func (e *Error) Error() string   { return e.Msg }
func (e *Error) Unwrap() []error { return []error{e.Kind, e.Cause} }

// classify turns go-containerregistry errors into short ones:
// "unauthorized", "not found", "registry returned 503", "timed out".
func classify(err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		switch {
		case te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden:
			return &Error{Kind: ErrUnauthorized, Msg: "unauthorized", Cause: err}
		case te.StatusCode == http.StatusNotFound:
			return &Error{Kind: ErrNotFound, Msg: "not found", Cause: err}
		case te.StatusCode >= 500 || te.StatusCode == http.StatusTooManyRequests:
			return &Error{Msg: fmt.Sprintf("registry returned %d", te.StatusCode), Cause: err}
		}
		for _, d := range te.Errors {
			switch d.Code {
			case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
				return &Error{Kind: ErrUnauthorized, Msg: "unauthorized", Cause: err}
			case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode:
				return &Error{Kind: ErrNotFound, Msg: "not found", Cause: err}
			}
		}
		return err
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return &Error{Kind: ErrTimeout, Msg: "timed out: " + err.Error(), Cause: err}
	}
	return err
}
